//! The settings every program runs with, read from the original `config.ini`.
//!
//! Two stages: [`crate::ini`] says what the file says (Python 2 RawConfigParser
//! rules, every value with its line); this module turns that into validated,
//! typed [`Settings`] with the original defaults plus our new optional keys.
//! A wrong value or a missing required key becomes one [`ConfigError`] line
//! naming the file, line, section, key and what was expected. Keys are
//! required only by the program that uses them. Unknown sections and keys
//! are ignored with a warning, as the original ignored them. Each key is
//! documented once, in [`KEYS`].

use crate::ini::{Entry, Ini};
use crate::probe::{SslMode, TlsSettings};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the programs look for their configuration unless `--config` says.
pub const DEFAULT_CONFIG_PATH: &str = "/root/pgpoolwatch/config.ini";

/// Which program is loading the configuration (it decides what is required).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Pgpwatch,
    Repmgrwatch,
    Poolstatus,
}

impl Program {
    /// The binary's name.
    pub fn name(self) -> &'static str {
        match self {
            Program::Pgpwatch => "pgpwatch",
            Program::Repmgrwatch => "repmgrwatch",
            Program::Poolstatus => "poolstatus",
        }
    }
}

/// One documented key: section, key, what it holds and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    pub section: &'static str,
    pub key: &'static str,
    pub doc: &'static str,
}

const fn k(section: &'static str, key: &'static str, doc: &'static str) -> KeyDoc {
    KeyDoc { section, key, doc }
}

/// Every key we read. Anything else in the file draws a warning.
#[rustfmt::skip]
pub const KEYS: &[KeyDoc] = &[
    k("pgp", "check_period", "seconds between health checks (float); required by pgpwatch"),
    k("pgp", "success_period", "send the Status OK mail every N-th check (N >= 1); required by pgpwatch"),
    k("pgp", "mail_on_success", "send Status OK mails (yes/no); required by pgpwatch"),
    k("pgp", "open_port", "port opened for the GSLB while pgpool is healthy (default 5559)"),
    k("pgp", "pgpool_host", "pgpool to check (default localhost)"),
    k("pgp", "pgpool_port", "pgpool's port (default 5432)"),
    k("pgp", "pgpool_user", "database user for the check (default pgpool)"),
    k("pgp", "pgpool_database", "database for the check (default postgres)"),
    k("pgp", "bind_address", "address open_port listens on (default 0.0.0.0)"),
    k("pgp", "connect_timeout", "seconds a check may take (default 5)"),
    k("pgp", "rise", "healthy checks in a row before opening (default 1)"),
    k("pgp", "fall", "failed checks in a row before closing (default 1)"),
    k("pgp", "sslmode", "TLS to pgpool, libpq's: disable, allow, prefer, require, verify-ca, verify-full (default prefer, as psql)"),
    k("pgp", "sslrootcert", "CA file that verifies the server (default: ~/.postgresql/root.crt of the credentials user, if present)"),
    k("pgp", "sslcert", "client certificate (default: ~/.postgresql/postgresql.crt, if present)"),
    k("pgp", "sslkey", "client certificate's key, mode 0600 (default: ~/.postgresql/postgresql.key)"),
    k("repmgr", "check_period", "seconds between checks (float, default 10)"),
    k("repmgr", "pgp_server_1", "first pgpool host; required by repmgrwatch"),
    k("repmgr", "pgp_server_2", "second pgpool host (may equal the first); required by repmgrwatch"),
    k("repmgr", "check_port", "pgpwatch's open_port probed on each pgpool (default 5559)"),
    k("repmgr", "open_port", "port opened for the GSLB on the lone master (default 5559)"),
    k("repmgr", "force_open", "open on the master even while a pgpool is up (default no)"),
    k("repmgr", "node_name", "this node's name in repmgr (default: the machine's hostname)"),
    k("repmgr", "bind_address", "address open_port listens on (default 0.0.0.0)"),
    k("repmgr", "repmgr_host", "database holding repmgr's metadata (default localhost)"),
    k("repmgr", "repmgr_port", "its port (default 5432)"),
    k("repmgr", "repmgr_user", "its user (default repmgr)"),
    k("repmgr", "repmgr_database", "its database (default repmgr)"),
    k("repmgr", "connect_timeout", "seconds a check may take (default 5)"),
    k("repmgr", "rise", "agreeing checks in a row before opening (default 1)"),
    k("repmgr", "fall", "checks in a row seeing a pgpool back before the master closes (default 1); a standby, split brain or no master close at once"),
    k("repmgr", "startup_grace", "seconds after start before the port may open because no pgpool answers (default check_period + connect_timeout; 0 = off)"),
    k("repmgr", "sslmode", "TLS to repmgr_host and each node, as [pgp] sslmode (a node's conninfo wins)"),
    k("repmgr", "sslrootcert", "as [pgp] sslrootcert"),
    k("repmgr", "sslcert", "as [pgp] sslcert"),
    k("repmgr", "sslkey", "as [pgp] sslkey"),
    k("general", "sendmail", "send mails at all (default no)"),
    k("general", "sendmail_path", "sendmail program (default /root/pgpoolwatch/sendmail.py)"),
    k("general", "sendmail_settings_path", "its @args file (default /root/pgpoolwatch/args.txt)"),
    k("general", "poolstatus_path", "poolstatus program (default /var/lib/pgsql/poolstatus.py)"),
    k("general", "poolstatus_user", "OS user poolstatus runs as (default postgres)"),
    k("poolstatus", "pgpool_host", "pgpool to query (default: [pgp] pgpool_host)"),
    k("poolstatus", "pgpool_port", "(default: [pgp] pgpool_port)"),
    k("poolstatus", "pgpool_user", "(default: [pgp] pgpool_user)"),
    k("poolstatus", "pgpool_database", "(default: [pgp] pgpool_database)"),
    k("poolstatus", "repmgr_user", "user for repmgr's metadata (default: [repmgr] repmgr_user)"),
    k("poolstatus", "repmgr_database", "(default: [repmgr] repmgr_database)"),
    k("poolstatus", "ssh_user", "ssh user on the nodes (default: [general] poolstatus_user)"),
    k("poolstatus", "ssh_port", "(default 22)"),
    k("poolstatus", "ssh_key", "private key (default: the user's ~/.ssh keys)"),
    k("poolstatus", "ssh_known_hosts", "known_hosts file (default: the user's ~/.ssh/known_hosts)"),
    k("poolstatus", "connect_timeout", "seconds per connection (default 5)"),
    k("poolstatus", "disk_path", "file system whose use% is shown (default /)"),
    k("poolstatus", "sslmode", "TLS to pgpool and the nodes (default: [pgp] sslmode)"),
    k("poolstatus", "sslrootcert", "(default: [pgp] sslrootcert)"),
    k("poolstatus", "sslcert", "(default: [pgp] sslcert)"),
    k("poolstatus", "sslkey", "(default: [pgp] sslkey)"),
];

/// The key the original's scripts read instead of `sendmail_settings_path`.
pub const ALIAS_SENDMAIL_SETTINGS: &str = "send_mail_settings_path";

const SECTIONS: &[&str] = &["pgp", "repmgr", "general", "poolstatus"];

