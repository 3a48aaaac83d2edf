//! The local wall-clock time as Python's `str(datetime.now())` prints it
//! (`2017-07-29 17:33:54.419750`), because sendmail.py stamped every mail body
//! with exactly that and operators grep their mailboxes for it.
//!
//! The standard library has no time zones, so the conversion goes through the
//! C library's `localtime_r` ([`crate::plumbing::os::localtime`]), which honours `TZ`
//! and `/etc/localtime` with glibc and with musl alike. Formatting is pure
//! and tested on its own.
#![forbid(unsafe_code)]

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down local date and time with microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDateTime {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub microsecond: u32,
}

impl LocalDateTime {
    /// The current local time.
    pub fn now() -> LocalDateTime {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
        LocalDateTime::from_unix(secs, since.subsec_micros())
    }

    /// Converts seconds since the epoch (plus microseconds) to local time.
    /// If the C library cannot convert the value (far out of range), the
    /// result is UTC rather than a panic.
    pub fn from_unix(secs: i64, microsecond: u32) -> LocalDateTime {
        let (year, month, day, hour, minute, second) =
            local_fields(secs).unwrap_or_else(|| utc_fields(secs));
        LocalDateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            microsecond: microsecond.min(999_999),
        }
    }
}

/// Python's `datetime.__str__`: the microseconds are left out when they are 0.
impl fmt::Display for LocalDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.microsecond != 0 {
            write!(f, ".{:06}", self.microsecond)?;
        }
        Ok(())
    }
}

/// `str(datetime.now())` of the current local time.
pub fn now_string() -> String {
    LocalDateTime::now().to_string()
}

/// `t` as an ISO-8601 / RFC 3339 UTC time with milliseconds:
/// `2017-07-29T17:33:54.419Z` (the JSON documents' times).
pub fn iso8601_utc(t: SystemTime) -> String {
    let (secs, millis) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            d.subsec_millis(),
        ),
        Err(_) => (0, 0),
    };
    let (y, mo, d, h, mi, s) = utc_fields(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{millis:03}Z")
}

/// `t` as `2017-07-29 17:33:54 UTC` (the text report's times).
pub fn utc_text(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let (y, mo, d, h, mi, s) = utc_fields(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

type Fields = (i64, u32, u32, u32, u32, u32);

fn local_fields(secs: i64) -> Option<Fields> {
    let (year, mon, mday, hour, min, sec) = crate::plumbing::os::localtime(secs)?;
    Some((
        i64::from(year) + 1900,
        u32::try_from(mon + 1).ok()?,
        u32::try_from(mday).ok()?,
        u32::try_from(hour).ok()?,
        u32::try_from(min).ok()?,
        // tm_sec may be 60 on a leap second; Python would show 59.
        u32::try_from(sec.min(59)).ok()?,
    ))
}

/// UTC fields without the C library (Howard Hinnant's days-to-civil).
fn utc_fields(secs: i64) -> Fields {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month as u32,
        day as u32,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(fields: Fields, microsecond: u32) -> LocalDateTime {
        let (year, month, day, hour, minute, second) = fields;
        LocalDateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
            microsecond,
        }
    }

    #[test]
    fn formats_like_python_datetime_str() {
        let d = dt((2017, 7, 29, 17, 33, 54), 419_750);
        assert_eq!(d.to_string(), "2017-07-29 17:33:54.419750");
        let d = dt((2017, 7, 29, 17, 33, 54), 50);
        assert_eq!(d.to_string(), "2017-07-29 17:33:54.000050");
        // Python leaves the fraction out when it is zero.
        let d = dt((2001, 1, 2, 3, 4, 5), 0);
        assert_eq!(d.to_string(), "2001-01-02 03:04:05");
    }

    #[test]
    fn utc_fallback_matches_known_dates() {
        assert_eq!(utc_fields(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(utc_fields(1_501_349_634), (2017, 7, 29, 17, 33, 54));
        assert_eq!(utc_fields(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(utc_fields(-1), (1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn iso8601_and_text_utc() {
        use std::time::Duration;
        let t = UNIX_EPOCH + Duration::from_millis(1_501_349_634_419);
        assert_eq!(iso8601_utc(t), "2017-07-29T17:33:54.419Z");
        assert_eq!(utc_text(t), "2017-07-29 17:33:54 UTC");
        assert_eq!(iso8601_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            utc_text(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00 UTC"
        );
    }

    #[test]
    fn local_time_is_within_a_day_of_utc() {
        // The zone of the test machine is unknown; any zone is within 26 h of UTC.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        let local = LocalDateTime::from_unix(now, 0);
        let (y, mo, d, h, mi, s) = utc_fields(now);
        let as_utc_secs = |y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32| {
            // Inverse of utc_fields via search over +-27h is overkill; compare day numbers.
            let a = if mo <= 2 { y - 1 } else { y };
            let era = a.div_euclid(400);
            let yoe = a - era * 400;
            let mp = (i64::from(mo) + 9) % 12;
            let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            let days = era * 146_097 + doe - 719_468;
            days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)
        };
        assert_eq!(as_utc_secs(y, mo, d, h, mi, s), now, "inverse is exact");
        let offset = as_utc_secs(
            local.year,
            local.month,
            local.day,
            local.hour,
            local.minute,
            local.second,
        ) - now;
        assert!(offset.abs() <= 26 * 3600, "offset {offset}s from {local}");
    }
}
