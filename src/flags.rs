//! How a command line is read, for every program alike: `@file`
//! expansion ([`argv`]), the flags table type a program describes its
//! flags in, with the `--help` layout made from it ([`table`]), and the
//! front that puts an expanded line into canonical form by that table
//! (argparse's rules: prefixes, `--key=value`, later wins, defaults) for
//! pico-args to read typed values from ([`front`]).
//!
//! The tables themselves live with the code that reads their values:
//! the watchers' in `crate::cli::watchers`, sendmail's in the mail layer
//! ([`crate::mail::options::SENDMAIL`]), which reads args.txt again at every
//! watcher mail. This module sits in the settings layer (it uses only
//! `plumbing`), so both can name it.

pub mod argv;
pub mod front;
pub mod table;

pub use argv::ArgsError;
pub use front::{ArgError, Line, Refused};
pub use table::{Dialect, Flag, Required, Table, Takes};
