//! The value forms config.ini keys take (seconds, counts, ports, names,
//! paths, ...): how each is parsed from the file's text, what an error says
//! was expected, and the caps that keep a value from overflowing the clock.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The largest value a seconds key takes; above it the value is refused
/// (a `Duration` that large would overflow `Instant + Duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub secs: u64,
    /// The cap in words: `one day`.
    pub name: &'static str,
}

/// check_period's cap.
pub static DAY: Cap = Cap {
    secs: 86_400,
    name: "one day",
};
/// The timeouts' cap (connect_timeout, startup_grace).
pub static HOUR: Cap = Cap {
    secs: 3_600,
    name: "one hour",
};

impl Cap {
    /// Whether `d` is within the cap.
    pub fn allows(self, d: Duration) -> bool {
        d <= Duration::from_secs(self.secs)
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {} ({})", self.secs, self.name)
    }
}

/// A typed value given on the command line for a key (a flag such as
/// `--check-period 2.5` is `[pgp] check_period` already parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Seconds(Duration),
    Count(u64),
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Seconds(d) => write!(f, "{}", secs_text(*d)),
            Value::Count(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{}", yes_no(*b)),
        }
    }
}

pub(crate) const SECS_OR_ZERO: &str = "seconds >= 0, e.g. 15 or 0 (off)";
pub(crate) const SECS: &str = "seconds > 0, e.g. 10 or 2.5";
pub(crate) const BOOL: &str = "yes/no, true/false, on/off or 1/0";
pub(crate) const PORT: &str = "a port number 1..65535";
pub(crate) const PORT_OR_OFF: &str = "a port number 1..65535, or off";
pub(crate) const COUNT: &str = "a whole number >= 1";
pub(crate) const HOST: &str = "a host name or IP address";
pub(crate) const NAME: &str = "a name without spaces";
pub(crate) const PATH: &str = "a path";
pub(crate) const IP: &str = "an IP address such as 0.0.0.0 or 127.0.0.1";

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Seconds > 0 (any size a `Duration` holds; the caps are checked apart,
/// so that a too-large value gets its own message).
pub(crate) fn parse_secs(v: &str) -> Option<Duration> {
    let f: f64 = v.trim().parse().ok()?;
    if !f.is_finite() || f <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(f).ok().filter(|d| !d.is_zero())
}

/// Seconds >= 0 (0 switches a delay off).
pub(crate) fn parse_secs_or_zero(v: &str) -> Option<Duration> {
    let f: f64 = v.trim().parse().ok()?;
    if !f.is_finite() || f < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(f).ok()
}

/// Whether `v` is a finite number of seconds too large for any cap (or for
/// a `Duration`): such a value is "too large", not "not valid".
pub(crate) fn huge_secs(v: &str) -> bool {
    v.trim()
        .parse::<f64>()
        .is_ok_and(|f| f.is_finite() && f > 0.0 && Duration::try_from_secs_f64(f).is_err())
}

pub(crate) fn parse_port(v: &str) -> Option<u16> {
    v.trim().parse::<u16>().ok().filter(|p| *p >= 1)
}

/// A port, or `off` / `none` / empty for no port (`Some(None)`).
pub(crate) fn parse_port_or_off(v: &str) -> Option<Option<u16>> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "off" | "none" => Some(None),
        _ => parse_port(v).map(Some),
    }
}

pub(crate) fn parse_at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(
    v: &str,
) -> Option<T> {
    v.trim().parse::<T>().ok().filter(|n| *n >= T::from(1u8))
}

pub(crate) fn parse_word(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty() && !v.contains(char::is_whitespace)).then(|| v.to_string())
}

pub(crate) fn parse_path(v: &str) -> Option<PathBuf> {
    let v = v.trim();
    (!v.is_empty()).then(|| PathBuf::from(v))
}

/// Seconds as `--check-config` prints them: `10`, `2.5`.
pub(crate) fn secs_text(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

pub(crate) fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
