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

use crate::config::tls::{SslMode, TlsSettings};
use crate::secret::Secret;

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
    /// A [`Secret`]: it prints as `********`.
    pub password: Option<Secret>,
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
            .field("password", &self.password)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .finish()
    }
}

/// Why a conninfo could not be read. `Display` is `conninfo...: detail`,
/// and never quotes text that could be a secret: a malformed word or a
/// parameter is named by its keyword when it is one of libpq's, else by
/// its position; a password is never shown, even when it is the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConninfoError {
    /// `key=value` form: word `word` (from 1) is not followed by `=`;
    /// `key` when the word is a libpq keyword.
    MissingEquals {
        word: usize,
        key: Option<&'static str>,
    },
    /// `key=value` form: the single-quoted value of word `word` has no
    /// closing quote.
    UnterminatedQuote {
        word: usize,
        key: Option<&'static str>,
    },
    /// URI form: `?` parameter `param` (from 1) has no `=`.
    MissingParamEquals {
        param: usize,
        key: Option<&'static str>,
    },
    /// URI form: a `%` not followed by two hex digits, or not UTF-8, in
    /// `part`.
    BadPercent { part: UriPart },
    /// URI form: where the user name and password end is a guess: more
    /// than one `@` before the host, or an `@` after a `/` or `?` with a
    /// `:` before it (a password holding them unencoded would end up in
    /// the host name, the port or the database name).
    AmbiguousAt,
    /// URI form: the authority or path that `postgres::Config` refused
    /// (its message, which names options, never values).
    BadUri { detail: String },
    /// A port that is not a number from 0 to 65535.
    BadPort { value: String },
    /// A `hostaddr` that is not an IP address.
    BadHostaddr { value: String },
    /// An `sslmode` libpq does not know.
    BadSslMode { value: String },
}

/// Where in a URI conninfo a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriPart {
    /// The password of the authority (`user:password@`).
    Password,
    /// The name of parameter `n` (from 1).
    ParamName { n: usize },
    /// The value of parameter `n` (from 1), `key` when it is libpq's.
    ParamValue { n: usize, key: Option<&'static str> },
}

impl fmt::Display for UriPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriPart::Password => write!(f, "the password"),
            UriPart::ParamName { n } => write!(f, "the name of parameter {n}"),
            UriPart::ParamValue { key: Some(k), .. } => write!(f, "the value of parameter {k}"),
            UriPart::ParamValue { n, key: None } => write!(f, "the value of parameter {n}"),
        }
    }
}

/// `"host"`, or `word 3 (not a libpq keyword, not shown)`.
fn word_name(word: usize, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("{k:?}"),
        None => format!("word {word} (not a libpq keyword, not shown)"),
    }
}

impl fmt::Display for ConninfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConninfoError::MissingEquals { word, key } => {
                write!(f, "conninfo: missing \"=\" after {}", word_name(*word, *key))
            }
            ConninfoError::UnterminatedQuote { word, key } => write!(
                f,
                "conninfo: unterminated quote in the value of {}",
                word_name(*word, *key)
            ),
            ConninfoError::MissingParamEquals { param, key } => match key {
                Some(k) => write!(f, "conninfo URI: parameter {k:?} has no \"=\""),
                None => write!(
                    f,
                    "conninfo URI: parameter {param} has no \"=\" (not a libpq keyword, not shown)"
                ),
            },
            ConninfoError::BadPercent { part } => {
                write!(f, "conninfo URI: bad percent-encoding in {part}")
            }
            ConninfoError::AmbiguousAt => write!(
                f,
                "conninfo URI: where the user name and password end is ambiguous (more than one \"@\", or an \"@\" after a \"/\" or \"?\"); percent-encode \"@\" as %40, \"/\" as %2F and \"?\" as %3F in them"
            ),
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

mod mask;

