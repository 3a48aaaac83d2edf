//! Secrets are values that never render. A password is wrapped in a
//! [`Secret`] where it is read (a conninfo, `.pgpass`, args.txt), so no
//! later `Display`, `Debug`, log line, mail, JSON or error can show it:
//! both print `********`, as libpq's tools print `password=********`. The
//! one way to the text is [`Secret::expose`], called only where the value
//! goes to the server that asked for it.
//!
//! [`redact`] is the second line: text that came back from a peer (a
//! server's error message) may quote what we sent, so it is scrubbed of
//! the secrets in play before it is kept.

use std::fmt;

/// What a secret prints as, everywhere.
pub const MASK: &str = "********";

/// A password or other credential. `Debug` and `Display` print [`MASK`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it to its server.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

/// `text` with every occurrence of each non-empty secret replaced by
/// [`MASK`]. Secrets shorter than 4 characters are left alone: masking
/// every `a` of a server's message would hide the message and betray the
/// password's value by the holes it leaves.
pub fn redact<'a>(text: &str, secrets: impl IntoIterator<Item = &'a Secret>) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let v = s.expose();
        if v.chars().count() >= 4 && out.contains(v) {
            out = out.replace(v, MASK);
        }
    }
    out
}

/// Standard base64 with padding (what SMTP's AUTH sends), for [`redact`].
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_renders() {
        let s = Secret::new("pw-S3cr3t");
        assert_eq!(s.to_string(), MASK);
        assert_eq!(format!("{s:?}"), MASK);
        assert_eq!(format!("{:?}", Some(&s)), format!("Some({MASK})"));
        assert_eq!(s.expose(), "pw-S3cr3t");
    }

    #[test]
    fn redact_masks_every_occurrence_of_long_enough_secrets() {
        let s = Secret::new("hunter22");
        assert_eq!(
            redact("FATAL: bad hunter22 and hunter22", [&s]),
            "FATAL: bad ******** and ********"
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"\0u\0hunter22"), "AHUAaHVudGVyMjI=");
        let short = Secret::new("ab");
        assert_eq!(redact("abc", [&short]), "abc");
        assert_eq!(redact("x", std::iter::empty()), "x");
    }
}

#[cfg(test)]
mod leaks;