/// Everything a program runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The file read, or `<built-in defaults>`.
    pub source: PathBuf,
    pub pgp: PgpSettings,
    pub repmgr: RepmgrSettings,
    pub general: GeneralSettings,
    pub poolstatus: PoolstatusSettings,
    /// One line per unknown section/key or other oddity; not fatal.
    pub warnings: Vec<String>,
}

/// `[pgp]`: pgpwatch, beside each pgpool.
#[derive(Debug, Clone, PartialEq)]
pub struct PgpSettings {
    pub check_period: Duration,
    pub success_period: u64,
    pub mail_on_success: bool,
    pub open_port: u16,
    pub pgpool_host: String,
    pub pgpool_port: u16,
    pub pgpool_user: String,
    pub pgpool_database: String,
    pub bind_address: IpAddr,
    pub connect_timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// sslmode, sslrootcert, sslcert, sslkey.
    pub tls: TlsSettings,
}

/// `[repmgr]`: repmgrwatch, beside each PostgreSQL node.
#[derive(Debug, Clone, PartialEq)]
pub struct RepmgrSettings {
    pub check_period: Duration,
    pub pgp_server_1: String,
    pub pgp_server_2: String,
    pub check_port: u16,
    pub open_port: u16,
    pub force_open: bool,
    pub node_name: String,
    pub bind_address: IpAddr,
    pub repmgr_host: String,
    pub repmgr_port: u16,
    pub repmgr_user: String,
    pub repmgr_database: String,
    pub connect_timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    /// `None`: check_period + connect_timeout (see [`RepmgrSettings::grace`]).
    pub startup_grace: Option<Duration>,
    pub tls: TlsSettings,
}

impl RepmgrSettings {
    /// The start-up grace in force: the key, else check_period +
    /// connect_timeout (long enough for a pgpwatch started at the same
    /// moment to finish its first check).
    pub fn grace(&self) -> Duration {
        self.startup_grace
            .unwrap_or_else(|| self.check_period.saturating_add(self.connect_timeout))
    }
}

/// `[general]`: mail and the poolstatus program.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneralSettings {
    pub sendmail: bool,
    pub sendmail_path: PathBuf,
    pub sendmail_settings_path: PathBuf,
    pub poolstatus_path: PathBuf,
    pub poolstatus_user: String,
}

/// `[poolstatus]` (new): what poolstatus connects to.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolstatusSettings {
    pub pgpool_host: String,
    pub pgpool_port: u16,
    pub pgpool_user: String,
    pub pgpool_database: String,
    pub repmgr_user: String,
    pub repmgr_database: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    /// `None`: the ssh user's default keys in ~/.ssh.
    pub ssh_key: Option<PathBuf>,
    /// `None`: the ssh user's ~/.ssh/known_hosts.
    pub ssh_known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
    pub disk_path: String,
    pub tls: TlsSettings,
}

/// What kind of problem a [`ConfigError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read (missing, no permission).
    Unreadable,
    /// The file is not valid ini syntax.
    Syntax,
    /// A value is not what the key needs.
    Invalid,
    /// A key the program needs is absent.
    Missing,
}

/// One configuration problem; `Display` is one line naming the file, line,
/// section, key, the problem and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub kind: ErrorKind,
    /// The file, or `command line` for a flag's value.
    pub file: PathBuf,
    pub line: Option<usize>,
    pub section: Option<String>,
    /// The key, or the flag (`--check-period`) for a command-line value.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        match (&self.section, &self.key) {
            (Some(s), Some(k)) => write!(f, "[{s}] {k}: ")?,
            (Some(s), None) => write!(f, "[{s}]: ")?,
            (None, Some(k)) => write!(f, "{k}: ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// A command-line flag that stands in for a key (pgpwatch's
/// `--check-period 5` is `[pgp] check_period = 5`). Its value is validated
/// like the key's, and errors name the flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub section: &'static str,
    pub key: &'static str,
    pub value: String,
    pub flag: &'static str,
}

/// Where a value came from.
#[derive(Clone, Copy)]
enum Origin<'a> {
    Line(usize),
    Flag(&'a str),
}

struct Found<'a> {
    value: Option<&'a str>,
    origin: Origin<'a>,
}

struct Reader<'a> {
    ini: &'a Ini,
    file: &'a Path,
    overrides: &'a [Override],
    program: Program,
    /// Bad values of keys `program` does not read, as warnings.
    ignored: std::cell::RefCell<Vec<String>>,
}

/// Whether `program` uses `[section] key`: a bad value elsewhere is only a
/// warning for it (the original's scripts never looked at the sections they
/// did not read, so a config shared by every host may carry values that
/// only another program would refuse).
fn reads(program: Program, section: &str, key: &str) -> bool {
    const PGPOOL_KEYS: &[&str] = &[
        "pgpool_host",
        "pgpool_port",
        "pgpool_user",
        "pgpool_database",
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
    ];
    const REPMGR_KEYS: &[&str] = &["repmgr_user", "repmgr_database"];
    match (program, section) {
        (_, "general") => true,
        (Program::Pgpwatch, "pgp" | "poolstatus") => true,
        (Program::Pgpwatch, "repmgr") => REPMGR_KEYS.contains(&key),
        (Program::Repmgrwatch, "repmgr") => true,
        (Program::Poolstatus, "poolstatus") => true,
        (Program::Poolstatus, "pgp") => PGPOOL_KEYS.contains(&key),
        (Program::Poolstatus, "repmgr") => REPMGR_KEYS.contains(&key),
        _ => false,
    }
}

impl<'a> Reader<'a> {
    /// A section's sslmode, sslrootcert, sslcert and sslkey over `base`
    /// (an empty path means libpq's default file).
    fn tls(&self, section: &str, base: &TlsSettings) -> Result<TlsSettings, ConfigError> {
        let mut t = base.clone();
        if let Some(m) = self.typed(section, "sslmode", None, SslMode::EXPECTED, SslMode::parse)? {
            t.mode = m;
        }
        let opt_path = |v: &str| Some(parse_path(v));
        for (key, field) in [
            ("sslrootcert", &mut t.root_cert),
            ("sslcert", &mut t.cert),
            ("sslkey", &mut t.key),
        ] {
            if let Some(v) = self.typed(section, key, None, PATH, opt_path)? {
                *field = v;
            }
        }
        Ok(t)
    }

