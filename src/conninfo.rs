//! The one reader of libpq connection strings, as repmgr stores them in
//! `repmgr.nodes.conninfo` and PostgreSQL shows them in
//! `pg_stat_wal_receiver.conninfo`: both libpq forms, `key=value` pairs and
//! `postgresql://` URIs, into a typed [`Conninfo`].
//!
//! Why not `postgres::Config::from_str` alone: it refuses keys that libpq
//! knows and we must read (`sslrootcert`, `sslcert`, `sslkey`, and
//! `sslmode=verify-ca`/`verify-full`), and it does not hand the raw
//! `sslmode` back. So the URI's authority and path (user, password, hosts,
//! ports, `[::1]`, percent-encoding, the database) go through `from_str`,
//! and this module reads the rest with libpq's rules: the `key=value` form
//! (single quotes, backslash escapes, spaces around `=`) and the URI's
//! `?key=value&...` parameters (percent-decoded; they win over the
//! authority, as in libpq). Keys that do not say where a node is or how to
//! log in are skipped unread, as the hand-written reader before did: a
//! report should still show a node whose conninfo has a key this reader
//! does not know.
//!
//! Several hosts (`host=a,b`, `postgresql://a:1,b:2/db`): libpq tries each
//! in turn; we take the first host with its port, since repmgr writes one
//! host per node and each node is probed on its own.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::probe::{SslMode, TlsSettings};

/// What a conninfo says; `None` for what it leaves out (the caller's
/// default then applies: libpq's is host `localhost`, port 5432).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Conninfo {
    /// The first host (a name, an address, or a Unix socket directory);
    /// `hostaddr` when no host is given.
    pub host: Option<String>,
    /// The first host's port.
    pub port: Option<u16>,
    pub user: Option<String>,
    pub dbname: Option<String>,
    pub password: Option<String>,
    pub sslmode: Option<SslMode>,
    /// `Some("")` when the conninfo sets it empty: libpq's default file.
    pub sslrootcert: Option<PathBuf>,
    /// As `sslrootcert`.
    pub sslcert: Option<PathBuf>,
    /// As `sslrootcert`.
    pub sslkey: Option<PathBuf>,
}

impl fmt::Debug for Conninfo {
    /// Everything but the password's value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conninfo")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .finish()
    }
}

/// Why a conninfo could not be read. `Display` is `conninfo...: detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConninfoError {
    /// `key=value` form: a key not followed by `=`.
    MissingEquals { key: String },
    /// `key=value` form: a single-quoted value without its closing quote.
    UnterminatedQuote { key: String },
    /// URI form: a `?` parameter without `=`.
    MissingParamEquals { param: String },
    /// URI form: a `%` not followed by two hex digits, or not UTF-8.
    BadPercent { text: String },
    /// URI form: the authority or path that `postgres::Config` refused
    /// (its message).
    BadUri { detail: String },
    /// A port that is not a number from 0 to 65535.
    BadPort { value: String },
    /// A `hostaddr` that is not an IP address.
    BadHostaddr { value: String },
    /// An `sslmode` libpq does not know.
    BadSslMode { value: String },
}

impl fmt::Display for ConninfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConninfoError::MissingEquals { key } => {
                write!(f, "conninfo: missing \"=\" after {key:?}")
            }
            ConninfoError::UnterminatedQuote { key } => {
                write!(f, "conninfo: unterminated quote in {key}")
            }
            ConninfoError::MissingParamEquals { param } => {
                write!(f, "conninfo URI: parameter {param:?} has no \"=\"")
            }
            ConninfoError::BadPercent { text } => {
                write!(f, "conninfo URI: bad percent-encoding in {text:?}")
            }
            ConninfoError::BadUri { detail } => write!(f, "conninfo URI: {detail}"),
            ConninfoError::BadPort { value } => {
                write!(f, "conninfo port {value:?} is not a port number")
            }
            ConninfoError::BadHostaddr { value } => {
                write!(f, "conninfo hostaddr {value:?} is not an IP address")
            }
            ConninfoError::BadSslMode { value } => write!(
                f,
                "conninfo sslmode {value:?} is not valid; expected {}",
                SslMode::EXPECTED
            ),
        }
    }
}

impl std::error::Error for ConninfoError {}

impl FromStr for Conninfo {
    type Err = ConninfoError;

    fn from_str(s: &str) -> Result<Conninfo, ConninfoError> {
        parse(s)
    }
}

/// Reads a conninfo of either form.
pub fn parse(conninfo: &str) -> Result<Conninfo, ConninfoError> {
    let s = conninfo.trim();
    if s.starts_with("postgresql://") || s.starts_with("postgres://") {
        parse_uri(s)
    } else {
        let mut d = Draft::default();
        for (k, v) in pairs(s)? {
            d.set(&k, v)?;
        }
        Ok(d.finish())
    }
}

impl Conninfo {
    /// Host and port with libpq's defaults (`localhost`, 5432).
    pub fn host_port(&self) -> (String, u16) {
        (
            self.host.clone().unwrap_or_else(|| "localhost".into()),
            self.port.unwrap_or(5432),
        )
    }

