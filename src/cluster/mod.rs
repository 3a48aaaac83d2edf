//! The cluster: the only code that talks to pgpool, repmgr and PostgreSQL,
//! shared by poolstatus and the watchers. Every call here returns within its
//! timeout, even when the server is frozen (a SIGSTOP'ed pgpool still
//! completes the TCP handshake in the kernel's backlog but never answers the
//! startup packet, which `postgres::Config::connect_timeout` does not cover —
//! it bounds only the TCP connect), and a failed read is a typed error
//! value, never a panic.
//!
//! - [`endpoint`]: where and as whom to connect (settings, `.pgpass`, TLS).
//! - [`session`]: PostgreSQL/pgpool sessions on a worker thread with a deadline.
//! - [`tls`]: libpq's `sslmode` and its certificate files.
//! - [`guard`]: the socket under every session, watched: no cleartext
//!   password to another host, and a byte budget.
//! - [`held`]: a session held open between checks, to notice when it breaks
//!   (the watchers' fast path).
//! - [`tcp`]: plain TCP connects (repmgrwatch's look at the pgpools' gates).
//! - [`pgpool`]: pgpool's backends (`SHOW pool_health_check_stats`, then
//!   `SHOW pool_nodes`), and the health judged from them.
//! - [`repmgr`]: repmgr's metadata (schema detection, nodes, events) and
//!   each node's status, for repmgrwatch and poolstatus alike.
//! - [`text`]: pure readers of what the cluster answers (rows, `df -P`),
//!   fed by recorded outputs in the fixture tests and the fuzz targets.
//! - [`error`]: [`ProbeError`], what every read returns on failure.

pub mod endpoint;
pub mod error;
pub mod guard;
pub mod held;
pub mod pgpool;
pub mod repmgr;
pub mod session;
pub mod tcp;
pub mod text;
pub mod tls;

pub use error::{pg_detail, ProbeError};
pub use session::{
    connect, simple_rows, with_session, with_session_then, Endpoint, Session, TextRow,
    MAX_PENDING_PER_SERVER, MAX_ROWS,
};
pub use tcp::tcp_connect;
