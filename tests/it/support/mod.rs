//! Shared test helpers.
pub mod cluster;
pub mod container;
pub mod dns;
pub mod gslb;
pub mod mailbox;
pub mod pdns;
pub mod watchers;