    fn find(&self, section: &str, key: &str) -> Option<Found<'a>> {
        if let Some(o) = self
            .overrides
            .iter()
            .rev()
            .find(|o| o.section == section && o.key == key)
        {
            return Some(Found {
                value: Some(o.value.as_str()),
                origin: Origin::Flag(o.flag),
            });
        }
        let e: &'a Entry = self.ini.get(section, key)?;
        Some(Found {
            value: e.value.as_deref(),
            origin: Origin::Line(e.line),
        })
    }

    fn error(
        &self,
        kind: ErrorKind,
        section: &str,
        key: &str,
        origin: Option<Origin>,
        problem: String,
    ) -> ConfigError {
        match origin {
            Some(Origin::Flag(flag)) => ConfigError {
                kind,
                file: PathBuf::from("command line"),
                line: None,
                section: None,
                key: Some(flag.to_string()),
                problem,
            },
            Some(Origin::Line(line)) => ConfigError {
                kind,
                file: self.file.to_path_buf(),
                line: Some(line),
                section: Some(section.to_string()),
                key: Some(key.to_string()),
                problem,
            },
            None => ConfigError {
                kind,
                file: self.file.to_path_buf(),
                line: None,
                section: Some(section.to_string()),
                key: Some(key.to_string()),
                problem,
            },
        }
    }

    /// Reads and converts a key: `Ok(None)` when absent (or required and
    /// absent → error), `parse` gives `Err(expected)` for a bad value.
    fn typed<T>(
        &self,
        section: &str,
        key: &str,
        required_by: Option<Program>,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        match self.typed_strict(section, key, required_by, expected, parse) {
            Err(e)
                if e.kind == ErrorKind::Invalid
                    && e.line.is_some()
                    && !reads(self.program, section, key) =>
            {
                self.ignored.borrow_mut().push(format!(
                    "{e}; ignored: {} does not read this key",
                    self.program.name()
                ));
                Ok(None)
            }
            other => other,
        }
    }

    fn typed_strict<T>(
        &self,
        section: &str,
        key: &str,
        required_by: Option<Program>,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(found) = self.find(section, key) else {
            return match required_by {
                Some(p) => {
                    let hint = if self.ini.section(section).is_none() {
                        format!(" (the file has no [{section}] section)")
                    } else {
                        String::new()
                    };
                    Err(self.error(
                        ErrorKind::Missing,
                        section,
                        key,
                        None,
                        format!("missing, {} needs it{hint}; expected {expected}", p.name()),
                    ))
                }
                None => Ok(None),
            };
        };
        let Some(value) = found.value else {
            return Err(self.error(
                ErrorKind::Invalid,
                section,
                key,
                Some(found.origin),
                format!("has no value; expected {key} = {expected}"),
            ));
        };
        match parse(value) {
            Some(v) => Ok(Some(v)),
            None => Err(self.error(
                ErrorKind::Invalid,
                section,
                key,
                Some(found.origin),
                format!("{value:?} is not valid; expected {expected}"),
            )),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

pub(crate) fn parse_secs(v: &str) -> Option<Duration> {
    let f: f64 = v.trim().parse().ok()?;
    if !f.is_finite() || f <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(f).ok().filter(|d| !d.is_zero())
}

fn parse_port(v: &str) -> Option<u16> {
    v.trim().parse::<u16>().ok().filter(|p| *p >= 1)
}

pub(crate) fn parse_at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(
    v: &str,
) -> Option<T> {
    v.trim().parse::<T>().ok().filter(|n| *n >= T::from(1u8))
}

fn parse_word(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty() && !v.contains(char::is_whitespace)).then(|| v.to_string())
}

fn parse_path(v: &str) -> Option<PathBuf> {
    let v = v.trim();
    (!v.is_empty()).then(|| PathBuf::from(v))
}

/// Seconds >= 0 (0 switches a delay off).
fn parse_secs_or_zero(v: &str) -> Option<Duration> {
    let f: f64 = v.trim().parse().ok()?;
    if !f.is_finite() || f < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(f).ok()
}

const SECS_OR_ZERO: &str = "seconds >= 0, e.g. 15 or 0 (off)";
pub(crate) const SECS: &str = "seconds > 0, e.g. 10 or 2.5";
const BOOL: &str = "yes/no, true/false, on/off or 1/0";
const PORT: &str = "a port number 1..65535";
pub(crate) const COUNT: &str = "a whole number >= 1";
const HOST: &str = "a host name or IP address";
const NAME: &str = "a name without spaces";
const PATH: &str = "a path";
const IP: &str = "an IP address such as 0.0.0.0 or 127.0.0.1";

/// This machine's hostname, as Python's `socket.gethostname()` gave it.
pub fn this_hostname() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
}

/// The home directory of OS user `user`, from /etc/passwd; for the current
/// user (`$USER`/`$LOGNAME`) `$HOME` is the fallback.
pub fn home_of(user: &str) -> Option<PathBuf> {
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        if let Some(home) = home_in_passwd(&passwd, user) {
            return Some(home);
        }
    }
    let current = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()?;
    if current != user {
        return None;
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The OS account whose `~/.pgpass` and `~/.ssh` hold the credentials:
/// `poolstatus_user` when we run as root (the original ran poolstatus as
/// that user through runuser), otherwise the account running us (as libpq
/// and ssh would).
pub fn credentials_user(poolstatus_user: &str) -> String {
    // The account we run as does not change: read it once, not every check.
    static RUNNING_AS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let running_as = RUNNING_AS.get_or_init(|| {
        let uid = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| effective_uid(&s))?;
        if uid == 0 {
            return None;
        }
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| user_of_uid(&p, uid))
            .or_else(|| std::env::var("USER").ok())
    });
    running_as
        .clone()
        .unwrap_or_else(|| poolstatus_user.to_string())
}

/// The effective uid from `/proc/self/status` text (`Uid: real eff ...`).
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn user_of_uid(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2].parse() == Ok(uid)).then(|| fields[0].to_string())
    })
}

fn home_in_passwd(passwd: &str, user: &str) -> Option<PathBuf> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[0] == user && !fields[5].is_empty())
            .then(|| PathBuf::from(fields[5]))
    })
}

