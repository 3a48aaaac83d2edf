//! pgpoolwatch is blocking on purpose: every check runs on a plain thread with
//! a deadline, so the code stays simple and the dependencies few.
//!
//! It replaces the Python 2.7 pgpoolwatch scripts (`pgpwatch.py`,
//! `repmgrwatch.py`, `poolstatus.py`, `sendmail.py`) and reads their
//! `config.ini` and `args.txt` unchanged. The four programs in `src/bin` are
//! thin: they parse, call into this library, print an error once and exit.
#![deny(unsafe_code)]

// The layers, bottom up; a module uses only its own layer and those below
// it (`layers_test` reads every `crate::` path in the sources and fails
// otherwise):
//
// 1. sys: `plumbing` — deadlines, JSON, local time, logging, signals,
//    sd_notify, host and duration names (`net`), and `os`, the one module
//    allowed `unsafe`.
// 2. settings: `secret` (the type every password is held in, so none ever
//    renders), `account`, `ini`, `args` (argv and @files), `config`
//    (config.ini, one table of keys, TLS settings), `conninfo`, `pgpass`.
// 3. cluster: `cluster`, the only code that talks to pgpool, repmgr and
//    PostgreSQL (sessions with deadlines, the pgpool and repmgr reads, the
//    pure readers of their answers).
// 4. report: `poolstatus` (the cluster report: gather, judge, render).
// 5. serve and mail: `gate` (the port a GSLB checks), `api` (the API and
//    agent-check ports, from a snapshot), `mail` (SMTP) and `mailqueue`.
// 6. watch: `watch` — the decisions (`watch::pgp`, `watch::repmgr`, pure,
//    one rule table each) and the driver that reads the cluster, decides
//    and acts on the gate, the API board and the mail queue; so it sits
//    above serve and mail, which it drives.
// 7. cli: `cli`, the command lines of the four programs and `--check-config`;
//    `every_output` (for tests and fuzzing: one input through every output).

/// The crate version `--version` prints and the API shows.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod account;
pub mod api;
pub mod args;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod conninfo;
#[doc(hidden)]
pub mod every_output;
pub mod gate;
pub mod ini;
pub mod mail;
mod mailqueue;
pub mod pgpass;
pub mod plumbing;
pub mod poolstatus;
pub mod secret;
pub mod watch;

#[cfg(test)]
mod layers_test;

pub use plumbing::os;
