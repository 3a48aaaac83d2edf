//! Plumbing: what the pipeline needs from the system but is not about the
//! cluster — deadlines for calls that have none, JSON text, local time,
//! logging, signals, systemd's notify socket, and the one module of raw
//! libc calls (`os`).

#[cfg(test)]
pub(crate) mod child_test;
pub mod deadline;
pub mod json;
pub mod localtime;
pub mod logging;
pub mod net;
pub mod os;
pub mod sdnotify;
pub mod signals;
pub mod typo;
