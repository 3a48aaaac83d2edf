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
//    renders), `account`, `ini`, `config` (config.ini, one table of keys,
//    TLS settings), `conninfo`, `pgpass`, and `flags` (how a command line
//    is read: @files, the flags table type and --help layout, the front
//    that makes a line canonical for pico-args).
// 3. cluster: `cluster`, the only code that talks to pgpool, repmgr and
//    PostgreSQL (sessions with deadlines, the pgpool and repmgr reads, the
//    pure readers of their answers).
// 4. report: `poolstatus` (the cluster report: gather, judge, render).
// 5. serve and mail: `serve` (one listener type for the port a GSLB
//    checks, the API and the agent-check ports, one HTTP parser and
//    writer, one board all of them answer from), `mail` (SMTP, and
//    sendmail's flags table, by which it reads args.txt at every watcher
//    mail) and `mailqueue`.
// 6. watch: `watch` — the decisions (`watch::pgp`, `watch::repmgr`, pure,
//    one rule table each) and the driver that reads the cluster, decides
//    and acts on the gate, the board and the mail queue; so it sits
//    above serve and mail, which it drives.
// 7. cli: `cli`, the programs' entry points: the watchers' flags tables
//    and the typed reading of their lines, every program's --help, and
//    `--check-config`.
//    `every_output` (doc-hidden, for tests and fuzzing: one input through
//    every output).

/// The crate version `--version` prints and the API shows.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub mod account;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod conninfo;
#[doc(hidden)]
pub mod every_output;
pub mod flags;
pub mod ini;
pub mod mail;
mod mailqueue;
pub mod pgpass;
pub mod plumbing;
pub mod poolstatus;
pub mod secret;
pub mod serve;
pub mod watch;

#[cfg(test)]
mod layers_test;

pub use plumbing::os;
