//! Command lines of pgpwatch, repmgrwatch and poolstatus, shared so that the
//! three behave alike: `@file` expansion, `--help`, `--version`,
//! `--config PATH`, `--check-config`, and the original scripts' own flags.
//!
//! Parsing is argparse-like where operators could notice: `--opt=value` and
//! `--opt value` both work, a later option wins, an unknown flag is an error
//! that names it, and a unique abbreviation of a long option (`--conf`,
//! `--check-p`) stands for it as in argparse (an ambiguous one is an error
//! naming the candidates). Each binary's `main` calls one `start_*` function, which
//! parses, loads the settings, and either finishes the job (help, version,
//! `--check-config`) or hands back what the program runs with.

use crate::args::{ArgError, ArgsError, Dialect, Opt, Spec};
use crate::config::{self, ConfigError, ErrorKind, Override, Program, Settings, Value};
pub use crate::VERSION;
use std::{ffi::OsString, fmt, io::Write, path::PathBuf, time::Duration};

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
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Args(e) => write!(f, "{e}"),
            CliError::Usage(m) => write!(f, "{m} (see --help)"),
            CliError::Config(e) => write!(f, "{e}"),
            CliError::Output(e) => write!(f, "write to standard output: {e}"),
        }
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Output(_) => 1,
            _ => EXIT_USAGE,
        }
    }
}

/// Options every program has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommonArgs {
    /// `--config PATH`; `None`: the first of
    /// [`config::DEFAULT_CONFIG_PATHS`] that is there (see
    /// [`CommonArgs::config_path`]).
    pub config: Option<PathBuf>,
    /// `--check-config`: print the effective settings and exit.
    pub check_config: bool,
}

impl CommonArgs {
    /// The config.ini to read: `--config`'s, else the default search
    /// ([`config::default_config_path`], which looks at the file system).
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(config::default_config_path)
    }
}

/// pgpwatch's command line (the original's flags override config.ini).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpwatchArgs {
    pub common: CommonArgs,
    /// `--check-period SECS` for `[pgp] check_period`.
    pub check_period: Option<Duration>,
    /// `--success-period N` for `[pgp] success_period`.
    pub success_period: Option<u64>,
    /// `--mail-on-success` sets `[pgp] mail_on_success = yes`.
    pub mail_on_success: bool,
    /// `--run-once`: one check, mails as configured, no port.
    pub run_once: bool,
}

/// repmgrwatch's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepmgrwatchArgs {
    pub common: CommonArgs,
    /// `--run-once`: one check; prints the decision and what a running
    /// repmgrwatch would do; no port, no mail.
    pub run_once: bool,
}

/// poolstatus's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolstatusArgs {
    pub common: CommonArgs,
    /// `--json`: print the report as JSON.
    pub json: bool,
    /// `--nagios`: print one Monitoring Plugins line, exit 0/1/2 (3 for a
    /// bad command line).
    pub nagios: bool,
    /// `--warning-lag` / `--critical-lag`, in bytes.
    pub lag: crate::poolstatus::LagThresholds,
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

/// pgpwatch's options, in the order an ambiguous prefix lists them.
const PGPWATCH_OPTIONS: &[Opt] = &[
    Opt::one("--config"),
    Opt::one("--check-period"),
    Opt::one("--success-period"),
    Opt::flag("--check-config"),
    Opt::flag("--help"),
    Opt::flag("--version"),
    Opt::flag("--mail-on-success"),
    Opt::flag("--run-once"),
];
/// repmgrwatch's.
const REPMGRWATCH_OPTIONS: &[Opt] = &[
    Opt::one("--config"),
    Opt::flag("--check-config"),
    Opt::flag("--help"),
    Opt::flag("--version"),
    Opt::flag("--run-once"),
];
/// poolstatus's.
const POOLSTATUS_OPTIONS: &[Opt] = &[
    Opt::one("--config"),
    Opt::flag("--check-config"),
    Opt::flag("--help"),
    Opt::flag("--version"),
    Opt::flag("--json"),
    Opt::flag("--nagios"),
    Opt::one("--warning-lag"),
    Opt::one("--critical-lag"),
];

