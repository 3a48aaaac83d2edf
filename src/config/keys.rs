//! THE table of config.ini keys: one row per key says its section, name,
//! value form and field, default, which program requires it, which programs
//! read it, and what it is for. Defaults, reading, `--check-config`, the
//! key part of `--help` and docs/configuration.md's key table all come from [`KEYS`]; a
//! test fails when docs/configuration.md or config.ini.sample disagree with it.
//!
//! Caps (from the value form, printed with the doc): `check_period` at most
//! 86400 s (one day), `connect_timeout` and `startup_grace` at most 3600 s
//! (one hour) — a larger value would overflow the clock.

use super::types::{Field, Type};
use super::value::{DAY, HOUR};
use super::{Program, Settings};

/// Where a key's value comes from when the file does not set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDefault {
    /// This text, read as the key's value would be.
    Is(&'static str),
    /// None: the program that requires the key refuses to start without it.
    Nothing,
    /// The value of `[section] key` (read before this one).
    Follows(&'static str, &'static str),
    /// This machine's hostname.
    Hostname,
    /// Not a value of its own: the text says what is used instead (libpq's
    /// or ssh's default file, a sum of other keys).
    Described(&'static str),
}

/// One config.ini key.
#[derive(Clone, Copy)]
pub struct Key {
    pub section: &'static str,
    pub key: &'static str,
    pub ty: Type,
    pub default: KeyDefault,
    /// Programs that refuse to start without the key.
    pub required_by: &'static [Program],
    /// Programs that use the key; for the others a bad value is only a
    /// warning (the original's scripts never looked at the keys they did
    /// not read, so a config shared by every host may carry values that
    /// only another program would refuse).
    pub read_by: &'static [Program],
    /// What it is for, one line.
    pub doc: &'static str,
    /// Another name the key is read under when it is absent.
    pub alias: Option<&'static str>,
    /// A key of the original Python scripts' config.ini (the others are
    /// new, optional, and their defaults keep the original behaviour).
    pub original: bool,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.section, self.key)
    }
}

use KeyDefault::{Described, Follows, Hostname, Is, Nothing};
use Program::{Pgpwatch as W, Poolstatus as P, Repmgrwatch as R};

const NONE: &[Program] = &[];
const ALL: &[Program] = &[W, R, P];
const PGPWATCH: &[Program] = &[W];
const REPMGRWATCH: &[Program] = &[R];
/// [pgp]'s pgpool and TLS keys: [poolstatus] follows them.
const PGP_AND_POOLSTATUS: &[Program] = &[W, P];
/// [repmgr]'s metadata user and database: [poolstatus] follows them.
const REPMGR_AND_POOLSTATUS: &[Program] = &[W, R, P];
/// pgpwatch gathers the poolstatus report for its mails.
const POOLSTATUS: &[Program] = &[W, P];
/// The two watchers (their mail spool and gate state).
const WATCHERS: &[Program] = &[W, R];

macro_rules! f {
    ($($p:ident).+) => {
        Field { get: |s| &s.$($p).+, set: |s| &mut s.$($p).+ }
    };
}

const fn key(
    section: &'static str,
    key: &'static str,
    ty: Type,
    default: KeyDefault,
    required_by: &'static [Program],
    read_by: &'static [Program],
    doc: &'static str,
) -> Key {
    Key {
        section,
        key,
        ty,
        default,
        required_by,
        read_by,
        doc,
        alias: None,
        original: false,
    }
}

/// A key the original scripts read.
const fn orig(k: Key) -> Key {
    Key {
        original: true,
        ..k
    }
}

fn ssh_default(s: &Settings, what: &str) -> String {
    format!("(default: ~{}/.ssh/{what})", s.poolstatus.ssh_user)
}

fn pg_default(s: &Settings, file: &str) -> String {
    format!(
        "(default: ~{}/.postgresql/{file}, if present)",
        s.general.poolstatus_user
    )
}

const API_BIND: &str = "the section's bind_address; 127.0.0.1 when that is 0.0.0.0 (::1 for ::)";
const ROOT_CRT: &str = "the credentials user's ~/.postgresql/root.crt, if present";
const CLIENT_CRT: &str = "the credentials user's ~/.postgresql/postgresql.crt, if present";
const CLIENT_KEY: &str = "the credentials user's ~/.postgresql/postgresql.key, if present";

