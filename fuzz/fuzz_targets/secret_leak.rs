//! No password reaches any output. The input (NUL-separated pieces, the
//! first byte choosing the form) builds a password that holds a marker, a
//! conninfo that holds that password where libpq reads a password (or a
//! word libpq would refuse), a server error that quotes it, and command-line
//! arguments that carry it where no option takes it. Everything else is
//! random text with the marker taken out. Then
//! `pgpoolwatch::every_output::render_all` renders them through every
//! output that is a pure function (the one list the deterministic test in
//! src/secret/leaks.rs uses too). Invariant: no output holds the marker's
//! core.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgpoolwatch::cluster::ProbeError;
use pgpoolwatch::every_output::render_all;
use pgpoolwatch::secret::Secret;

const MARK: &str = "ZqX9Mk7pwLEAKq9Jv";
/// What no output may hold (the marker's middle: a leak of part of it).
const CORE: &str = "k7pwLEAK";

/// `s` with the marker's core taken out (removing it may join a new one).
fn clean(s: &str) -> String {
    let mut s = s.replace('\0', "");
    while s.contains(CORE) {
        s = s.replace(CORE, "");
    }
    s
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn backslashed(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c.is_whitespace() || c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-encodes the bytes of `v` that `keep` does not keep.
fn pct(v: &str, keep: impl Fn(u8) -> bool) -> String {
    v.bytes()
        .map(|b| {
            if keep(b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn check(what: &str, case: &str, out: &str) {
    assert!(
        !out.contains(CORE),
        "{what} shows the password of {case:?}:\n{out}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut pieces = text.split('\0').map(clean);
    let mut next = || pieces.next().unwrap_or_default();
    let (before, after, around, junk, server) = (next(), next(), next(), next(), next());
    let mid = around
        .char_indices()
        .nth(around.chars().count() / 2)
        .map_or(around.len(), |(i, _)| i);
    let (a, b) = around.split_at(mid);
    // The password: random text around the marker.
    let pw = format!("{a}{MARK}{b}");
    let word_pw: String = pw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '=' && *c != '\'' && *c != '\\')
        .collect();
    let enc = |v: &str| {
        pct(v, |c| {
            c.is_ascii_alphanumeric() || form & 0x80 != 0 && c != b'@'
        })
    };
    let conninfo = match form % 8 {
        0 => format!("host={} password={} {after}", quote(&before), quote(&pw)),
        1 => format!(
            "host={} password={} {after}",
            quote(&before),
            backslashed(&pw)
        ),
        2 => format!("password = {} {before}{after}", quote(&pw)),
        3 => format!("host={} {word_pw} {after}", quote(&before)),
        4 => format!("host={} {word_pw}={after}", quote(&before)),
        5 => format!(
            "postgresql://{}:{}@{}{after}",
            pct(&junk, |c| c.is_ascii_alphanumeric()),
            enc(&pw),
            pct(&before, |c| c.is_ascii_alphanumeric() || c == b'.')
        ),
        6 => format!(
            "postgresql://{}/db?{}&password={}&{after}",
            pct(&before, |c| c.is_ascii_alphanumeric() || c == b'.'),
            junk.replace('&', ""),
            enc(&pw)
        ),
        _ => format!("postgres://u:{pw}@db2/x?{after}"),
    };
    let secret = Secret::new(pw.clone());
    let case = conninfo.as_str();
    // A server that quotes the password, as the sessions keep its message.
    let quoted = ProbeError::failed("db2", 5432, "connect", format!("{server}{pw}{junk}"))
        .redacted(Some(&secret));

    // Arguments that carry the password where no option takes it, and
    // `--password` then a value that starts with '@' (which names a file).
    // A lone argument `@...` names a file as the operator wrote it.
    let mut strays = vec![
        vec![format!("--password {pw}")],
        // An option no program knows (a known option's bad value is shown:
        // it is no password's place, and the operator must see it).
        vec![format!("--x-{junk}={pw}")],
        vec![format!("--passwd={pw}")],
        vec!["--password".to_string(), format!("@{pw}")],
    ];
    if !word_pw.starts_with('@') {
        strays.push(vec![word_pw.clone()]);
    }
    for o in render_all(&conninfo, &quoted, &strays) {
        check(&o.what, case, &o.text);
    }
});
