//! pgpoolwatch is blocking on purpose: every check runs on a plain thread with
//! a deadline, so the code stays simple and the dependencies few.
//!
//! It replaces the Python 2.7 pgpoolwatch scripts (`pgpwatch.py`,
//! `repmgrwatch.py`, `poolstatus.py`, `sendmail.py`) and reads their
//! `config.ini` and `args.txt` unchanged. The four programs in `src/bin` are
//! thin: they parse, call into this library, print an error once and exit.
#![deny(unsafe_code)]

pub mod account;
pub mod args;
pub mod cli;
pub mod config;
pub mod conninfo;
pub mod deadline;
pub mod gate;
pub mod ini;
pub mod json;
pub mod localtime;
pub mod logging;
pub mod mail;
pub mod mailqueue;
pub mod os;
pub mod pgpass;
pub mod poolstatus;
pub mod probe;
pub mod sdnotify;
pub mod signals;
pub mod watch;
