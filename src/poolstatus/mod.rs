//! poolstatus: the one-command report on a pgpool-II + repmgr cluster that
//! operators run by hand and pgpwatch puts in its mails. Gathering (I/O,
//! concurrent, every step bounded by `connect_timeout`) is kept apart from
//! the [`Report`] value, which is rendered as text or JSON and judged
//! ([`Report::status`]) without any I/O, so both are testable from recorded
//! outputs.
//!
//! Where things are: [`Target`] (what to look at, here), `gather` (the
//! I/O: [`run`]), `report` (the [`Report`] value and its health rules),
//! [`crate::cluster::text`] (pure readers of what the cluster answers), [`ssh`] (the disk
//! section), `render` (text and JSON), `error` ([`ReportError`]).

mod error;
#[cfg(test)]
mod fixture_tests;
mod gather;
mod render;
mod report;
pub mod ssh;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::cluster::Endpoint;
use crate::plumbing::net::host_port;
pub use error::ReportError;
pub use gather::run;
pub use render::{LagThresholds, PluginState};
pub use report::{Health, NodeReport, RepmgrMeta, Report};

/// Finds the password for (host, port, database, user), e.g. from .pgpass;
/// `None` connects without one.
pub type PasswordLookup =
    Arc<dyn Fn(&str, u16, &str, &str) -> Option<crate::secret::Secret> + Send + Sync>;

/// What poolstatus looks at and how (the original's hard-coded values are
/// the defaults, see [`Target::default`]).
#[derive(Clone)]
pub struct Target {
    pub pgpool_host: String,
    pub pgpool_port: u16,
    pub pgpool_user: String,
    pub pgpool_database: String,
    pub repmgr_user: String,
    pub repmgr_database: String,
    pub ssh_user: String,
    pub ssh_port: u16,
    pub ssh_key: Option<PathBuf>,
    pub ssh_known_hosts: PathBuf,
    /// Home directory whose `.ssh/id_ed25519` / `id_rsa` are tried when
    /// `ssh_key` is unset (and ssh-agent fails).
    pub ssh_home: Option<PathBuf>,
    /// The local account whose key files (and `.pgpass`) these are: a key
    /// file must belong to it or to root.
    pub credentials_user: String,
    /// Bound of every network step (connect plus queries of one session).
    pub connect_timeout: Duration,
    /// Path whose file system `df` reports.
    pub disk_path: String,
    pub password: PasswordLookup,
    /// TLS of every database connection (pgpool and the nodes).
    pub tls: crate::config::tls::TlsSettings,
    /// Database hosts to ask when no pgpool answers (a repmgr host's own
    /// `repmgr_host`); repmgr's metadata there names the others.
    pub fallback_hosts: Vec<(String, u16)>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("pgpool", &host_port(&self.pgpool_host, self.pgpool_port))
            .field("pgpool_user", &self.pgpool_user)
            .field("pgpool_database", &self.pgpool_database)
            .field("repmgr_user", &self.repmgr_user)
            .field("repmgr_database", &self.repmgr_database)
            .field("ssh_user", &self.ssh_user)
            .field("credentials_user", &self.credentials_user)
            .field("ssh_port", &self.ssh_port)
            .field("ssh_key", &self.ssh_key)
            .field("ssh_known_hosts", &self.ssh_known_hosts)
            .field("connect_timeout", &self.connect_timeout)
            .field("disk_path", &self.disk_path)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Default for Target {
    /// The original's assumptions: pgpool on localhost:5432 as user `pgpool`
    /// database `postgres`; repmgr as `repmgr`/`repmgr`; ssh as the current
    /// user on port 22 with `~/.ssh/known_hosts`; `df /`; 5 s timeout; no
    /// password.
    fn default() -> Target {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "postgres".into());
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/pgsql"));
        Target {
            pgpool_host: "localhost".into(),
            pgpool_port: 5432,
            pgpool_user: "pgpool".into(),
            pgpool_database: "postgres".into(),
            repmgr_user: "repmgr".into(),
            repmgr_database: "repmgr".into(),
            credentials_user: user.clone(),
            ssh_user: user,
            ssh_port: 22,
            ssh_key: None,
            ssh_known_hosts: home.join(".ssh").join("known_hosts"),
            tls: crate::config::tls::TlsSettings {
                home: Some(home.clone()),
                ..crate::config::tls::TlsSettings::default()
            },
            ssh_home: Some(home),
            connect_timeout: Duration::from_secs(5),
            disk_path: "/".into(),
            password: Arc::new(|_, _, _, _| None),
            fallback_hosts: Vec::new(),
        }
    }
}

impl Target {
    /// `user@host:port/db` with the password [`Target::password`] finds
    /// (`.pgpass`, or what a test injects) and this target's TLS settings.
    pub(crate) fn endpoint(&self, host: &str, port: u16, user: &str, db: &str) -> Endpoint {
        Endpoint::new(
            host,
            port,
            user,
            db,
            (self.password)(host, port, db, user),
            self.tls.clone(),
        )
    }
}

