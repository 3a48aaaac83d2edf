//! The programs' entry points: the watchers' flags tables and the typed
//! reading of their lines ([`watchers`]), every program's `--help` and
//! docs/operating.md's flags tables ([`help`]), and `--check-config`
//! ([`check`]). How a line is read (`@file` expansion, the table type, the
//! front) is the settings layer's `crate::flags`; sendmail's table and its
//! reader are the mail layer's (`crate::mail::options`), which reads
//! args.txt again at every watcher mail.
//!
//! Each watcher binary's `main` calls one `start_*` function, which parses,
//! loads the settings, and either finishes the job (help, version,
//! `--check-config`) or hands back what the program runs with; sendmail's
//! calls [`crate::mail::options::parse`] and prints [`sendmail_help`].

use crate::config::{ConfigError, ErrorKind, Program, Settings};
use crate::flags::ArgsError;
use crate::VERSION;
use std::{ffi::OsString, fmt, io::Write};

pub mod check;
mod help;
pub mod watchers;

pub use check::print_check_config;
pub use help::{flags_markdown, help, sendmail_help, table_of};
pub use watchers::{
    parse_pgpwatch, parse_poolstatus, parse_repmgrwatch, CommonArgs, Parsed, PgpwatchArgs,
    PoolstatusArgs, RepmgrwatchArgs,
};

/// Exit code for a bad command line or configuration (argparse used 2).
pub const EXIT_USAGE: u8 = 2;

/// Exit code of a Monitoring Plugins check that could not run (UNKNOWN):
/// poolstatus `--nagios` with a bad command line or configuration.
pub const EXIT_UNKNOWN: u8 = 3;

/// Why a program could not start.
#[derive(Debug)]
pub enum CliError {
    /// An `@file` could not be expanded.
    Args(ArgsError),
    /// The command line is wrong: unknown flag, missing or bad value.
    Usage(String),
    /// The configuration is unreadable or invalid.
    Config(ConfigError),
    /// Writing to standard output failed.
    Output(std::io::Error),
    /// The error of a poolstatus line that asked for `--nagios`: reported
    /// as the plugin's one line on stdout, UNKNOWN, exit 3.
    Nagios(Box<CliError>),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Args(e) => write!(f, "{e}"),
            CliError::Usage(m) => write!(f, "{m} (see --help)"),
            CliError::Config(e) => write!(f, "{e}"),
            CliError::Output(e) => write!(f, "write to standard output: {e}"),
            CliError::Nagios(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Output(_) => 1,
            CliError::Nagios(_) => EXIT_UNKNOWN,
            _ => EXIT_USAGE,
        }
    }

    /// This error, reported as poolstatus `--nagios` reports one.
    pub fn for_nagios(self) -> CliError {
        match self {
            e @ CliError::Nagios(_) => e,
            e => CliError::Nagios(Box::new(e)),
        }
    }
}

/// What `main` does next.
// Made once per process, so the size of `Settings` in one variant is no cost.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Start<A> {
    /// The job is done (help, version, `--check-config`); exit with this code.
    Done(u8),
    /// Run the program with these arguments and settings. Warnings in
    /// `settings.warnings` have not been printed yet.
    Run { args: A, settings: Settings },
}

fn finish_start<A>(
    program: Program,
    parsed: Parsed<A>,
    common: impl Fn(&A) -> &CommonArgs,
    load: impl Fn(&A) -> Result<Settings, ConfigError>,
    out: &mut dyn Write,
) -> Result<Start<A>, CliError> {
    let args = match parsed {
        Parsed::Help => {
            out.write_all(help(program).as_bytes())
                .map_err(CliError::Output)?;
            return Ok(Start::Done(0));
        }
        Parsed::Version => {
            writeln!(out, "{} {VERSION}", program.name()).map_err(CliError::Output)?;
            return Ok(Start::Done(0));
        }
        Parsed::Args(a) => a,
    };
    let settings = load(&args).map_err(CliError::Config)?;
    if common(&args).check_config {
        return Ok(Start::Done(print_check_config(program, &settings, out)?));
    }
    Ok(Start::Run { args, settings })
}

/// pgpwatch up to the point where the watcher runs.
pub fn start_pgpwatch(
    os_args: Vec<OsString>,
    out: &mut dyn Write,
) -> Result<Start<PgpwatchArgs>, CliError> {
    let parsed = parse_pgpwatch(os_args)?;
    finish_start(
        Program::Pgpwatch,
        parsed,
        |a| &a.common,
        |a| Settings::load_with(&a.common.config_path(), Program::Pgpwatch, &a.overrides()),
        out,
    )
}

/// repmgrwatch up to the point where the watcher runs.
pub fn start_repmgrwatch(
    os_args: Vec<OsString>,
    out: &mut dyn Write,
) -> Result<Start<RepmgrwatchArgs>, CliError> {
    let parsed = parse_repmgrwatch(os_args)?;
    finish_start(
        Program::Repmgrwatch,
        parsed,
        |a| &a.common,
        |a| Settings::load(&a.common.config_path(), Program::Repmgrwatch),
        out,
    )
}

/// poolstatus up to the point where the report is gathered. An unreadable
/// config file (poolstatus is run by hand as postgres) means the built-in
/// defaults, with a warning naming the file.
pub fn start_poolstatus(
    os_args: Vec<OsString>,
    out: &mut dyn Write,
) -> Result<Start<PoolstatusArgs>, CliError> {
    let parsed = parse_poolstatus(os_args)?;
    let nagios = matches!(&parsed, Parsed::Args(a) if a.nagios);
    let start = finish_start(
        Program::Poolstatus,
        parsed,
        |a| &a.common,
        |a| match Settings::load(&a.common.config_path(), Program::Poolstatus) {
            Err(e) if e.kind == ErrorKind::Unreadable => {
                let mut s = Settings::defaults(Program::Poolstatus);
                s.warnings.push(format!("{e}; using built-in defaults"));
                Ok(s)
            }
            other => other,
        },
        out,
    );
    start.map_err(|e| if nagios { e.for_nagios() } else { e })
}

/// The tail every watcher binary's `main` shares: print the error once
/// (poolstatus `--nagios`: the plugin's one line on stdout, `POOLSTATUS
/// UNKNOWN - ...`) and turn the result into an exit code.
pub fn report<T>(program: Program, result: Result<T, CliError>) -> Result<T, u8> {
    result.map_err(|e| match e {
        CliError::Nagios(e) => {
            let text = e.to_string().replace(['|', '\n'], " ");
            println!("POOLSTATUS UNKNOWN - {text}");
            EXIT_UNKNOWN
        }
        e => {
            eprintln!("{}: {e}", program.name());
            e.exit_code()
        }
    })
}

/// Prints each settings warning to stderr as `program: warning: ...`.
pub fn print_warnings(program: Program, settings: &Settings) {
    for w in &settings.warnings {
        eprintln!("{}: warning: {w}", program.name());
    }
}

#[cfg(test)]
mod tests;