/// The three programs' command line through the shared argument front
/// ([`crate::args::front`]): abbreviations, `=` forms and repeats are
/// settled there; this reads the typed values.
struct Parser {
    args: pico_args::Arguments,
    /// The program's option names, for "did you mean" on an unknown one.
    names: Vec<&'static str>,
}

impl Parser {
    fn new(os_args: Vec<OsString>, options: &[Opt]) -> Result<Parser, CliError> {
        let spec = Spec {
            options,
            aliases: &[("-h", "--help"), ("-V", "--version")],
            dialect: Dialect::Watchers,
        };
        let args = spec.front(os_args).map_err(|e| match e {
            ArgError::File(e) => CliError::Args(e),
            e => CliError::Usage(e.to_string()),
        })?;
        let names = options.iter().map(|o| o.name).collect();
        Ok(Parser { args, names })
    }

    /// Whether the flag was given (the front lists it at most once).
    fn flag(&mut self, key: &'static str) -> bool {
        self.args.contains(key)
    }

    /// The option's value (the front keeps the last one given).
    fn last(&mut self, key: &'static str) -> Result<Option<String>, CliError> {
        self.args
            .opt_value_from_str(key)
            .map_err(|e| CliError::Usage(format!("{key}: {e}")))
    }

    fn common(&mut self) -> Result<CommonArgs, CliError> {
        Ok(CommonArgs {
            config: self.last("--config")?.map(PathBuf::from),
            check_config: self.flag("--check-config"),
        })
    }

    fn finish(self) -> Result<(), CliError> {
        match self.args.finish().first() {
            None => Ok(()),
            Some(a) => {
                let a = a.to_string_lossy();
                let names = self.names.iter().copied();
                let named = crate::args::front::name_unknown(&a, names);
                Err(CliError::Usage(if named == a {
                    format!("unknown argument {a:?}")
                } else {
                    format!("unknown argument {named}")
                }))
            }
        }
    }
}

/// What the command line asks for before any settings are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<A> {
    Help,
    Version,
    Args(A),
}

/// `-h`/`--help` wins over everything else on the line, as in argparse.
fn help_or_version<A>(p: &mut Parser) -> Option<Parsed<A>> {
    let help = p.flag("--help");
    let version = p.flag("--version");
    if help {
        Some(Parsed::Help)
    } else if version {
        Some(Parsed::Version)
    } else {
        None
    }
}

/// Parses pgpwatch's arguments (program name excluded).
pub fn parse_pgpwatch(os_args: Vec<OsString>) -> Result<Parsed<PgpwatchArgs>, CliError> {
    let mut p = Parser::new(os_args, PGPWATCH_OPTIONS)?;
    if let Some(early) = help_or_version(&mut p) {
        return Ok(early);
    }
    let common = p.common()?;
    let check_period = match p.last("--check-period")? {
        None => None,
        Some(v) => Some(config::parse_secs(&v).ok_or_else(|| {
            CliError::Usage(format!("--check-period {v:?}: expected {}", config::SECS))
        })?),
    };
    let success_period = match p.last("--success-period")? {
        None => None,
        Some(v) => Some(config::parse_at_least_one::<u64>(&v).ok_or_else(|| {
            CliError::Usage(format!(
                "--success-period {v:?}: expected {}",
                config::COUNT
            ))
        })?),
    };
    let mail_on_success = p.flag("--mail-on-success");
    let run_once = p.flag("--run-once");
    p.finish()?;
    Ok(Parsed::Args(PgpwatchArgs {
        common,
        check_period,
        success_period,
        mail_on_success,
        run_once,
    }))
}

/// Parses repmgrwatch's arguments (program name excluded).
pub fn parse_repmgrwatch(os_args: Vec<OsString>) -> Result<Parsed<RepmgrwatchArgs>, CliError> {
    let mut p = Parser::new(os_args, REPMGRWATCH_OPTIONS)?;
    if let Some(early) = help_or_version(&mut p) {
        return Ok(early);
    }
    let common = p.common()?;
    let run_once = p.flag("--run-once");
    p.finish()?;
    Ok(Parsed::Args(RepmgrwatchArgs { common, run_once }))
}

