//! Masking: what a conninfo shows of itself. libpq's tools print
//! `password=********`; a word libpq would refuse is masked whole, and so
//! is everything after a word that makes no sense.

use std::fmt;

use super::{parse, percent_decode, scan, Conninfo, ConninfoError};
use crate::secret::MASK;

/// libpq's connection keywords (PostgreSQL 9.6 to 18). A value is shown
/// only under one of these that is not in [`SECRET_KEYWORDS`]: libpq
/// refuses any other keyword, so what stands there may be a mistyped
/// `password` and its value a password.
pub const KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
    // The URI form's JDBC spelling of sslmode=require.
    "ssl",
];

/// Keywords whose value is a secret (libpq displays them as `*`).
pub const SECRET_KEYWORDS: &[&str] = &[
    "password",
    "sslpassword",
    "scram_client_key",
    "scram_server_key",
    "oauth_client_secret",
];

/// `key` as one of libpq's keywords, if it is one.
pub(super) fn keyword(key: &str) -> Option<&'static str> {
    KEYWORDS.iter().copied().find(|k| *k == key)
}

/// Whether a value under `key` may be shown.
fn shown(key: &str) -> bool {
    keyword(key).is_some() && !SECRET_KEYWORDS.contains(&key)
}

/// A conninfo as it comes from outside (repmgr's metadata): what it says,
/// and its text with every secret masked as libpq's tools mask it
/// (`password=********`, `postgresql://u:********@h`). The text as read
/// is not kept, so nothing later can print it. `Display` and `Debug` are
/// the masked text.
#[derive(Clone, PartialEq, Eq)]
pub struct MaskedConninfo {
    masked: String,
    read: Result<Conninfo, ConninfoError>,
}

impl MaskedConninfo {
    /// Reads and masks `raw`.
    pub fn new(raw: &str) -> MaskedConninfo {
        MaskedConninfo {
            masked: mask(raw),
            read: parse(raw),
        }
    }

    /// The text with its secrets masked: what a report shows.
    pub fn as_str(&self) -> &str {
        &self.masked
    }

    /// What the conninfo says, or why it could not be read.
    pub fn read(&self) -> Result<&Conninfo, &ConninfoError> {
        self.read.as_ref()
    }

    /// Host and port with libpq's defaults ([`Conninfo::host_port`]).
    pub fn host_port(&self) -> Result<(String, u16), ConninfoError> {
        self.read
            .as_ref()
            .map(Conninfo::host_port)
            .map_err(Clone::clone)
    }
}

impl fmt::Display for MaskedConninfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

impl fmt::Debug for MaskedConninfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked)
    }
}

/// `conninfo` with the value of every secret keyword, and every word that
/// is not a libpq keyword (key and value), replaced by [`MASK`]: the URI
/// form's `user:password@` too. Where the text stops making sense (a
/// missing `=`, an open quote), everything from there on is masked.
pub fn mask(conninfo: &str) -> String {
    let s = conninfo;
    let t = s.trim_start();
    if t.starts_with("postgresql://") || t.starts_with("postgres://") {
        return mask_uri(s);
    }
    let (words, error) = scan(s);
    let mut out = String::new();
    let mut last = 0;
    for w in &words {
        if keyword(&w.key).is_none() {
            // Not libpq's: the word, key and value, may be a password.
            out.push_str(&s[last..w.start]);
        } else {
            out.push_str(&s[last..w.value.start]);
            if shown(&w.key) {
                out.push_str(&s[w.value.clone()]);
            } else {
                out.push_str(MASK);
            }
        }
        if keyword(&w.key).is_none() {
            out.push_str(MASK);
        }
        last = w.value.end;
    }
    match error {
        Some((_, at)) => {
            out.push_str(&s[last..at]);
            out.push_str(MASK);
        }
        None => out.push_str(&s[last..]),
    }
    out
}

/// [`mask`] for the URI form.
fn mask_uri(s: &str) -> String {
    let Some(i) = s.find("://") else {
        return MASK.to_string();
    };
    let (scheme, rest) = s.split_at(i + 3);
    let mut out = scheme.to_string();
    // The password ends at the last '@' (libpq: the first before a '/';
    // postgres::Config: the first anywhere): masking from the first ':'
    // up to the last '@' covers every reading.
    let (tail, in_query) = match rest.rfind('@') {
        Some(at) if rest[..at].contains(':') => {
            let colon = rest.find(':').unwrap_or(at);
            let head = &rest[..=colon];
            // The ':' may stand in the query: mask what precedes it there.
            match head.find('?') {
                Some(q) => {
                    out.push_str(&head[..=q]);
                    out.push_str(&mask_params(&head[q + 1..]));
                }
                None => out.push_str(head),
            }
            out.push_str(MASK);
            (&rest[at..], rest[..at].contains('?'))
        }
        _ => (rest, false),
    };
    if in_query {
        // What follows the '@' is still the query's.
        out.push('@');
        out.push_str(&mask_params(&tail[1..]));
        return out;
    }
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..=q]);
            out.push_str(&mask_params(&tail[q + 1..]));
        }
        None => out.push_str(tail),
    }
    out
}

/// A URI's `k=v&...` with the value of every secret keyword masked, and
/// every other parameter that is not libpq's (or has no `=`) masked whole.
fn mask_params(query: &str) -> String {
    let params: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            _ if p.is_empty() => String::new(),
            Some((k, _)) => match percent_decode(k) {
                Some(key) if shown(&key) => p.to_string(),
                Some(key) if keyword(&key).is_some() => format!("{k}={MASK}"),
                _ => MASK.to_string(),
            },
            None => MASK.to_string(),
        })
        .collect();
    params.join("&")
}
