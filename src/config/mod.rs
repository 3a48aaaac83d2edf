//! The settings every program runs with, read from the original `config.ini`.
//!
//! Two stages, as ripgrep does it: what the file and the flags say —
//! [`crate::ini`] reads the file (Python 2 RawConfigParser rules, every
//! value with its line, no defaults), the flags arrive as typed
//! [`Override`]s — then `read.rs` validates that into typed [`Settings`]
//! with the original defaults plus our new optional keys. Every key is one
//! row of [`KEYS`] (in `keys.rs`): defaults, reading, `--check-config`,
//! `--help` and docs/configuration.md's table all come from there. A wrong value or a
//! missing required key becomes one [`ConfigError`] line naming the file,
//! line, section, key and what was expected. Keys are required only by the
//! program that uses them. Unknown sections and keys are ignored with a
//! warning, as the original ignored them.

mod denied;
mod error;
mod keys;
mod read;
pub mod tls;
mod types;
mod value;

#[cfg(test)]
mod tests;

pub use denied::{default_config_path, Account, Blocked, Denied, DEFAULT_CONFIG_PATHS};
pub use error::{ConfigError, ErrorKind, Problem};
pub use keys::{find as find_key, help_text, markdown_table, Key, KeyDefault, KEYS, SECTIONS};
pub use read::Override;
pub use types::{Field, Type};
pub use value::{Cap, Value, DAY, HOUR};

pub(crate) use value::{parse_at_least_one, parse_secs, COUNT, SECS};

use crate::ini::Ini;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use tls::TlsSettings;

/// The key the original's scripts read instead of `sendmail_settings_path`.
pub const ALIAS_SENDMAIL_SETTINGS: &str = "send_mail_settings_path";

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
    /// The API port (`None`: off).
    pub api_port: Option<u16>,
    /// Where the API and agent-check ports listen (`None`: see
    /// [`PgpSettings::api_bind`]).
    pub api_bind_address: Option<IpAddr>,
    /// The HAProxy agent-check port (`None`: off).
    pub agent_port: Option<u16>,
}

impl PgpSettings {
    /// Where the API and agent-check ports listen: `api_bind_address`,
    /// else [`api_bind_default`] of `bind_address`.
    pub fn api_bind(&self) -> IpAddr {
        self.api_bind_address
            .unwrap_or_else(|| api_bind_default(self.bind_address))
    }
}

/// The API's address when `api_bind_address` is unset: the gate's
/// `bind_address`, except that a wildcard (0.0.0.0, `::`) becomes loopback.
/// The gate must answer the GSLB from anywhere; `/status` and `/metrics`
/// show hostnames, node names and error texts, so they listen beyond this
/// host only where the operator says so.
pub fn api_bind_default(bind_address: IpAddr) -> IpAddr {
    match bind_address {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    }
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
    /// The API port (`None`: off).
    pub api_port: Option<u16>,
    /// Where the API and agent-check ports listen (`None`: see
    /// [`RepmgrSettings::api_bind`]).
    pub api_bind_address: Option<IpAddr>,
    /// The HAProxy agent-check port (`None`: off).
    pub agent_port: Option<u16>,
}