pub(crate) fn secs_text(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

impl Settings {
    /// Reads and validates `path` for `program`.
    pub fn load(path: &Path, program: Program) -> Result<Settings, ConfigError> {
        Settings::load_with(path, program, &[])
    }

    /// [`Settings::load`] with command-line values standing in for keys.
    pub fn load_with(
        path: &Path,
        program: Program,
        overrides: &[Override],
    ) -> Result<Settings, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError {
            kind: ErrorKind::Unreadable,
            file: path.to_path_buf(),
            line: None,
            section: None,
            key: None,
            problem: format!(
                "cannot read: {e} (expected a readable config.ini; use --config PATH)"
            ),
        })?;
        Settings::parse_bytes(&bytes, path, program, overrides)
    }

    /// Validates `text` as if read from `source`.
    pub fn parse(text: &str, source: &Path, program: Program) -> Result<Settings, ConfigError> {
        Settings::parse_bytes(text.as_bytes(), source, program, &[])
    }

    /// [`Settings::parse`] with command-line values standing in for keys.
    pub fn parse_with(
        text: &str,
        source: &Path,
        program: Program,
        overrides: &[Override],
    ) -> Result<Settings, ConfigError> {
        Settings::parse_bytes(text.as_bytes(), source, program, overrides)
    }

    fn parse_bytes(
        bytes: &[u8],
        source: &Path,
        program: Program,
        overrides: &[Override],
    ) -> Result<Settings, ConfigError> {
        let ini = Ini::parse_bytes(bytes).map_err(|e| ConfigError {
            kind: ErrorKind::Syntax,
            file: source.to_path_buf(),
            line: Some(e.line()),
            section: None,
            key: None,
            problem: e
                .to_string()
                .split_once(": ")
                .map(|(_, p)| p.to_string())
                .unwrap_or_else(|| e.to_string()),
        })?;
        Settings::from_ini(&ini, source, program, overrides)
    }

    /// Built-in defaults (poolstatus run by hand with no readable config).
    /// Keys that have no original default get harmless values.
    pub fn defaults(program: Program) -> Settings {
        let _ = program;
        let mut warnings = Vec::new();
        let node_name = this_hostname().unwrap_or_else(|| {
            warnings.push(
                "cannot read this machine's hostname from /proc/sys/kernel/hostname or /etc/hostname; [repmgr] node_name is 'localhost' (set node_name)".to_string(),
            );
            "localhost".to_string()
        });
        let any = IpAddr::from([0u8, 0, 0, 0]);
        let five = Duration::from_secs(5);
        Settings {
            source: PathBuf::from("<built-in defaults>"),
            pgp: PgpSettings {
                check_period: Duration::from_secs(10),
                success_period: 1,
                mail_on_success: false,
                open_port: 5559,
                pgpool_host: "localhost".into(),
                pgpool_port: 5432,
                pgpool_user: "pgpool".into(),
                pgpool_database: "postgres".into(),
                bind_address: any,
                connect_timeout: five,
                rise: 1,
                fall: 1,
                tls: TlsSettings::default(),
            },
            repmgr: RepmgrSettings {
                check_period: Duration::from_secs(10),
                pgp_server_1: String::new(),
                pgp_server_2: String::new(),
                check_port: 5559,
                open_port: 5559,
                force_open: false,
                node_name,
                bind_address: any,
                repmgr_host: "localhost".into(),
                repmgr_port: 5432,
                repmgr_user: "repmgr".into(),
                repmgr_database: "repmgr".into(),
                connect_timeout: five,
                rise: 1,
                fall: 1,
                startup_grace: None,
                tls: TlsSettings::default(),
            },
            general: GeneralSettings {
                sendmail: false,
                sendmail_path: "/root/pgpoolwatch/sendmail.py".into(),
                sendmail_settings_path: "/root/pgpoolwatch/args.txt".into(),
                poolstatus_path: "/var/lib/pgsql/poolstatus.py".into(),
                poolstatus_user: "postgres".into(),
            },
            poolstatus: PoolstatusSettings {
                pgpool_host: "localhost".into(),
                pgpool_port: 5432,
                pgpool_user: "pgpool".into(),
                pgpool_database: "postgres".into(),
                repmgr_user: "repmgr".into(),
                repmgr_database: "repmgr".into(),
                ssh_user: "postgres".into(),
                ssh_port: 22,
                ssh_key: None,
                ssh_known_hosts: None,
                connect_timeout: five,
                disk_path: "/".into(),
                tls: TlsSettings::default(),
            },
            warnings,
        }
    }

    fn from_ini(
        ini: &Ini,
        source: &Path,
        program: Program,
        overrides: &[Override],
    ) -> Result<Settings, ConfigError> {
        let r = Reader {
            ini,
            file: source,
            overrides,
            program,
            ignored: std::cell::RefCell::new(Vec::new()),
        };
        let mut s = Settings::defaults(program);
        s.source = source.to_path_buf();
        let req = |p: Program| (program == p).then_some(p);
        let w = Program::Pgpwatch;

        macro_rules! set {
            ($field:expr, $sect:expr, $key:expr, $req:expr, $exp:expr, $parse:expr) => {
                if let Some(v) = r.typed($sect, $key, $req, $exp, $parse)? {
                    $field = v;
                }
            };
        }

        set!(
            s.pgp.check_period,
            "pgp",
            "check_period",
            req(w),
            SECS,
            parse_secs
        );
        set!(
            s.pgp.success_period,
            "pgp",
            "success_period",
            req(w),
            COUNT,
            parse_at_least_one::<u64>
        );
        set!(
            s.pgp.mail_on_success,
            "pgp",
            "mail_on_success",
            req(w),
            BOOL,
            parse_bool
        );
        set!(s.pgp.open_port, "pgp", "open_port", None, PORT, parse_port);
        set!(
            s.pgp.pgpool_host,
            "pgp",
            "pgpool_host",
            None,
            HOST,
            parse_word
        );
        set!(
            s.pgp.pgpool_port,
            "pgp",
            "pgpool_port",
            None,
            PORT,
            parse_port
        );
        set!(
            s.pgp.pgpool_user,
            "pgp",
            "pgpool_user",
            None,
            NAME,
            parse_word
        );
        set!(
            s.pgp.pgpool_database,
            "pgp",
            "pgpool_database",
            None,
            NAME,
            parse_word
        );
        set!(s.pgp.bind_address, "pgp", "bind_address", None, IP, |v| v
            .trim()
            .parse()
            .ok());
        set!(
            s.pgp.connect_timeout,
            "pgp",
            "connect_timeout",
            None,
            SECS,
            parse_secs
        );
        set!(
            s.pgp.rise,
            "pgp",
            "rise",
            None,
            COUNT,
            parse_at_least_one::<u32>
        );
        set!(
            s.pgp.fall,
            "pgp",
            "fall",
            None,
            COUNT,
            parse_at_least_one::<u32>
        );
        s.pgp.tls = r.tls("pgp", &s.pgp.tls)?;

        let m = req(Program::Repmgrwatch);
        set!(
            s.repmgr.check_period,
            "repmgr",
            "check_period",
            None,
            SECS,
            parse_secs
        );
        set!(
            s.repmgr.pgp_server_1,
            "repmgr",
            "pgp_server_1",
            m,
            HOST,
            parse_word
        );
        set!(
            s.repmgr.pgp_server_2,
            "repmgr",
            "pgp_server_2",
            m,
            HOST,
            parse_word
        );
        set!(
            s.repmgr.check_port,
            "repmgr",
            "check_port",
            None,
            PORT,
            parse_port
        );
        set!(
            s.repmgr.open_port,
            "repmgr",
            "open_port",
            None,
            PORT,
            parse_port
        );
        set!(
            s.repmgr.force_open,
            "repmgr",
            "force_open",
            None,
            BOOL,
            parse_bool
        );
        set!(
            s.repmgr.node_name,
            "repmgr",
            "node_name",
            None,
            NAME,
            parse_word
        );
        set!(
            s.repmgr.bind_address,
            "repmgr",
            "bind_address",
            None,
            IP,
            |v| v.trim().parse().ok()
        );
        set!(
            s.repmgr.repmgr_host,
            "repmgr",
            "repmgr_host",
            None,
            HOST,
            parse_word
        );
        set!(
            s.repmgr.repmgr_port,
            "repmgr",
            "repmgr_port",
            None,
            PORT,
            parse_port
        );
        set!(
            s.repmgr.repmgr_user,
            "repmgr",
            "repmgr_user",
            None,
            NAME,
            parse_word
        );
        set!(
            s.repmgr.repmgr_database,
            "repmgr",
            "repmgr_database",
            None,
            NAME,
            parse_word
        );
        set!(
            s.repmgr.connect_timeout,
            "repmgr",
            "connect_timeout",
            None,
            SECS,
            parse_secs
        );
        set!(
            s.repmgr.rise,
            "repmgr",
            "rise",
            None,
            COUNT,
            parse_at_least_one::<u32>
        );
        set!(
            s.repmgr.fall,
            "repmgr",
            "fall",
            None,
            COUNT,
            parse_at_least_one::<u32>
        );
        set!(
            s.repmgr.startup_grace,
            "repmgr",
            "startup_grace",
            None,
            SECS_OR_ZERO,
            |v: &str| parse_secs_or_zero(v).map(Some)
        );
        s.repmgr.tls = r.tls("repmgr", &s.repmgr.tls)?;

        set!(
            s.general.sendmail,
            "general",
            "sendmail",
            None,
            BOOL,
            parse_bool
        );
        set!(
            s.general.sendmail_path,
            "general",
            "sendmail_path",
            None,
            PATH,
            parse_path
        );
        set!(
            s.general.sendmail_settings_path,
            "general",
            "sendmail_settings_path",
            None,
            PATH,
            parse_path
        );
        // The original's scripts read args.txt's path from this misspelt
        // key, so working installations carry it: honour it, the documented
        // key winning when both stand.
        if let Some(alias) = ini.get("general", ALIAS_SENDMAIL_SETTINGS) {
            let file = source.display();
            match r.find("general", "sendmail_settings_path") {
                None => {
                    set!(
                        s.general.sendmail_settings_path,
                        "general",
                        "send_mail_settings_path",
                        None,
                        PATH,
                        parse_path
                    );
                    s.warnings.push(format!(
                        "{file}:{}: [general] send_mail_settings_path (the original's misspelling) read as sendmail_settings_path; rename the key",
                        alias.line
                    ));
                }
                Some(_) => s.warnings.push(format!(
                    "{file}:{}: [general] send_mail_settings_path ignored: sendmail_settings_path is set and wins",
                    alias.line
                )),
            }
        }
        set!(
            s.general.poolstatus_path,
            "general",
            "poolstatus_path",
            None,
            PATH,
            parse_path
        );
        set!(
            s.general.poolstatus_user,
            "general",
            "poolstatus_user",
            None,
            NAME,
            parse_word
        );

        // [poolstatus] follows [pgp], [repmgr] and [general] unless it says otherwise.
        let p = &mut s.poolstatus;
        p.pgpool_host = s.pgp.pgpool_host.clone();
        p.pgpool_port = s.pgp.pgpool_port;
        p.pgpool_user = s.pgp.pgpool_user.clone();
        p.pgpool_database = s.pgp.pgpool_database.clone();
        p.repmgr_user = s.repmgr.repmgr_user.clone();
        p.repmgr_database = s.repmgr.repmgr_database.clone();
        p.ssh_user = s.general.poolstatus_user.clone();
        set!(
            p.pgpool_host,
            "poolstatus",
            "pgpool_host",
            None,
            HOST,
            parse_word
        );
        set!(
            p.pgpool_port,
            "poolstatus",
            "pgpool_port",
            None,
            PORT,
            parse_port
        );
        set!(
            p.pgpool_user,
            "poolstatus",
            "pgpool_user",
            None,
            NAME,
            parse_word
        );
        set!(
            p.pgpool_database,
            "poolstatus",
            "pgpool_database",
            None,
            NAME,
            parse_word
        );
        set!(
            p.repmgr_user,
            "poolstatus",
            "repmgr_user",
            None,
            NAME,
            parse_word
        );
        set!(
            p.repmgr_database,
            "poolstatus",
            "repmgr_database",
            None,
            NAME,
            parse_word
        );
        set!(p.ssh_user, "poolstatus", "ssh_user", None, NAME, parse_word);
        set!(p.ssh_port, "poolstatus", "ssh_port", None, PORT, parse_port);
        // An empty value means the default keys / known_hosts.
        let opt_path = |v: &str| Some(parse_path(v));
        set!(p.ssh_key, "poolstatus", "ssh_key", None, PATH, opt_path);
        set!(
            p.ssh_known_hosts,
            "poolstatus",
            "ssh_known_hosts",
            None,
            PATH,
            opt_path
        );
        set!(
            p.connect_timeout,
            "poolstatus",
            "connect_timeout",
            None,
            SECS,
            parse_secs
        );
        set!(
            p.disk_path,
            "poolstatus",
            "disk_path",
            None,
            PATH,
            |v: &str| parse_path(v).map(|p| p.to_string_lossy().into_owned())
        );
        p.tls = r.tls("poolstatus", &s.pgp.tls)?;

        s.warnings.extend(r.ignored.into_inner());
        s.warnings.extend(unknown_warnings(ini, source));
        Ok(s)
    }

    /// The `--check-config` listing: every effective setting as
    /// `section.key = value`, in [`KEYS`] order. config.ini holds no secrets
    /// (passwords live in .pgpass and args.txt, which are never printed), so
    /// nothing needs masking here.
    pub fn render(&self) -> String {
        let mut out = format!("# effective settings from {}\n", self.source.display());
        let (p, m, g, s) = (&self.pgp, &self.repmgr, &self.general, &self.poolstatus);
        let default_path = |o: &Option<PathBuf>, what: &str| match o {
            Some(p) => p.display().to_string(),
            None => format!("(default: ~{}/.ssh/{what})", s.ssh_user),
        };
        let tls_rows = |section: &str, t: &TlsSettings| {
            let user = &self.general.poolstatus_user;
            let path = |o: &Option<PathBuf>, file: &str| match o {
                Some(p) => p.display().to_string(),
                None => format!("(default: ~{user}/.postgresql/{file}, if present)"),
            };
            vec![
                (format!("{section}.sslmode"), t.mode.as_str().to_string()),
                (
                    format!("{section}.sslrootcert"),
                    path(&t.root_cert, "root.crt"),
                ),
                (
                    format!("{section}.sslcert"),
                    path(&t.cert, "postgresql.crt"),
                ),
                (format!("{section}.sslkey"), path(&t.key, "postgresql.key")),
            ]
        };
        let rows: Vec<(&str, String)> = vec![
            ("pgp.check_period", secs_text(p.check_period)),
            ("pgp.success_period", p.success_period.to_string()),
            ("pgp.mail_on_success", yes_no(p.mail_on_success).into()),
            ("pgp.open_port", p.open_port.to_string()),
            ("pgp.pgpool_host", p.pgpool_host.clone()),
            ("pgp.pgpool_port", p.pgpool_port.to_string()),
            ("pgp.pgpool_user", p.pgpool_user.clone()),
            ("pgp.pgpool_database", p.pgpool_database.clone()),
            ("pgp.bind_address", p.bind_address.to_string()),
            ("pgp.connect_timeout", secs_text(p.connect_timeout)),
            ("pgp.rise", p.rise.to_string()),
            ("pgp.fall", p.fall.to_string()),
            ("repmgr.check_period", secs_text(m.check_period)),
            ("repmgr.pgp_server_1", m.pgp_server_1.clone()),
            ("repmgr.pgp_server_2", m.pgp_server_2.clone()),
            ("repmgr.check_port", m.check_port.to_string()),
            ("repmgr.open_port", m.open_port.to_string()),
            ("repmgr.force_open", yes_no(m.force_open).into()),
            ("repmgr.node_name", m.node_name.clone()),
            ("repmgr.bind_address", m.bind_address.to_string()),
            ("repmgr.repmgr_host", m.repmgr_host.clone()),
            ("repmgr.repmgr_port", m.repmgr_port.to_string()),
            ("repmgr.repmgr_user", m.repmgr_user.clone()),
            ("repmgr.repmgr_database", m.repmgr_database.clone()),
            ("repmgr.connect_timeout", secs_text(m.connect_timeout)),
            ("repmgr.rise", m.rise.to_string()),
            ("repmgr.fall", m.fall.to_string()),
            ("repmgr.startup_grace", secs_text(m.grace())),
            ("general.sendmail", yes_no(g.sendmail).into()),
            (
                "general.sendmail_path",
                g.sendmail_path.display().to_string(),
            ),
            (
                "general.sendmail_settings_path",
                g.sendmail_settings_path.display().to_string(),
            ),
            (
                "general.poolstatus_path",
                g.poolstatus_path.display().to_string(),
            ),
            ("general.poolstatus_user", g.poolstatus_user.clone()),
            ("poolstatus.pgpool_host", s.pgpool_host.clone()),
            ("poolstatus.pgpool_port", s.pgpool_port.to_string()),
            ("poolstatus.pgpool_user", s.pgpool_user.clone()),
            ("poolstatus.pgpool_database", s.pgpool_database.clone()),
            ("poolstatus.repmgr_user", s.repmgr_user.clone()),
            ("poolstatus.repmgr_database", s.repmgr_database.clone()),
            ("poolstatus.ssh_user", s.ssh_user.clone()),
            ("poolstatus.ssh_port", s.ssh_port.to_string()),
            (
                "poolstatus.ssh_key",
                default_path(&s.ssh_key, "id_ed25519, id_ecdsa, id_rsa"),
            ),
            (
                "poolstatus.ssh_known_hosts",
                default_path(&s.ssh_known_hosts, "known_hosts"),
            ),
            ("poolstatus.connect_timeout", secs_text(s.connect_timeout)),
            ("poolstatus.disk_path", s.disk_path.clone()),
        ];
        let mut rows: Vec<(String, String)> =
            rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        // Each section's TLS rows after its last other key, as in KEYS.
        for (after, sec, t) in [
            ("pgp.fall", "pgp", &p.tls),
            ("repmgr.fall", "repmgr", &m.tls),
            ("poolstatus.disk_path", "poolstatus", &s.tls),
        ] {
            let at = rows
                .iter()
                .position(|(k, _)| k == after)
                .map_or(rows.len(), |i| i + 1);
            rows.splice(at..at, tls_rows(sec, t));
        }
        for (k, v) in rows {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out
    }
}

