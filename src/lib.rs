//! pgpoolwatch is blocking on purpose: every check runs on a plain thread with
//! a deadline, so the code stays simple and the dependencies few.
//!
//! It replaces the Python 2.7 pgpoolwatch scripts (`pgpwatch.py`,
//! `repmgrwatch.py`, `poolstatus.py`, `sendmail.py`) and reads their
//! `config.ini` and `args.txt` unchanged. The four programs in `src/bin` are
//! thin: they parse, call into this library, print an error once and exit.
#![deny(unsafe_code)]

// The pipeline: probe → decide → act.
//
// - probe: `cluster` (PostgreSQL/pgpool sessions, TLS, TCP; the pgpool and
//   repmgr probes with typed errors) and `poolstatus` (the cluster report).
// - decide: `watch::pgp` and `watch::repmgr`, pure, one rule table each;
//   `watch::watcher` holds each watcher's settings, rules and probes.
// - act: `watch::act` (gate, state JSON, log, systemd), `gate` (the port a
//   GSLB checks), `api` (the API and agent-check ports, from a snapshot), `watch::mailside`, `mailqueue` and `mail` (SMTP).
// - the edges: `config` (config.ini, one table of keys), `cli` and `args`
//   (command lines), `pgpass`, `account`, `conninfo`, `ini`; `secret`, the
//   type every password is held in, so none ever renders.
// - `plumbing`: deadlines, JSON, local time, logging, signals, sd_notify,
//   and `os`, the one module allowed `unsafe`.

pub mod account;
pub mod api;
pub mod args;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod conninfo;
pub mod gate;
pub mod ini;
pub mod mail;
mod mailqueue;
pub mod pgpass;
pub mod plumbing;
pub mod poolstatus;
pub mod secret;
pub mod watch;

pub use plumbing::os;