/// Every key we read, in `--check-config` order. Anything else in the
/// file draws a warning.
#[rustfmt::skip]
pub static KEYS: &[Key] = &[
    orig(key("pgp", "check_period", Type::Seconds { cap: &DAY, field: f!(pgp.check_period) }, Is("10"), PGPWATCH, PGPWATCH,
        "seconds between health checks (may be fractional)")),
    orig(key("pgp", "success_period", Type::Count(f!(pgp.success_period)), Is("1"), PGPWATCH, PGPWATCH,
        "send the Status OK mail on the first and every N-th check")),
    orig(key("pgp", "mail_on_success", Type::Bool(f!(pgp.mail_on_success)), Is("no"), PGPWATCH, PGPWATCH,
        "send Status OK mails at all")),
    orig(key("pgp", "open_port", Type::Port(f!(pgp.open_port)), Is("5559"), NONE, PGPWATCH,
        "port opened for the GSLB while pgpool is healthy")),
    key("pgp", "pgpool_host", Type::Host(f!(pgp.pgpool_host)), Is("localhost"), NONE, PGP_AND_POOLSTATUS,
        "the pgpool to check"),
    key("pgp", "pgpool_port", Type::Port(f!(pgp.pgpool_port)), Is("5432"), NONE, PGP_AND_POOLSTATUS,
        "pgpool's port"),
    key("pgp", "pgpool_user", Type::Name(f!(pgp.pgpool_user)), Is("pgpool"), NONE, PGP_AND_POOLSTATUS,
        "database user for the check (password from .pgpass)"),
    key("pgp", "pgpool_database", Type::Name(f!(pgp.pgpool_database)), Is("postgres"), NONE, PGP_AND_POOLSTATUS,
        "database for the check"),
    key("pgp", "bind_address", Type::Ip(f!(pgp.bind_address)), Is("0.0.0.0"), NONE, PGPWATCH,
        "address open_port listens on"),
    key("pgp", "connect_timeout", Type::Seconds { cap: &HOUR, field: f!(pgp.connect_timeout) }, Is("5"), NONE, PGPWATCH,
        "seconds a check may take; a slower check is a failure"),
    key("pgp", "rise", Type::SmallCount(f!(pgp.rise)), Is("1"), NONE, PGPWATCH,
        "healthy checks in a row before opening"),
    key("pgp", "fall", Type::SmallCount(f!(pgp.fall)), Is("1"), NONE, PGPWATCH,
        "failed checks in a row before closing"),
    key("pgp", "sslmode", Type::SslMode(f!(pgp.tls.mode)), Is("prefer"), NONE, PGP_AND_POOLSTATUS,
        "TLS to pgpool, libpq's sslmode: disable, allow, prefer, require, verify-ca, verify-full"),
    key("pgp", "sslrootcert", Type::OptPath { field: f!(pgp.tls.root_cert), unset: |s| pg_default(s, "root.crt") },
        Described(ROOT_CRT), NONE, PGP_AND_POOLSTATUS,
        "CA file that verifies the server"),
    key("pgp", "sslcert", Type::OptPath { field: f!(pgp.tls.cert), unset: |s| pg_default(s, "postgresql.crt") },
        Described(CLIENT_CRT), NONE, PGP_AND_POOLSTATUS,
        "client certificate"),
    key("pgp", "sslkey", Type::OptPath { field: f!(pgp.tls.key), unset: |s| pg_default(s, "postgresql.key") },
        Described(CLIENT_KEY), NONE, PGP_AND_POOLSTATUS,
        "the client certificate's key (mode 0600)"),
    key("pgp", "api_port", Type::OptPort(f!(pgp.api_port)), Is("off"), NONE, PGPWATCH,
        "HTTP API port (/health, /gate, /liveness, /status, /metrics) answered from the last check; off = none"),
    key("pgp", "api_bind_address", Type::IpOr { field: f!(pgp.api_bind_address), resolved: |s| s.pgp.api_bind() },
        Described(API_BIND), NONE, PGPWATCH,
        "address api_port and agent_port listen on (/status and /metrics show hostnames, backends and error texts to whoever reaches them)"),
    key("pgp", "agent_port", Type::OptPort(f!(pgp.agent_port)), Is("off"), NONE, PGPWATCH,
        "HAProxy agent-check port (agent-send health or gate); off = none"),

    orig(key("repmgr", "check_period", Type::Seconds { cap: &DAY, field: f!(repmgr.check_period) }, Is("10"), NONE, REPMGRWATCH,
        "seconds between checks (may be fractional)")),
    orig(key("repmgr", "pgp_server_1", Type::Host(f!(repmgr.pgp_server_1)), Nothing, REPMGRWATCH, REPMGRWATCH,
        "first pgpool host, whose check_port is probed")),
    orig(key("repmgr", "pgp_server_2", Type::Host(f!(repmgr.pgp_server_2)), Nothing, REPMGRWATCH, REPMGRWATCH,
        "second pgpool host; the same host twice = one pgpool")),
    orig(key("repmgr", "check_port", Type::Port(f!(repmgr.check_port)), Is("5559"), NONE, REPMGRWATCH,
        "pgpwatch's open_port, probed on each pgpool")),
    orig(key("repmgr", "open_port", Type::Port(f!(repmgr.open_port)), Is("5559"), NONE, REPMGRWATCH,
        "port opened for the GSLB on the lone master")),
    orig(key("repmgr", "force_open", Type::Bool(f!(repmgr.force_open)), Is("no"), NONE, REPMGRWATCH,
        "open on the master even while a pgpool answers")),
    key("repmgr", "node_name", Type::Name(f!(repmgr.node_name)), Hostname, NONE, REPMGRWATCH,
        "this node's name in repmgr"),
    key("repmgr", "bind_address", Type::Ip(f!(repmgr.bind_address)), Is("0.0.0.0"), NONE, REPMGRWATCH,
        "address open_port listens on"),
    key("repmgr", "repmgr_host", Type::Host(f!(repmgr.repmgr_host)), Is("localhost"), NONE, REPMGRWATCH,
        "database holding repmgr's metadata"),
    key("repmgr", "repmgr_port", Type::Port(f!(repmgr.repmgr_port)), Is("5432"), NONE, REPMGRWATCH,
        "its port"),
    key("repmgr", "repmgr_user", Type::Name(f!(repmgr.repmgr_user)), Is("repmgr"), NONE, REPMGR_AND_POOLSTATUS,
        "its user (password from .pgpass)"),
    key("repmgr", "repmgr_database", Type::Name(f!(repmgr.repmgr_database)), Is("repmgr"), NONE, REPMGR_AND_POOLSTATUS,
        "its database"),
    key("repmgr", "connect_timeout", Type::Seconds { cap: &HOUR, field: f!(repmgr.connect_timeout) }, Is("5"), NONE, REPMGRWATCH,
        "seconds a check may take"),
    key("repmgr", "rise", Type::SmallCount(f!(repmgr.rise)), Is("1"), NONE, REPMGRWATCH,
        "agreeing checks in a row before opening"),
    key("repmgr", "fall", Type::SmallCount(f!(repmgr.fall)), Is("1"), NONE, REPMGRWATCH,
        "checks in a row seeing a pgpool back before the lone master closes; a standby, split brain or no master close at the next check"),
    key("repmgr", "sslmode", Type::SslMode(f!(repmgr.tls.mode)), Is("prefer"), NONE, REPMGRWATCH,
        "TLS to repmgr_host and each node, as [pgp] sslmode; a node's conninfo sslmode/sslrootcert/sslcert/sslkey win for that node"),
    key("repmgr", "sslrootcert", Type::OptPath { field: f!(repmgr.tls.root_cert), unset: |s| pg_default(s, "root.crt") },
        Described(ROOT_CRT), NONE, REPMGRWATCH,
        "as [pgp] sslrootcert"),
    key("repmgr", "sslcert", Type::OptPath { field: f!(repmgr.tls.cert), unset: |s| pg_default(s, "postgresql.crt") },
        Described(CLIENT_CRT), NONE, REPMGRWATCH,
        "as [pgp] sslcert"),
    key("repmgr", "sslkey", Type::OptPath { field: f!(repmgr.tls.key), unset: |s| pg_default(s, "postgresql.key") },
        Described(CLIENT_KEY), NONE, REPMGRWATCH,
        "as [pgp] sslkey"),
    key("repmgr", "startup_grace",
        Type::SecondsOrOff { cap: &HOUR, field: f!(repmgr.startup_grace), resolved: |s| s.repmgr.grace() },
        Described("check_period + connect_timeout"), NONE, REPMGRWATCH,
        "seconds after start before the port may open because no pgpool answers (0 = off); force_open is not delayed"),
    key("repmgr", "api_port", Type::OptPort(f!(repmgr.api_port)), Is("off"), NONE, REPMGRWATCH,
        "HTTP API port (Patroni's /primary, /replica?lag=N, /read-only, /health, /liveness, /gate, /status, /metrics) answered from the last check; off = none"),
    key("repmgr", "api_bind_address", Type::IpOr { field: f!(repmgr.api_bind_address), resolved: |s| s.repmgr.api_bind() },
        Described(API_BIND), NONE, REPMGRWATCH,
        "address api_port and agent_port listen on (/status and /metrics show hostnames, node names and error texts to whoever reaches them)"),
    key("repmgr", "agent_port", Type::OptPort(f!(repmgr.agent_port)), Is("off"), NONE, REPMGRWATCH,
        "HAProxy agent-check port (agent-send primary, replica lag=N or gate); off = none"),

    orig(key("general", "sendmail", Type::Bool(f!(general.sendmail)), Is("no"), NONE, ALL,
        "send mails at all")),
    orig(key("general", "sendmail_path", Type::Path(f!(general.sendmail_path)), Is("/root/pgpoolwatch/sendmail.py"), NONE, ALL,
        "the original's mail program; ignored: the mailer is built in")),
    Key {
        alias: Some(super::ALIAS_SENDMAIL_SETTINGS),
        original: true,
        ..key("general", "sendmail_settings_path", Type::Path(f!(general.sendmail_settings_path)),
            Is("/root/pgpoolwatch/args.txt"), NONE, ALL,
            "the mail settings (args.txt); the original's misspelt send_mail_settings_path is read when this key is absent, with a warning")
    },
    orig(key("general", "poolstatus_path", Type::Path(f!(general.poolstatus_path)), Is("/var/lib/pgsql/poolstatus.py"), NONE, ALL,
        "the original's report program; ignored: the report is built in")),
    orig(key("general", "poolstatus_user", Type::Name(f!(general.poolstatus_user)), Is("postgres"), NONE, ALL,
        "OS user whose ~/.pgpass, ~/.ssh and ~/.postgresql are used when running as root")),
    key("general", "state_dir", Type::Path(f!(general.state_dir)), Is("/var/lib/pgpoolwatch"), NONE, WATCHERS,
        "directory of the mail spool and the last gate state, a subdirectory per program (the units' StateDirectory=pgpoolwatch); unwritable: mail is queued in memory only"),
    key("general", "allow_cleartext_password", Type::Bool(f!(general.allow_cleartext_password)), Is("no"), NONE, ALL,
        "send a database password that a server asks for in cleartext over a connection without TLS to a host other than this one (libpq does; off, the connection fails and nothing is sent)"),
    key("general", "fast_path", Type::Bool(f!(general.fast_path)), Is("yes"), NONE, WATCHERS,
        "wake for an immediate check when a watched server goes away or comes back (pgpwatch holds one idle session to its pgpool; repmgrwatch one per database node and a TCP probe of the pgpools' gates every 500 ms); no = check only every check_period"),

    key("poolstatus", "pgpool_host", Type::Host(f!(poolstatus.pgpool_host)), Follows("pgp", "pgpool_host"), NONE, POOLSTATUS,
        "pgpool to query"),
    key("poolstatus", "pgpool_port", Type::Port(f!(poolstatus.pgpool_port)), Follows("pgp", "pgpool_port"), NONE, POOLSTATUS,
        "its port"),
    key("poolstatus", "pgpool_user", Type::Name(f!(poolstatus.pgpool_user)), Follows("pgp", "pgpool_user"), NONE, POOLSTATUS,
        "its user"),
    key("poolstatus", "pgpool_database", Type::Name(f!(poolstatus.pgpool_database)), Follows("pgp", "pgpool_database"), NONE, POOLSTATUS,
        "its database"),
    key("poolstatus", "repmgr_user", Type::Name(f!(poolstatus.repmgr_user)), Follows("repmgr", "repmgr_user"), NONE, POOLSTATUS,
        "user for repmgr's metadata"),
    key("poolstatus", "repmgr_database", Type::Name(f!(poolstatus.repmgr_database)), Follows("repmgr", "repmgr_database"), NONE, POOLSTATUS,
        "database of repmgr's metadata"),
    key("poolstatus", "ssh_user", Type::Name(f!(poolstatus.ssh_user)), Follows("general", "poolstatus_user"), NONE, POOLSTATUS,
        "ssh user on the database hosts (disk use, WAL processes)"),
    key("poolstatus", "ssh_port", Type::Port(f!(poolstatus.ssh_port)), Is("22"), NONE, POOLSTATUS,
        "their ssh port"),
    key("poolstatus", "ssh_key", Type::OptPath { field: f!(poolstatus.ssh_key), unset: |s| ssh_default(s, "id_ed25519, id_ecdsa, id_rsa") },
        Described("the ssh user's ~/.ssh keys (or ssh-agent)"), NONE, POOLSTATUS,
        "private key"),
    key("poolstatus", "ssh_known_hosts", Type::OptPath { field: f!(poolstatus.ssh_known_hosts), unset: |s| ssh_default(s, "known_hosts") },
        Described("the ssh user's ~/.ssh/known_hosts"), NONE, POOLSTATUS,
        "known_hosts file; host keys are always checked"),
    key("poolstatus", "connect_timeout", Type::Seconds { cap: &HOUR, field: f!(poolstatus.connect_timeout) }, Is("5"), NONE, POOLSTATUS,
        "seconds per connection"),
    key("poolstatus", "disk_path", Type::PathText(f!(poolstatus.disk_path)), Is("/"), NONE, POOLSTATUS,
        "file system whose use% is shown"),
    key("poolstatus", "sslmode", Type::SslMode(f!(poolstatus.tls.mode)), Follows("pgp", "sslmode"), NONE, POOLSTATUS,
        "TLS to pgpool and the database hosts"),
    key("poolstatus", "sslrootcert", Type::OptPath { field: f!(poolstatus.tls.root_cert), unset: |s| pg_default(s, "root.crt") },
        Follows("pgp", "sslrootcert"), NONE, POOLSTATUS,
        "as [pgp] sslrootcert"),
    key("poolstatus", "sslcert", Type::OptPath { field: f!(poolstatus.tls.cert), unset: |s| pg_default(s, "postgresql.crt") },
        Follows("pgp", "sslcert"), NONE, POOLSTATUS,
        "as [pgp] sslcert"),
    key("poolstatus", "sslkey", Type::OptPath { field: f!(poolstatus.tls.key), unset: |s| pg_default(s, "postgresql.key") },
        Follows("pgp", "sslkey"), NONE, POOLSTATUS,
        "as [pgp] sslkey"),
];