impl Target {
    /// The target described by `[poolstatus]` settings, with the
    /// credentials of OS account `os_user` (see
    /// [`crate::account::credentials_user`]): passwords from its `.pgpass`
    /// (`$PGPASSFILE` first), ssh keys and known_hosts from its `~/.ssh`
    /// unless `ssh_key` / `ssh_known_hosts` say otherwise.
    pub fn from_settings(s: &crate::config::PoolstatusSettings, os_user: &str) -> Target {
        let home = crate::account::home_of(os_user).unwrap_or_else(|| PathBuf::from("/"));
        let tls = s.tls.for_user(os_user);
        let credentials_user = os_user.to_string();
        let os_user = os_user.to_string();
        let password: PasswordLookup = Arc::new(move |host, port, db, user| {
            crate::pgpass::password_for(&os_user, host, port, db, user)
        });
        Target {
            pgpool_host: s.pgpool_host.clone(),
            pgpool_port: s.pgpool_port,
            pgpool_user: s.pgpool_user.clone(),
            pgpool_database: s.pgpool_database.clone(),
            repmgr_user: s.repmgr_user.clone(),
            repmgr_database: s.repmgr_database.clone(),
            ssh_user: s.ssh_user.clone(),
            ssh_port: s.ssh_port,
            ssh_key: s.ssh_key.clone(),
            ssh_known_hosts: s
                .ssh_known_hosts
                .clone()
                .unwrap_or_else(|| home.join(".ssh").join("known_hosts")),
            ssh_home: Some(home),
            credentials_user,
            connect_timeout: s.connect_timeout,
            disk_path: s.disk_path.clone(),
            password,
            tls,
            fallback_hosts: Vec::new(),
        }
    }

    /// [`Target::from_settings`] for a whole configuration: on a repmgr host
    /// (one whose `[repmgr]` names a pgpool), its `repmgr_host` is asked when
    /// no pgpool answers.
    pub fn for_config(settings: &crate::config::Settings, os_user: &str) -> Target {
        let mut t = Target::from_settings(&settings.poolstatus, os_user);
        let r = &settings.repmgr;
        if !r.pgp_server_1.is_empty() {
            t.fallback_hosts = vec![(r.repmgr_host.clone(), r.repmgr_port)];
        }
        t
    }
}

/// Runs poolstatus for `[poolstatus]` settings: prints the report (text or
/// JSON) to stdout and returns the Nagios exit code (0, 1, 2). This is the
/// whole of `poolstatus`'s main once its command line and settings are read.
pub fn main_with(settings: &crate::config::Settings, json: bool) -> u8 {
    let os_user = crate::account::credentials_user(&settings.general.poolstatus_user);
    run_and_print(&Target::for_config(settings, &os_user), json)
}

/// poolstatus `--nagios` for `[poolstatus]` settings: prints the one line
/// of a Monitoring Plugins check, then the settings' warnings, and returns
/// its exit code (0, 1, 2). The caller prints nothing to stderr.
pub fn main_nagios(settings: &crate::config::Settings, limits: LagThresholds) -> u8 {
    let os_user = crate::account::credentials_user(&settings.general.poolstatus_user);
    let report = run(&Target::for_config(settings, &os_user), SystemTime::now());
    let (state, line) = report.render_nagios(limits);
    print_out(&nagios_output(&line, &settings.warnings));
    state.exit_code()
}

/// The plugin's output: its line first (all a monitoring server shows and
/// alerts on), then one `warning: ...` line per settings warning, as the
/// long text the guidelines allow. Not on stderr: check_by_ssh turns any
/// remote stderr into "Remote command execution failed" and UNKNOWN.
pub fn nagios_output(line: &str, warnings: &[String]) -> String {
    let mut out = format!("{line}\n");
    for w in warnings {
        out.push_str(&format!("warning: {}\n", w.replace('|', "/")));
    }
    out
}

/// Writes `text` to stdout; a closed stdout (poolstatus | head) must not
/// turn into a panic.
fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, text.as_bytes());
    let _ = std::io::Write::flush(&mut out);
}

/// [`main_with`] for an explicit [`Target`].
pub fn run_and_print(target: &Target, json: bool) -> u8 {
    let report = run(target, SystemTime::now());
    let text = if json {
        format!("{}\n", report.render_json())
    } else {
        report.render_text()
    };
    print_out(&text);
    report.status().exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_endpoint_takes_the_injected_password_and_the_targets_tls() {
        let target = Target {
            password: Arc::new(|host, port, db, user| {
                (host == "db1" && port == 5433 && db == "repmgr" && user == "repmgr")
                    .then(|| crate::secret::Secret::from("s3cret"))
            }),
            ..Target::default()
        };
        let ep = target.endpoint("db1", 5433, "repmgr", "repmgr");
        assert_eq!(
            ep,
            Endpoint::new(
                "db1",
                5433,
                "repmgr",
                "repmgr",
                Some(crate::secret::Secret::from("s3cret")),
                target.tls.clone(),
            )
        );
        assert_eq!(
            target.endpoint("db2", 5433, "repmgr", "repmgr").password,
            None
        );
    }
}
