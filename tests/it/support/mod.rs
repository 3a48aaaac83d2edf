//! Shared test helpers.
pub mod cluster;
pub mod gslb;
pub mod mailbox;
pub mod watchers;
