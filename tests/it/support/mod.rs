//! Shared test helpers.
pub mod cluster;
pub mod container;
pub mod dns;
pub mod gslb;
pub mod http;
pub mod mailbox;
pub mod original_report;
pub mod pdns;
pub mod scenes;
pub mod watchers;
