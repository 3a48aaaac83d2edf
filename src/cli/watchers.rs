//! The command lines of pgpwatch, repmgrwatch and poolstatus: their flags
//! tables (which `--help` prints, see [`super::help`]) and the typed reading
//! of what the front ([`crate::flags::front`]) made canonical.
//!
//! Parsing is argparse-like where operators could notice: `--opt=value` and
//! `--opt value` both work, a later option wins, an unknown flag is an error
//! that names it, and a unique abbreviation of a long option (`--conf`,
//! `--check-p`) stands for it as in argparse (an ambiguous one is an error
//! naming the candidates).

use std::{ffi::OsString, path::PathBuf, time::Duration};

use super::CliError;
use crate::config::{self, Override, Value};
use crate::flags::front::{self, ArgError};
use crate::flags::{Dialect, Flag, Table};

const CONFIG: Flag = Flag::one(
    "--config",
    "PATH",
    "config.ini to read (default /etc/pgpoolwatch/config.ini,\nelse /root/pgpoolwatch/config.ini: the first that exists)",
);
const CHECK_CONFIG: Flag = Flag::switch(
    "--check-config",
    "print the effective settings and warnings, exit 0;\nor print the problem on one line and exit 2",
);
const HELP: Flag = Flag::switch("--help", "print this help").short("-h");
const VERSION: Flag = Flag::switch("--version", "print the version").short("-V");

/// pgpwatch's flags, in the order `--help` lists them and an ambiguous
/// prefix names its candidates.
pub const PGPWATCH: Table = Table {
    program: "pgpwatch",
    flags: &[
        CONFIG,
        Flag::one(
            "--check-period",
            "SECS",
            "seconds between checks (overrides [pgp] check_period)",
        ),
        Flag::one(
            "--success-period",
            "N",
            "Status OK mail every N-th check (overrides [pgp] success_period)",
        ),
        Flag::switch(
            "--mail-on-success",
            "send Status OK mails (overrides [pgp] mail_on_success)",
        ),
        Flag::switch(
            "--run-once",
            "check once, print the decision and what a running pgpwatch\nwould do, send the mails, do not open the port",
        ),
        CHECK_CONFIG,
        HELP,
        VERSION,
    ],
    dialect: Dialect::Watchers,
};

/// repmgrwatch's flags.
pub const REPMGRWATCH: Table = Table {
    program: "repmgrwatch",
    flags: &[
        CONFIG,
        Flag::switch(
            "--run-once",
            "check once, print the decision and what a running repmgrwatch\nwould do (port, mails); no port, no mail; exit 0 on the healthy\npath (one master, no alarm), else 1",
        ),
        CHECK_CONFIG,
        HELP,
        VERSION,
    ],
    dialect: Dialect::Watchers,
};

/// poolstatus's flags (`--check-config` second, so that `--c` names its
/// candidates as before). `--nagios` is early: a line that names it is
/// answered as a plugin (UNKNOWN, exit 3) even when it is refused.
pub const POOLSTATUS: Table = Table {
    program: "poolstatus",
    flags: &[
        CONFIG,
        CHECK_CONFIG,
        Flag::switch("--json", "print the report as JSON"),
        Flag::switch(
            "--nagios",
            "print one line for Nagios/Icinga (POOLSTATUS OK - ... | perfdata),\nexit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad arguments)",
        )
        .early(),
        Flag::one(
            "--warning-lag",
            "LAG",
            "with --nagios: WARNING when a standby lags more\n(bytes, or kB/MB/GB/TB, 1024-based)",
        ),
        Flag::one(
            "--critical-lag",
            "LAG",
            "with --nagios: CRITICAL when a standby lags more",
        ),
        HELP,
        VERSION,
    ],
    dialect: Dialect::Watchers,
};

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

/// What the command line asks for before any settings are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<A> {
    Help,
    Version,
    Args(A),
}

/// The typed reading of a line the front made canonical.
struct Parser {
    args: pico_args::Arguments,
    table: &'static Table,
}

impl Parser {
    /// A refused line that named `--nagios` is a plugin's error.
    fn new(os_args: Vec<OsString>, table: &'static Table) -> Result<Parser, CliError> {
        match table.read(os_args) {
            Ok(line) => Ok(Parser {
                args: line.arguments(),
                table,
            }),
            Err(refused) => {
                let nagios = refused.named("--nagios");
                let e = match refused.error {
                    ArgError::File(e) => CliError::Args(e),
                    e => CliError::Usage(e.to_string()),
                };
                Err(if nagios { e.for_nagios() } else { e })
            }
        }
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

    /// `-h`/`--help` wins over everything else on the line, as in argparse.
    fn help_or_version<A>(&mut self) -> Option<Parsed<A>> {
        let help = self.flag("--help");
        let version = self.flag("--version");
        if help {
            Some(Parsed::Help)
        } else if version {
            Some(Parsed::Version)
        } else {
            None
        }
    }

    fn finish(self) -> Result<(), CliError> {
        match self.args.finish().first() {
            None => Ok(()),
            Some(a) => {
                let a = a.to_string_lossy();
                let named = front::name_unknown(&a, self.table.names());
                Err(CliError::Usage(if named == a {
                    format!("unknown argument {a:?}")
                } else {
                    format!("unknown argument {named}")
                }))
            }
        }
    }
}

/// Parses pgpwatch's arguments (program name excluded).
pub fn parse_pgpwatch(os_args: Vec<OsString>) -> Result<Parsed<PgpwatchArgs>, CliError> {
    let mut p = Parser::new(os_args, &PGPWATCH)?;
    if let Some(early) = p.help_or_version() {
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
    let mut p = Parser::new(os_args, &REPMGRWATCH)?;
    if let Some(early) = p.help_or_version() {
        return Ok(early);
    }
    let common = p.common()?;
    let run_once = p.flag("--run-once");
    p.finish()?;
    Ok(Parsed::Args(RepmgrwatchArgs { common, run_once }))
}

/// Parses poolstatus's arguments (program name excluded). With `--nagios`
/// on the line, every error is the plugin's ([`CliError::Nagios`]).
pub fn parse_poolstatus(os_args: Vec<OsString>) -> Result<Parsed<PoolstatusArgs>, CliError> {
    let mut p = Parser::new(os_args, &POOLSTATUS)?;
    if let Some(early) = p.help_or_version() {
        return Ok(early);
    }
    let nagios = p.flag("--nagios");
    poolstatus_args(p, nagios).map_err(|e| if nagios { e.for_nagios() } else { e })
}

fn poolstatus_args(mut p: Parser, nagios: bool) -> Result<Parsed<PoolstatusArgs>, CliError> {
    let common = p.common()?;
    let json = p.flag("--json");
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
