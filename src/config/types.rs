//! What each row of the key table holds: a [`Type`] ties a value form (see
//! [`super::value`]) to the `Settings` field it fills, so reading a key,
//! copying a followed key and printing it for `--check-config` are written
//! once per form instead of once per key.

use super::tls::SslMode;
use super::value::{self as v, Cap, Value};
use super::{Problem, Settings};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where a key's value lives in [`Settings`].
pub struct Field<T: 'static> {
    pub get: fn(&Settings) -> &T,
    pub set: fn(&mut Settings) -> &mut T,
}

// Two fn pointers: copyable whatever T is (a derive would ask T: Copy).
impl<T> Clone for Field<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Field<T> {}

/// A key's value form and its field.
#[derive(Clone, Copy)]
pub enum Type {
    /// Seconds > 0, up to `cap`.
    Seconds {
        cap: &'static Cap,
        field: Field<Duration>,
    },
    /// Seconds >= 0 (0 = off), up to `cap`; unset means `resolved` computes it.
    SecondsOrOff {
        cap: &'static Cap,
        field: Field<Option<Duration>>,
        resolved: fn(&Settings) -> Duration,
    },
    /// A whole number >= 1.
    Count(Field<u64>),
    /// A whole number >= 1 (rise, fall).
    SmallCount(Field<u32>),
    Bool(Field<bool>),
    Port(Field<u16>),
    /// A port, or `off` (also empty or `none`): no listener.
    OptPort(Field<Option<u16>>),
    Host(Field<String>),
    Name(Field<String>),
    Path(Field<PathBuf>),
    /// A path kept as text (disk_path, handed to `df`).
    PathText(Field<String>),
    /// A path; empty means the default file, which `unset` describes for
    /// `--check-config`.
    OptPath {
        field: Field<Option<PathBuf>>,
        unset: fn(&Settings) -> String,
    },
    Ip(Field<IpAddr>),
    /// An IP address; unset means `resolved` computes it.
    IpOr {
        field: Field<Option<IpAddr>>,
        resolved: fn(&Settings) -> IpAddr,
    },
    SslMode(Field<SslMode>),
}

/// Why a value was refused (the place is added by the reader).
pub(crate) fn invalid(value: &str, expected: &'static str) -> Problem {
    Problem::Invalid {
        value: value.into(),
        expected,
    }
}

fn put<T>(
    s: &mut Settings,
    f: Field<T>,
    x: Option<T>,
    value: &str,
    exp: &'static str,
) -> Result<(), Problem> {
    let x = x.ok_or_else(|| invalid(value, exp))?;
    *(f.set)(s) = x;
    Ok(())
}

fn capped(
    d: Duration,
    cap: &'static Cap,
    value: &str,
    exp: &'static str,
) -> Result<Duration, Problem> {
    if cap.allows(d) {
        Ok(d)
    } else {
        Err(Problem::TooLarge {
            value: value.into(),
            expected: exp,
            cap,
        })
    }
}