/// Parses poolstatus's arguments (program name excluded).
pub fn parse_poolstatus(os_args: Vec<OsString>) -> Result<Parsed<PoolstatusArgs>, CliError> {
    let mut p = Parser::new(os_args, POOLSTATUS_OPTIONS)?;
    if let Some(early) = help_or_version(&mut p) {
        return Ok(early);
    }
    let common = p.common()?;
    let json = p.flag("--json");
    let nagios = p.flag("--nagios");
    let lag = crate::poolstatus::LagThresholds {
        warning: lag_limit(&mut p, "--warning-lag")?,
        critical: lag_limit(&mut p, "--critical-lag")?,
    };
    if let (Some(w), Some(c)) = (lag.warning, lag.critical) {
        if w > c {
            return Err(CliError::Usage(format!(
                "--warning-lag {w} B is above --critical-lag {c} B: give a warning limit at or below the critical one"
            )));
        }
    }
    if nagios && json {
        return Err(CliError::Usage(
            "--json and --nagios: give one of them".into(),
        ));
    }
    if !nagios && (lag.warning.is_some() || lag.critical.is_some()) {
        return Err(CliError::Usage(
            "--warning-lag and --critical-lag apply to --nagios only: add --nagios".into(),
        ));
    }
    p.finish()?;
    Ok(Parsed::Args(PoolstatusArgs {
        common,
        json,
        nagios,
        lag,
    }))
}

/// A lag limit: bytes, or a number with kB, MB, GB or TB (1024-based), as
/// the API's `?lag=` takes it.
fn lag_limit(p: &mut Parser, key: &'static str) -> Result<Option<u64>, CliError> {
    match p.last(key)? {
        None => Ok(None),
        Some(v) => crate::serve::routes::parse_lag(&v)
            .map(Some)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "{key} {v:?}: expected bytes or a number with kB, MB, GB or TB (1024-based)"
                ))
            }),
    }
}

/// Whether poolstatus's command line asks for `--nagios` (in full or as an
/// abbreviation, also inside an `@file`), looked at before it is parsed so
/// that a bad line still answers as a plugin (UNKNOWN, exit 3).
pub fn asks_for_nagios(os_args: &[OsString]) -> bool {
    let expanded = crate::args::expand(os_args.to_vec()).unwrap_or_else(|_| {
        os_args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    });
    expanded.iter().any(|a| {
        let name = a.split_once('=').map_or(a.as_str(), |(n, _)| n);
        name.len() > 2 && "--nagios".starts_with(name)
    })
}

/// [`report`] for poolstatus `--nagios`: an error is the plugin's one line
/// on stdout, `POOLSTATUS UNKNOWN - ...`, and exit code 3.
pub fn report_nagios<T>(result: Result<T, CliError>) -> Result<T, u8> {
    result.map_err(|e| {
        let text = e.to_string().replace(['|', '\n'], " ");
        println!("POOLSTATUS UNKNOWN - {text}");
        EXIT_UNKNOWN
    })
}

impl PgpwatchArgs {
    /// The flags that stand in for config.ini keys, as typed values.
    pub fn overrides(&self) -> Vec<Override> {
        let flag = |key, value, flag| Override {
            section: "pgp",
            key,
            value,
            flag,
        };
        let mut out = Vec::new();
        if let Some(d) = self.check_period {
            out.push(flag("check_period", Value::Seconds(d), "--check-period"));
        }
        if let Some(n) = self.success_period {
            out.push(flag("success_period", Value::Count(n), "--success-period"));
        }
        if self.mail_on_success {
            out.push(flag(
                "mail_on_success",
                Value::Bool(true),
                "--mail-on-success",
            ));
        }
        out
    }
}

pub use check::print_check_config;

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
    finish_start(
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
    )
}

/// The tail every binary's `main` shares: print warnings to stderr, or the
/// error once, and turn the result into an exit code.
pub fn report<T>(program: Program, result: Result<T, CliError>) -> Result<T, u8> {
    result.map_err(|e| {
        eprintln!("{}: {e}", program.name());
        e.exit_code()
    })
}

/// Prints each settings warning to stderr as `program: warning: ...`.
pub fn print_warnings(program: Program, settings: &Settings) {
    for w in &settings.warnings {
        eprintln!("{}: warning: {w}", program.name());
    }
}

pub use crate::plumbing::logging::init_logging;

pub mod check;
mod help;
use help::help;

#[cfg(test)]
mod tests;