/// The sections, in file order.
pub const SECTIONS: &[&str] = &["pgp", "repmgr", "general", "poolstatus"];

/// The row of `[section] key`.
pub fn find(section: &str, key: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.section == section && k.key == key)
}

impl Key {
    /// The default as docs/configuration.md and `--help` show it.
    pub fn default_text(&self) -> String {
        if let [one, more @ ..] = self.required_by {
            let mut t = format!("required by {}", one.name());
            for p in more {
                t.push_str(&format!(", {}", p.name()));
            }
            return t;
        }
        match self.default {
            Is(v) => v.to_string(),
            Nothing => "none".to_string(),
            Follows(s, k) => format!("[{s}] {k}"),
            Hostname => "this machine's hostname".to_string(),
            Described(d) => d.to_string(),
        }
    }

    /// The key's line in `--help`.
    pub fn help_line(&self) -> String {
        let default = self.default_text();
        let default = if self.required_by.is_empty() {
            format!("default: {default}")
        } else {
            default
        };
        format!("    {} ({default}): {}\n", self.key, self.doc_text())
    }

    /// The doc line with the key's cap, if it has one.
    pub fn doc_text(&self) -> String {
        match self.ty.cap() {
            Some(cap) => format!("{}; at most {} s ({})", self.doc, cap.secs, cap.name),
            None => self.doc.to_string(),
        }
    }
}

/// docs/configuration.md's key table (section "## Keys"), one row per key.
pub fn markdown_table() -> String {
    let mut out = String::from("| section | key | default | what it is |\n|---|---|---|---|\n");
    for k in KEYS {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            k.section,
            k.key,
            k.default_text(),
            if k.original {
                k.doc_text()
            } else {
                format!("new: {}", k.doc_text())
            }
        ));
    }
    out
}

/// The key part of `program`'s `--help`: the keys it reads.
pub fn help_text(program: Program) -> String {
    let mut out = format!(
        "config.ini keys {} reads (--check-config prints the values in force):\n",
        program.name()
    );
    let mut section = "";
    for k in KEYS.iter().filter(|k| k.read_by.contains(&program)) {
        if k.section != section {
            section = k.section;
            out.push_str(&format!("  [{section}]\n"));
        }
        out.push_str(&k.help_line());
    }
    out
}