impl Type {
    /// What a valid value looks like, for error messages.
    pub fn expected(&self) -> &'static str {
        match self {
            Type::Seconds { .. } => v::SECS,
            Type::SecondsOrOff { .. } => v::SECS_OR_ZERO,
            Type::Count(_) | Type::SmallCount(_) => v::COUNT,
            Type::Bool(_) => v::BOOL,
            Type::Port(_) => v::PORT,
            Type::OptPort(_) => v::PORT_OR_OFF,
            Type::Host(_) => v::HOST,
            Type::Name(_) => v::NAME,
            Type::Path(_) | Type::PathText(_) | Type::OptPath { .. } => v::PATH,
            Type::Ip(_) | Type::IpOr { .. } => v::IP,
            Type::SslMode(_) => SslMode::EXPECTED,
        }
    }

    /// The cap of a seconds key.
    pub fn cap(&self) -> Option<&'static Cap> {
        match self {
            Type::Seconds { cap, .. } | Type::SecondsOrOff { cap, .. } => Some(cap),
            _ => None,
        }
    }

    /// Parses `value` (the file's text) into the field.
    pub fn read(&self, s: &mut Settings, value: &str) -> Result<(), Problem> {
        let exp = self.expected();
        let too_large = |cap| Problem::TooLarge {
            value: value.into(),
            expected: exp,
            cap,
        };
        match *self {
            Type::Seconds { cap, field } => {
                let d = match v::parse_secs(value) {
                    Some(d) => capped(d, cap, value, exp)?,
                    None if v::huge_secs(value) => return Err(too_large(cap)),
                    None => return Err(invalid(value, exp)),
                };
                *(field.set)(s) = d;
                Ok(())
            }
            Type::SecondsOrOff { cap, field, .. } => {
                let d = match v::parse_secs_or_zero(value) {
                    Some(d) => capped(d, cap, value, exp)?,
                    None if v::huge_secs(value) => return Err(too_large(cap)),
                    None => return Err(invalid(value, exp)),
                };
                *(field.set)(s) = Some(d);
                Ok(())
            }
            Type::Count(f) => put(s, f, v::parse_at_least_one::<u64>(value), value, exp),
            Type::SmallCount(f) => put(s, f, v::parse_at_least_one::<u32>(value), value, exp),
            Type::Bool(f) => put(s, f, v::parse_bool(value), value, exp),
            Type::Port(f) => put(s, f, v::parse_port(value), value, exp),
            Type::OptPort(f) => put(s, f, v::parse_port_or_off(value), value, exp),
            Type::Host(f) | Type::Name(f) => put(s, f, v::parse_word(value), value, exp),
            Type::Path(f) => put(s, f, v::parse_path(value), value, exp),
            Type::PathText(f) => {
                let p = v::parse_path(value).map(|p| p.to_string_lossy().into_owned());
                put(s, f, p, value, exp)
            }
            // An empty value means the default file.
            Type::OptPath { field, .. } => put(s, field, Some(v::parse_path(value)), value, exp),
            Type::Ip(f) => put(s, f, value.trim().parse().ok(), value, exp),
            Type::IpOr { field, .. } => {
                let ip = value.trim().parse().ok().map(Some);
                put(s, field, ip, value, exp)
            }
            Type::SslMode(f) => put(s, f, SslMode::parse(value), value, exp),
        }
    }

    /// Puts a flag's typed value into the field, checked as the file's
    /// text would be. `None`: the flag's value is of another form than the
    /// key (a programming error, which a unit test rules out).
    pub fn give(&self, s: &mut Settings, value: &Value) -> Option<Result<(), Problem>> {
        let exp = self.expected();
        let text = value.to_string();
        Some(match (*self, value) {
            (Type::Seconds { cap, field }, Value::Seconds(d)) => {
                if d.is_zero() {
                    Err(invalid(&text, exp))
                } else {
                    capped(*d, cap, &text, exp).map(|d| *(field.set)(s) = d)
                }
            }
            (Type::Count(f), Value::Count(n)) => put(s, f, (*n >= 1).then_some(*n), &text, exp),
            (Type::Bool(f), Value::Bool(b)) => put(s, f, Some(*b), &text, exp),
            _ => return None,
        })
    }

    /// Sets this key's field to the value of `from`'s (a key that follows
    /// another); `false` when the two are of different forms.
    pub fn copy_from(&self, from: &Type, s: &mut Settings) -> bool {
        fn cp<T: Clone>(s: &mut Settings, to: Field<T>, from: Field<T>) -> bool {
            let x = (from.get)(s).clone();
            *(to.set)(s) = x;
            true
        }
        match (*self, *from) {
            (Type::Seconds { field: a, .. }, Type::Seconds { field: b, .. }) => cp(s, a, b),
            (Type::Count(a), Type::Count(b)) => cp(s, a, b),
            (Type::SmallCount(a), Type::SmallCount(b)) => cp(s, a, b),
            (Type::Bool(a), Type::Bool(b)) => cp(s, a, b),
            (Type::Port(a), Type::Port(b)) => cp(s, a, b),
            (Type::OptPort(a), Type::OptPort(b)) => cp(s, a, b),
            (Type::Ip(a), Type::Ip(b)) => cp(s, a, b),
            (Type::IpOr { field: a, .. }, Type::IpOr { field: b, .. }) => cp(s, a, b),
            (Type::Host(a), Type::Host(b)) | (Type::Name(a), Type::Name(b)) => cp(s, a, b),
            (Type::Path(a), Type::Path(b)) => cp(s, a, b),
            (Type::OptPath { field: a, .. }, Type::OptPath { field: b, .. }) => cp(s, a, b),
            (Type::SslMode(a), Type::SslMode(b)) => cp(s, a, b),
            _ => false,
        }
    }

    /// The value in force, as `--check-config` prints it.
    pub fn render(&self, s: &Settings) -> String {
        match *self {
            Type::Seconds { field, .. } => v::secs_text(*(field.get)(s)),
            Type::SecondsOrOff { resolved, .. } => v::secs_text(resolved(s)),
            Type::Count(f) => (f.get)(s).to_string(),
            Type::SmallCount(f) => (f.get)(s).to_string(),
            Type::Bool(f) => v::yes_no(*(f.get)(s)).to_string(),
            Type::Port(f) => (f.get)(s).to_string(),
            Type::OptPort(f) => (f.get)(s).map_or_else(|| "off".to_string(), |p| p.to_string()),
            Type::Host(f) | Type::Name(f) | Type::PathText(f) => (f.get)(s).clone(),
            Type::Path(f) => (f.get)(s).display().to_string(),
            Type::OptPath { field, unset } => match (field.get)(s) {
                Some(p) => p.display().to_string(),
                None => unset(s),
            },
            Type::Ip(f) => (f.get)(s).to_string(),
            Type::IpOr { resolved, .. } => resolved(s).to_string(),
            Type::SslMode(f) => (f.get)(s).as_str().to_string(),
        }
    }
}