impl RepmgrSettings {
    /// Where the API and agent-check ports listen: `api_bind_address`,
    /// else [`api_bind_default`] of `bind_address`.
    pub fn api_bind(&self) -> IpAddr {
        self.api_bind_address
            .unwrap_or_else(|| api_bind_default(self.bind_address))
    }

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
    /// `[general] state_dir`: the mail spool and the last gate state.
    pub state_dir: PathBuf,
    /// Answer a cleartext password request on a plain connection to
    /// another host; copied into every section's [`TlsSettings`].
    pub allow_cleartext_password: bool,
    /// `[general] fast_path`: the watchers' wake-ups between checks.
    pub fast_path: bool,
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
        let bytes = std::fs::read(path).map_err(|e| {
            ConfigError::new(
                path.to_path_buf(),
                None,
                None,
                None,
                denied::unreadable(path, &e),
            )
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
        let ini = Ini::parse_bytes(bytes).map_err(|e| {
            ConfigError::new(
                source.to_path_buf(),
                Some(e.line()),
                None,
                None,
                Problem::Syntax(e),
            )
        })?;
        read::from_ini(&ini, source, program, overrides)
    }

    /// Built-in defaults (poolstatus run by hand with no readable config),
    /// from [`KEYS`]. Keys that have no original default get harmless
    /// values (empty, or the value of the default text).
    pub fn defaults(program: Program) -> Settings {
        let _ = program;
        let mut s = Settings::blank();
        for k in KEYS {
            match k.default {
                // A unit test reads every default text; none fails.
                KeyDefault::Is(text) => {
                    let _ = k.ty.read(&mut s, text);
                }
                KeyDefault::Follows(sec, key) => {
                    if let Some(from) = keys::find(sec, key) {
                        k.ty.copy_from(&from.ty, &mut s);
                    }
                }
                KeyDefault::Hostname => {
                    let read = crate::account::this_hostname().map(|h| k.ty.read(&mut s, &h));
                    if !matches!(read, Some(Ok(()))) {
                        s.warnings.push(format!(
                            "cannot read this machine's hostname from /proc/sys/kernel/hostname or /etc/hostname; [{}] {} is 'localhost' (set {})",
                            k.section, k.key, k.key
                        ));
                        let _ = k.ty.read(&mut s, "localhost");
                    }
                }
                KeyDefault::Nothing | KeyDefault::Described(_) => {}
            }
        }
        s
    }

    /// Every field empty, zero or unset: what [`Settings::defaults`] fills in.
    fn blank() -> Settings {
        let any = IpAddr::from([0u8, 0, 0, 0]);
        Settings {
            source: PathBuf::from("<built-in defaults>"),
            pgp: PgpSettings {
                check_period: Duration::ZERO,
                success_period: 0,
                mail_on_success: false,
                open_port: 0,
                pgpool_host: String::new(),
                pgpool_port: 0,
                pgpool_user: String::new(),
                pgpool_database: String::new(),
                bind_address: any,
                connect_timeout: Duration::ZERO,
                rise: 0,
                fall: 0,
                tls: TlsSettings::default(),
                api_port: None,
                api_bind_address: None,
                agent_port: None,
            },
            repmgr: RepmgrSettings {
                check_period: Duration::ZERO,
                pgp_server_1: String::new(),
                pgp_server_2: String::new(),
                check_port: 0,
                open_port: 0,
                force_open: false,
                node_name: String::new(),
                bind_address: any,
                repmgr_host: String::new(),
                repmgr_port: 0,
                repmgr_user: String::new(),
                repmgr_database: String::new(),
                connect_timeout: Duration::ZERO,
                rise: 0,
                fall: 0,
                startup_grace: None,
                tls: TlsSettings::default(),
                api_port: None,
                api_bind_address: None,
                agent_port: None,
            },
            general: GeneralSettings {
                sendmail: false,
                sendmail_path: PathBuf::new(),
                sendmail_settings_path: PathBuf::new(),
                poolstatus_path: PathBuf::new(),
                poolstatus_user: String::new(),
                state_dir: PathBuf::new(),
                allow_cleartext_password: false,
                fast_path: true,
            },
            poolstatus: PoolstatusSettings {
                pgpool_host: String::new(),
                pgpool_port: 0,
                pgpool_user: String::new(),
                pgpool_database: String::new(),
                repmgr_user: String::new(),
                repmgr_database: String::new(),
                ssh_user: String::new(),
                ssh_port: 0,
                ssh_key: None,
                ssh_known_hosts: None,
                connect_timeout: Duration::ZERO,
                disk_path: String::new(),
                tls: TlsSettings::default(),
            },
            warnings: Vec::new(),
        }
    }

    /// `[general] allow_cleartext_password` into the TLS settings of every
    /// section, where the connections read it.
    pub(crate) fn spread_general(&mut self) {
        let allow = self.general.allow_cleartext_password;
        for t in [
            &mut self.pgp.tls,
            &mut self.repmgr.tls,
            &mut self.poolstatus.tls,
        ] {
            t.allow_cleartext_password = allow;
        }
    }

    /// `--check-config`'s warnings about the database connections of
    /// `program`: one line per host other than this one whose `sslmode` is
    /// below verify-full (the server's identity unchecked; below require,
    /// possibly no encryption at all).
    pub fn tls_warnings(&self, program: Program) -> Vec<String> {
        let pgp = (
            "pgp",
            &self.pgp.pgpool_host,
            self.pgp.pgpool_port,
            &self.pgp.tls,
        );
        let report = (
            "poolstatus",
            &self.poolstatus.pgpool_host,
            self.poolstatus.pgpool_port,
            &self.poolstatus.tls,
        );
        let repmgr = (
            "repmgr",
            &self.repmgr.repmgr_host,
            self.repmgr.repmgr_port,
            &self.repmgr.tls,
        );
        let conns = match program {
            Program::Pgpwatch => vec![pgp, report],
            Program::Repmgrwatch => vec![repmgr],
            Program::Poolstatus => vec![report],
        };
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for (section, host, port, tls) in conns {
            let key = if section == "repmgr" {
                "repmgr_host"
            } else {
                "pgpool_host"
            };
            if tls.mode == crate::config::tls::SslMode::VerifyFull
                || crate::plumbing::net::is_loopback_host(host)
                || seen.contains(&(host, port))
            {
                continue;
            }
            seen.push((host, port));
            let risk = match tls.mode {
                crate::config::tls::SslMode::Require | crate::config::tls::SslMode::VerifyCa => {
                    "the server's name is not checked against its certificate"
                }
                _ if tls.allow_cleartext_password => {
                    "the connection may be plain text, and a password asked for in cleartext is sent (allow_cleartext_password = yes)"
                }
                _ => "the connection may be plain text (a password asked for in cleartext is still refused)",
            };
            out.push(format!(
                "[{section}] {key} {}: sslmode={} is below verify-full: {risk}; set [{section}] sslmode = verify-full and sslrootcert",
                crate::plumbing::net::host_port(host, port),
                tls.mode.as_str()
            ));
        }
        out
    }

    /// The `--check-config` listing: every effective setting as
    /// `section.key = value`, in [`KEYS`] order. config.ini holds no secrets
    /// (passwords live in .pgpass and args.txt, which are never printed), so
    /// nothing needs masking here.
    pub fn render(&self) -> String {
        let mut out = format!("# effective settings from {}\n", self.source.display());
        for k in KEYS {
            out.push_str(&format!(
                "{}.{} = {}\n",
                k.section,
                k.key,
                k.ty.render(self)
            ));
        }
        out
    }
}
