//! Shared test helpers.
pub mod gslb;
pub mod mailbox;
pub mod cluster;
pub mod watchers;