fn unknown_warnings(ini: &Ini, source: &Path) -> Vec<String> {
    let file = source.display();
    let mut out = Vec::new();
    // The original's misspelt key has its own warning (see `from_ini`).
    let known = |section: &str, key: &str| {
        KEYS.iter().any(|k| k.section == section && k.key == key)
            || (section == "general" && key == ALIAS_SENDMAIL_SETTINGS)
    };
    for e in ini.defaults().entries() {
        if !KEYS.iter().any(|k| k.key == e.key) {
            out.push(format!(
                "{file}:{}: [DEFAULT] unknown key '{}' ignored",
                e.line, e.key
            ));
        }
    }
    for s in ini.sections() {
        if !SECTIONS.contains(&s.name.as_str()) {
            let hint = SECTIONS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s.name.trim()))
                .map(|k| format!(" (did you mean [{k}]? section names are case-sensitive)"))
                .unwrap_or_else(|| format!(" (known sections: {})", SECTIONS.join(", ")));
            out.push(format!(
                "{file}:{}: unknown section [{}] ignored{hint}",
                s.line, s.name
            ));
            continue;
        }
        for e in s.entries() {
            if !known(&s.name, &e.key) {
                out.push(format!(
                    "{file}:{}: [{}] unknown key '{}' ignored",
                    e.line, s.name, e.key
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn credentials_user_reads_effective_uid_and_passwd() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name: x\n"), None);
        let passwd =
            "root:x:0:0::/root:/bin/sh\npostgres:x:107:113::/var/lib/postgresql:/bin/bash\n";
        assert_eq!(user_of_uid(passwd, 107).as_deref(), Some("postgres"));
        assert_eq!(user_of_uid(passwd, 5), None);
    }
    use super::*;

    const ORIGINAL: &str = "[pgp]\ncheck_period=10\nsuccess_period=5\nmail_on_success=yes\nopen_port = 5559\n\n[repmgr]\ncheck_period=10\npgp_server_1=192.168.168.90\npgp_server_2=192.168.255.90\ncheck_port = 5559\nopen_port = 5559\nforce_open = yes\n\n[general]\nsendmail=yes\nsendmail_path=/root/pgpoolwatch/sendmail.py\nsendmail_settings_path=/root/pgpoolwatch/args.txt\npoolstatus_path=/root/pgpoolwatch/poolstatus.py\npoolstatus_user=postgres\n";

    fn parse(text: &str, p: Program) -> Result<Settings, ConfigError> {
        Settings::parse(text, Path::new("/etc/x/config.ini"), p)
    }

    #[test]
    fn original_sample_gives_original_values_and_new_defaults() {
        let s = parse(ORIGINAL, Program::Pgpwatch).expect("parse");
        assert_eq!(s.pgp.check_period, Duration::from_secs(10));
        assert_eq!(s.pgp.success_period, 5);
        assert!(s.pgp.mail_on_success);
        assert_eq!(s.pgp.open_port, 5559);
        assert_eq!(s.repmgr.pgp_server_1, "192.168.168.90");
        assert_eq!(s.repmgr.pgp_server_2, "192.168.255.90");
        assert!(s.repmgr.force_open);
        assert!(s.general.sendmail);
        assert_eq!(
            s.general.sendmail_settings_path,
            PathBuf::from("/root/pgpoolwatch/args.txt")
        );
        assert_eq!(
            s.general.poolstatus_path,
            PathBuf::from("/root/pgpoolwatch/poolstatus.py")
        );
        assert_eq!(s.pgp.pgpool_user, "pgpool");
        assert_eq!(s.pgp.pgpool_database, "postgres");
        assert_eq!(s.pgp.bind_address.to_string(), "0.0.0.0");
        assert_eq!(s.repmgr.repmgr_user, "repmgr");
        assert_eq!(s.poolstatus.ssh_user, "postgres");
        assert_eq!(s.poolstatus.ssh_port, 22);
        assert_eq!(s.poolstatus.disk_path, "/");
        assert_eq!(s.poolstatus.ssh_key, None);
        assert_eq!(s.source, PathBuf::from("/etc/x/config.ini"));
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        for p in [Program::Repmgrwatch, Program::Poolstatus] {
            assert_eq!(parse(ORIGINAL, p).expect("parse").pgp, s.pgp);
        }
    }

    #[test]
    fn required_keys_only_for_their_program() {
        let e = parse(
            "[repmgr]\npgp_server_1=a\npgp_server_2=b\n",
            Program::Pgpwatch,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Missing);
        assert_eq!(
            e.to_string(),
            "/etc/x/config.ini: [pgp] check_period: missing, pgpwatch needs it (the file has no [pgp] section); expected seconds > 0, e.g. 10 or 2.5"
        );
        let s = parse(
            "[repmgr]\npgp_server_1=a\npgp_server_2=b\n",
            Program::Repmgrwatch,
        )
        .expect("repmgrwatch");
        assert_eq!(s.pgp.check_period, Duration::from_secs(10));
        assert_eq!(s.pgp.success_period, 1);
        assert!(!s.pgp.mail_on_success);
        let e = parse("[pgp]\ncheck_period=1\nsuccess_period=1\nmail_on_success=no\n[repmgr]\npgp_server_1=a\n", Program::Repmgrwatch)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("[repmgr] pgp_server_2: missing, repmgrwatch needs it"),
            "{e}"
        );
        let s = parse("", Program::Poolstatus).expect("poolstatus needs nothing");
        assert_eq!(s.repmgr.pgp_server_1, "");
    }

    #[test]
    fn misspelt_send_mail_settings_path_is_honoured_and_the_documented_key_wins() {
        let s = parse(
            "[general]\nsendmail=yes\nsend_mail_settings_path=/etc/pgpoolwatch/args.txt\n",
            Program::Poolstatus,
        )
        .expect("parse");
        assert_eq!(
            s.general.sendmail_settings_path,
            PathBuf::from("/etc/pgpoolwatch/args.txt")
        );
        assert_eq!(
            s.warnings,
            vec!["/etc/x/config.ini:3: [general] send_mail_settings_path (the original's misspelling) read as sendmail_settings_path; rename the key".to_string()]
        );
        let s = parse(
            "[general]\nsend_mail_settings_path=/old/args.txt\nsendmail_settings_path=/new/args.txt\n",
            Program::Poolstatus,
        )
        .expect("parse");
        assert_eq!(
            s.general.sendmail_settings_path,
            PathBuf::from("/new/args.txt")
        );
        assert_eq!(
            s.warnings,
            vec!["/etc/x/config.ini:2: [general] send_mail_settings_path ignored: sendmail_settings_path is set and wins".to_string()]
        );
        let e = parse("[general]\nsend_mail_settings_path=\n", Program::Poolstatus).unwrap_err();
        assert!(
            e.to_string()
                .contains(":2: [general] send_mail_settings_path: "),
            "{e}"
        );
    }

    #[test]
    fn bad_values_in_sections_a_program_does_not_read_only_warn() {
        let text = "[pgp]\ncheck_period=1\nsuccess_period = 0\nmail_on_success=no\n[repmgr]\npgp_server_1=a\npgp_server_2=b\n";
        let s = parse(text, Program::Repmgrwatch).expect("repmgrwatch ignores [pgp]");
        assert_eq!(
            s.warnings,
            vec!["/etc/x/config.ini:3: [pgp] success_period: \"0\" is not valid; expected a whole number >= 1; ignored: repmgrwatch does not read this key".to_string()],
        );
        let e = parse(text, Program::Pgpwatch).unwrap_err();
        assert!(
            e.to_string().contains(":3: [pgp] success_period:"),
            "pgpwatch reads [pgp]: {e}"
        );
        // pgpwatch does not read [repmgr] rise; repmgrwatch does.
        let other = text.replace("success_period = 0", "success_period = 1") + "rise = none\n";
        let s = parse(&other, Program::Pgpwatch).expect("pgpwatch ignores [repmgr] rise");
        assert!(
            s.warnings[0].contains(":8: [repmgr] rise:")
                && s.warnings[0].ends_with("ignored: pgpwatch does not read this key"),
            "{:?}",
            s.warnings
        );
        let e = parse(&other, Program::Repmgrwatch).unwrap_err();
        assert!(e.to_string().contains(":8: [repmgr] rise:"), "{e}");
        // A key the program reads through [poolstatus] defaults stays an error.
        let e = parse("[repmgr]\nrepmgr_user = a b\n", Program::Poolstatus).unwrap_err();
        assert!(e.to_string().contains(":2: [repmgr] repmgr_user:"), "{e}");
    }

    #[test]
    fn startup_grace_defaults_to_check_period_plus_connect_timeout() {
        let base = "[repmgr]\npgp_server_1=a\npgp_server_2=b\ncheck_period=3\nconnect_timeout=2\n";
        let s = parse(base, Program::Repmgrwatch).expect("parse");
        assert_eq!(s.repmgr.grace(), Duration::from_secs(5));
        assert!(s.render().contains("repmgr.startup_grace = 5\n"));
        let s =
            parse(&format!("{base}startup_grace = 0\n"), Program::Repmgrwatch).expect("0 = off");
        assert_eq!(s.repmgr.grace(), Duration::ZERO);
        let s = parse(
            &format!("{base}startup_grace = 30.5\n"),
            Program::Repmgrwatch,
        )
        .expect("parse");
        assert_eq!(s.repmgr.grace(), Duration::from_secs_f64(30.5));
        let e = parse(&format!("{base}startup_grace = -1\n"), Program::Repmgrwatch).unwrap_err();
        assert!(
            e.to_string()
                .contains(":6: [repmgr] startup_grace: \"-1\" is not valid; expected seconds >= 0"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_name_file_line_section_key_and_expectation() {
        let cases = [
            ("check_period = abc", 3, "check_period", "seconds > 0"),
            ("check_period = 0", 3, "check_period", "seconds > 0"),
            ("check_period = -1", 3, "check_period", "seconds > 0"),
            ("check_period = inf", 3, "check_period", "seconds > 0"),
            ("check_period = nan", 3, "check_period", "seconds > 0"),
            ("check_period = 1e300", 3, "check_period", "seconds > 0"),
            ("success_period = 0", 3, "success_period", ">= 1"),
            ("success_period = 2.5", 3, "success_period", ">= 1"),
            ("mail_on_success = maybe", 3, "mail_on_success", "yes/no"),
            ("open_port = 0", 3, "open_port", "1..65535"),
            ("open_port = 65536", 3, "open_port", "1..65535"),
            ("rise = 0", 3, "rise", ">= 1"),
            ("fall = -2", 3, "fall", ">= 1"),
            ("connect_timeout = 0", 3, "connect_timeout", "seconds > 0"),
            ("bind_address = localhost", 3, "bind_address", "IP address"),
            ("mail_on_success", 3, "mail_on_success", "has no value"),
        ];
        for (line, lineno, key, expected) in cases {
            let text = format!(
                "# comment\n[pgp]\n{line}\ncheck_period=1\nsuccess_period=1\nmail_on_success=no\n"
            );
            // The bad key stands first; move the valid ones out of its way.
            let text = text.replacen(&format!("\n{key}="), &format!("\nx_{key}="), 1);
            let e = parse(&text, Program::Pgpwatch).unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.line, Some(lineno), "{line}: {msg}");
            assert!(
                msg.starts_with(&format!("/etc/x/config.ini:{lineno}: [pgp] {key}: ")),
                "{line}: {msg}"
            );
            assert!(msg.contains(expected), "{line}: {msg}");
            assert!(!msg.contains('\n'), "{line}: one line: {msg}");
        }
    }

    #[test]
    fn python2_value_forms_are_accepted() {
        let text = "[DEFAULT]\nconnect_timeout = 3\n[pgp]\ncheck_period: 2.5 ; every 2.5 s\nsuccess_period=  7\nMail_On_Success = ON\nopen_port = 05559\n[general]\nsendmail = \"\"\n";
        let err = parse(text, Program::Pgpwatch).unwrap_err();
        // `""` is an empty value, which is not a boolean.
        assert_eq!(
            (err.line, err.key.as_deref()),
            (Some(9), Some("sendmail")),
            "{err}"
        );
        let s = parse(
            &text.replace("sendmail = \"\"", "sendmail = 1"),
            Program::Pgpwatch,
        )
        .expect("parse");
        assert_eq!(s.pgp.check_period, Duration::from_millis(2500));
        assert_eq!(s.pgp.success_period, 7);
        assert!(s.pgp.mail_on_success);
        assert_eq!(s.pgp.open_port, 5559);
        assert!(s.general.sendmail);
        // DEFAULT reaches every section present.
        assert_eq!(s.pgp.connect_timeout, Duration::from_secs(3));
    }

    #[test]
    fn poolstatus_follows_pgp_repmgr_and_general() {
        let text = "[pgp]\npgpool_host=10.0.0.1\npgpool_port=9999\n[repmgr]\nrepmgr_user=rm\n[general]\npoolstatus_user=pgadmin\n[poolstatus]\npgpool_user=monitor\nssh_key=/k/id\nssh_known_hosts=\n";
        let s = parse(text, Program::Poolstatus).expect("parse");
        let p = &s.poolstatus;
        assert_eq!((p.pgpool_host.as_str(), p.pgpool_port), ("10.0.0.1", 9999));
        assert_eq!(p.pgpool_user, "monitor");
        assert_eq!(p.pgpool_database, "postgres");
        assert_eq!(p.repmgr_user, "rm");
        assert_eq!(p.ssh_user, "pgadmin");
        assert_eq!(p.ssh_key, Some(PathBuf::from("/k/id")));
        assert_eq!(p.ssh_known_hosts, None);
    }

    #[test]
    fn unknown_keys_and_sections_warn() {
        let text = format!(
            "{ORIGINAL}\n[PGP]\nx=1\n[extra]\n[pgp]\nchek_period=3\n[DEFAULT]\nnonsense=1\n"
        );
        let s = parse(&text, Program::Pgpwatch).expect("parse");
        let w = s.warnings.join("\n");
        assert_eq!(s.warnings.len(), 4, "{w}");
        assert!(
            w.contains("unknown section [PGP] ignored (did you mean [pgp]?"),
            "{w}"
        );
        assert!(w.contains("unknown section [extra] ignored"), "{w}");
        assert!(
            w.contains("/etc/x/config.ini:26: [pgp] unknown key 'chek_period' ignored"),
            "{w}"
        );
        assert!(w.contains("[DEFAULT] unknown key 'nonsense'"), "{w}");
    }

    #[test]
    fn overrides_replace_keys_and_errors_name_the_flag() {
        let o = |key: &'static str, value: &str, flag: &'static str| Override {
            section: "pgp",
            key,
            value: value.to_string(),
            flag,
        };
        let s = Settings::parse_with(
            "[pgp]\nsuccess_period=3\nmail_on_success=no\n",
            Path::new("c.ini"),
            Program::Pgpwatch,
            &[
                o("check_period", "0.5", "--check-period"),
                o("mail_on_success", "yes", "--mail-on-success"),
            ],
        )
        .expect("parse");
        assert_eq!(s.pgp.check_period, Duration::from_millis(500));
        assert!(s.pgp.mail_on_success);
        let e = Settings::parse_with(
            "",
            Path::new("c.ini"),
            Program::Pgpwatch,
            &[o("check_period", "x", "--check-period")],
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "command line: --check-period: \"x\" is not valid; expected seconds > 0, e.g. 10 or 2.5");
    }

    #[test]
    fn syntax_and_read_errors_are_one_line() {
        let e = parse("[pgp]\ncheck_period=1\n= 3\n", Program::Pgpwatch).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert!(
            e.to_string()
                .starts_with("/etc/x/config.ini:3: cannot read \"= 3\""),
            "{e}"
        );
        let e =
            Settings::load(Path::new("/nonexistent/config.ini"), Program::Pgpwatch).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unreadable);
        assert!(
            e.to_string()
                .starts_with("/nonexistent/config.ini: cannot read: "),
            "{e}"
        );
    }

    #[test]
    fn render_lists_every_key_once() {
        let s = parse(ORIGINAL, Program::Pgpwatch).expect("parse");
        let out = s.render();
        for k in KEYS {
            let prefix = format!("{}.{} = ", k.section, k.key);
            assert_eq!(
                out.lines().filter(|l| l.starts_with(&prefix)).count(),
                1,
                "{prefix} in\n{out}"
            );
        }
        assert!(out.contains("pgp.check_period = 10\n"), "{out}");
        assert!(out.contains("repmgr.force_open = yes\n"), "{out}");
        assert!(
            out.contains("poolstatus.ssh_key = (default: ~postgres/.ssh/"),
            "{out}"
        );
    }

    #[test]
    fn tls_keys_per_section_and_poolstatus_follows_pgp() {
        let s = parse(ORIGINAL, Program::Pgpwatch).expect("parse");
        for t in [&s.pgp.tls, &s.repmgr.tls, &s.poolstatus.tls] {
            assert_eq!(t, &TlsSettings::default(), "prefer, libpq's default files");
        }
        let text = "[pgp]\nsslmode = verify-full\nsslrootcert = /etc/pg/ca.crt\nsslcert = /etc/pg/c.crt\nsslkey = /etc/pg/c.key\n[repmgr]\nSSLMODE = require\n[poolstatus]\nsslkey =\n";
        let s = parse(text, Program::Poolstatus).expect("parse");
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.pgp.tls.mode, SslMode::VerifyFull);
        assert_eq!(s.pgp.tls.root_cert, Some(PathBuf::from("/etc/pg/ca.crt")));
        assert_eq!(s.pgp.tls.cert, Some(PathBuf::from("/etc/pg/c.crt")));
        assert_eq!(s.pgp.tls.key, Some(PathBuf::from("/etc/pg/c.key")));
        assert_eq!(s.repmgr.tls.mode, SslMode::Require);
        assert_eq!(
            s.repmgr.tls.root_cert, None,
            "[repmgr] does not follow [pgp]"
        );
        let p = &s.poolstatus.tls;
        assert_eq!(p.mode, SslMode::VerifyFull, "follows [pgp]");
        assert_eq!(p.root_cert, s.pgp.tls.root_cert, "follows [pgp]");
        assert_eq!(p.key, None, "empty value: back to the default file");
        let out = s.render();
        for row in [
            "pgp.sslmode = verify-full\n",
            "pgp.sslrootcert = /etc/pg/ca.crt\n",
            "repmgr.sslmode = require\n",
            "repmgr.sslrootcert = (default: ~postgres/.postgresql/root.crt, if present)\n",
            "poolstatus.sslkey = (default: ~postgres/.postgresql/postgresql.key, if present)\n",
        ] {
            assert!(out.contains(row), "{row} in\n{out}");
        }
        let pgp_fall = out.find("pgp.fall = ").expect("pgp.fall");
        let pgp_ssl = out.find("pgp.sslmode = ").expect("pgp.sslmode");
        let repmgr_first = out.find("repmgr.check_period = ").expect("repmgr");
        assert!(
            pgp_fall < pgp_ssl && pgp_ssl < repmgr_first,
            "KEYS order:\n{out}"
        );
    }

    #[test]
    fn bad_sslmode_names_file_line_section_key_and_values() {
        let e = parse(
            "[repmgr]\npgp_server_1=a\nsslmode = verify_full\npgp_server_2=b\n",
            Program::Repmgrwatch,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/x/config.ini:3: [repmgr] sslmode: \"verify_full\" is not valid; expected one of disable, allow, prefer, require, verify-ca, verify-full"
        );
        let e = parse("[poolstatus]\nsslmode = on\n", Program::Poolstatus).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("sslmode")),
            "{e}"
        );
    }

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\npostgres:x:105:111:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash\nbroken\n";
        assert_eq!(
            home_in_passwd(passwd, "postgres"),
            Some(PathBuf::from("/var/lib/postgresql"))
        );
        assert_eq!(home_in_passwd(passwd, "post"), None);
        assert_eq!(home_of("root"), Some(PathBuf::from("/root")));
    }
}