use mask::keyword;
pub use mask::{mask, MaskedConninfo, KEYWORDS, SECRET_KEYWORDS};

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
            "password" => c.password = nonempty(value).map(Secret::new),
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
    // postgres::Config ends the user name and password at the first '@';
    // a second one would put the rest of the password into the host name.
    if base.matches('@').count() > 1 {
        return Err(ConninfoError::AmbiguousAt);
    }
    // A password with an unencoded '/' or '?' (libpq and postgres::Config
    // end the authority there) would be read as the port, the database
    // name or a parameter.
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    if let Some(at) = rest.rfind('@') {
        let before = &rest[..at];
        if before.contains(':') && before.contains(['/', '?']) {
            return Err(ConninfoError::AmbiguousAt);
        }
    }
    let cfg = postgres::Config::from_str(base).map_err(|e| ConninfoError::BadUri {
        detail: e.to_string(),
    })?;
    let info = Conninfo {
        host: cfg.get_hosts().first().map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(dir) => dir.display().to_string(),
        }),
        port: cfg.get_ports().first().copied(),
        user: cfg.get_user().map(str::to_string),
        dbname: cfg.get_dbname().map(str::to_string),
        password: cfg
            .get_password()
            .map(|b| {
                String::from_utf8(b.to_vec()).map(Secret::new).map_err(|_| {
                    ConninfoError::BadPercent {
                        part: UriPart::Password,
                    }
                })
            })
            .transpose()?,
        ..Conninfo::default()
    };
    let mut d = Draft {
        info,
        hostaddr: None,
    };
    for (i, param) in query.split('&').filter(|p| !p.is_empty()).enumerate() {
        let n = i + 1;
        let (k, v) = param
            .split_once('=')
            .ok_or_else(|| ConninfoError::MissingParamEquals {
                param: n,
                key: keyword(param),
            })?;
        let k = percent_decode(k).ok_or(ConninfoError::BadPercent {
            part: UriPart::ParamName { n },
        })?;
        let v = percent_decode(v).ok_or(ConninfoError::BadPercent {
            part: UriPart::ParamValue {
                n,
                key: keyword(&k),
            },
        })?;
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

/// `s` percent-decoded; `None` for a `%` without two hex digits or a
/// result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `key=value` pairs of a conninfo in that form, in order (values may
/// be single-quoted with backslash escapes; spaces around `=` allowed).
pub fn pairs(s: &str) -> Result<Vec<(String, String)>, ConninfoError> {
    match scan(s) {
        (_, Some((e, _))) => Err(e),
        (words, None) => Ok(words.into_iter().map(|w| (w.key, w.text)).collect()),
    }
}

/// One `key=value` of the `key=value` form.
struct Word {
    /// Where the word (its key) starts.
    start: usize,
    key: String,
    /// The value, unquoted and unescaped.
    text: String,
    /// Where the value stands in the conninfo, quotes included.
    value: std::ops::Range<usize>,
}

/// The words of the `key=value` form up to the first error, and the
/// error with the byte offset of the word it is in.
fn scan(s: &str) -> (Vec<Word>, Option<(ConninfoError, usize)>) {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
        while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            chars.next();
        }
    };
    loop {
        skip_ws(&mut chars);
        let Some(&(start, _)) = chars.peek() else {
            return (out, None);
        };
        let word = out.len() + 1;
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        skip_ws(&mut chars);
        if chars.next().map(|(_, c)| c) != Some('=') {
            let e = ConninfoError::MissingEquals {
                word,
                key: keyword(&key),
            };
            return (out, Some((e, start)));
        }
        skip_ws(&mut chars);
        let from = chars.peek().map_or(s.len(), |(i, _)| *i);
        let mut text = String::new();
        if chars.peek().map(|(_, c)| *c) == Some('\'') {
            chars.next();
            loop {
                match chars.next().map(|(_, c)| c) {
                    None => {
                        let e = ConninfoError::UnterminatedQuote {
                            word,
                            key: keyword(&key),
                        };
                        return (out, Some((e, start)));
                    }
                    Some('\\') => {
                        if let Some((_, c)) = chars.next() {
                            text.push(c)
                        }
                    }
                    Some('\'') => break,
                    Some(c) => text.push(c),
                }
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some((_, n)) = chars.next() {
                        text.push(n);
                    }
                } else {
                    text.push(c);
                }
            }
        }
        let to = chars.peek().map_or(s.len(), |(i, _)| *i);
        out.push(Word {
            start,
            key,
            text,
            value: from..to,
        });
    }
}

#[cfg(test)]
mod tests;
