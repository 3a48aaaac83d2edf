//! Probes: bounded access to PostgreSQL, pgpool and plain TCP ports, shared
//! by poolstatus and the watchers — the first stage of the pipeline (probe →
//! decide → act). Every call here returns within its timeout, even when the
//! server is frozen (a SIGSTOP'ed pgpool still completes the TCP handshake in
//! the kernel's backlog but never answers the startup packet, which
//! `postgres::Config::connect_timeout` does not cover — it bounds only the TCP
//! connect), and a failed probe is a typed error value, never a panic.
//!
//! - [`pg`]: PostgreSQL/pgpool sessions on a worker thread with a deadline.
//! - [`tls`]: libpq's `sslmode` and its certificate files.
//! - [`guard`]: the socket under every session, watched: no cleartext
//!   password to another host, and a byte budget.
//! - [`tcp`]: plain TCP connects (repmgrwatch's look at the pgpools' gates).
//! - [`pgpool`]: pgpwatch's health probe (`SHOW pool_nodes`).
//! - [`repmgr`]: repmgrwatch's masters probe (repmgr's metadata).
//! - [`error`]: [`ProbeError`], what every probe returns on failure.

pub mod error;
pub mod guard;
pub mod pg;
pub mod pgpool;
pub mod repmgr;
pub mod tcp;
pub mod tls;

pub use error::{host_port, human_duration, pg_detail, ProbeError};
pub use pg::{
    connect, query_within, simple_rows, with_session, Endpoint, Session, TextRow,
    MAX_PENDING_PER_SERVER, MAX_ROWS,
};
pub use tcp::{tcp_connect, tcp_port_answers};
pub use tls::{SslMode, TlsSettings};