    /// `base` overridden by this conninfo's `sslmode`, `sslrootcert`,
    /// `sslcert` and `sslkey` (as libpq, the conninfo wins; an empty path
    /// means libpq's default file).
    pub fn tls_over(&self, base: &TlsSettings) -> TlsSettings {
        let path = |p: &PathBuf| (!p.as_os_str().is_empty()).then(|| p.clone());
        let mut t = base.clone();
        if let Some(m) = self.sslmode {
            t.mode = m;
        }
        if let Some(p) = &self.sslrootcert {
            t.root_cert = path(p);
        }
        if let Some(p) = &self.sslcert {
            t.cert = path(p);
        }
        if let Some(p) = &self.sslkey {
            t.key = path(p);
        }
        t
    }
}

/// A [`Conninfo`] being read: `hostaddr` is kept apart, as it counts only
/// where no `host` is given.
#[derive(Default)]
struct Draft {
    info: Conninfo,
    hostaddr: Option<String>,
}

impl Draft {
    /// Applies one keyword (a later one wins, as in libpq). Values of
    /// `host`, `hostaddr` and `port` are lists: the first item counts.
    fn set(&mut self, key: &str, value: String) -> Result<(), ConninfoError> {
        let first = |v: &str| v.split(',').next().unwrap_or("").trim().to_string();
        let nonempty = |v: String| (!v.is_empty()).then_some(v);
        let c = &mut self.info;
        match key {
            "host" => c.host = nonempty(first(&value)),
            "hostaddr" => {
                let a = first(&value);
                if !a.is_empty() && a.parse::<std::net::IpAddr>().is_err() {
                    return Err(ConninfoError::BadHostaddr { value });
                }
                self.hostaddr = nonempty(a);
            }
            "port" => {
                let p = first(&value);
                c.port = if p.is_empty() {
                    None
                } else {
                    Some(p.parse().map_err(|_| ConninfoError::BadPort { value: p })?)
                };
            }
            "user" => c.user = nonempty(value),
            "dbname" => c.dbname = nonempty(value),
            "password" => c.password = nonempty(value),
            "sslmode" => match SslMode::parse(&value) {
                Some(m) => c.sslmode = Some(m),
                None => return Err(ConninfoError::BadSslMode { value }),
            },
            "sslrootcert" => c.sslrootcert = Some(PathBuf::from(value.trim())),
            "sslcert" => c.sslcert = Some(PathBuf::from(value.trim())),
            "sslkey" => c.sslkey = Some(PathBuf::from(value.trim())),
            // Other keys (connect_timeout, application_name, a key a newer
            // libpq added) do not change where a node is.
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Conninfo {
        let mut c = self.info;
        c.host = c.host.or(self.hostaddr);
        c
    }
}

/// `postgresql://[user[:password]@][host[:port][,...]][/dbname][?k=v&...]`.
fn parse_uri(s: &str) -> Result<Conninfo, ConninfoError> {
    let (base, query) = s.split_once('?').unwrap_or((s, ""));
    let cfg = postgres::Config::from_str(base).map_err(|e| ConninfoError::BadUri {
        detail: e.to_string(),
    })?;
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| ConninfoError::BadPercent {
            text: base.to_string(),
        })
    };
    let info = Conninfo {
        host: cfg.get_hosts().first().map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(dir) => dir.display().to_string(),
        }),
        port: cfg.get_ports().first().copied(),
        user: cfg.get_user().map(str::to_string),
        dbname: cfg.get_dbname().map(str::to_string),
        password: cfg.get_password().map(text).transpose()?,
        ..Conninfo::default()
    };
    let mut d = Draft {
        info,
        hostaddr: None,
    };
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = param
            .split_once('=')
            .ok_or_else(|| ConninfoError::MissingParamEquals {
                param: param.to_string(),
            })?;
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        if k == "ssl" {
            // libpq's JDBC compatibility: ssl=true is sslmode=require.
            if v == "true" {
                d.info.sslmode = Some(SslMode::Require);
                continue;
            }
            return Err(ConninfoError::BadSslMode { value: v });
        }
        d.set(&k, v)?;
    }
    Ok(d.finish())
}

fn percent_decode(s: &str) -> Result<String, ConninfoError> {
    let bad = || ConninfoError::BadPercent {
        text: s.to_string(),
    };
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

/// The `key=value` pairs of a conninfo in that form, in order (values may
/// be single-quoted with backslash escapes; spaces around `=` allowed).
pub fn pairs(s: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(ConninfoError::MissingEquals { key });
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut val = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(ConninfoError::UnterminatedQuote { key }),
                    Some('\\') => {
                        if let Some(c) = chars.next() {
                            val.push(c)
                        }
                    }
                    Some('\'') => break,
                    Some(c) => val.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        val.push(n);
                    }
                } else {
                    val.push(c);
                }
            }
        }
        out.push((key, val));
    }
}

#[cfg(test)]
mod tests;
