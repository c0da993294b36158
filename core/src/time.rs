//! Sahara's timestamp format: `YYYY-MM-DDTHH:MM:SS`, UTC, no zone suffix.

use chrono::{DateTime, Utc};
use serde::Serializer;

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

pub fn format(t: &DateTime<Utc>) -> String {
    match Sahara::of(t) {
        Some(text) => text.as_str().to_string(),
        None => t.format(FORMAT).to_string(),
    }
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    match Sahara::of(t) {
        Some(text) => s.serialize_str(text.as_str()),
        None => s.serialize_str(&t.format(FORMAT).to_string()),
    }
}

/// A timestamp of years 0–9999 in Sahara's format, written into a buffer
/// on the stack: chrono's `format` parses FORMAT again on every call, and
/// `format!` allocates; every job shown has four times (issue 16).
struct Sahara([u8; 19]);

impl Sahara {
    fn of(t: &DateTime<Utc>) -> Option<Self> {
        use chrono::{Datelike, Timelike};
        let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut b = *b"0000-00-00T00:00:00";
        let digits = |b: &mut [u8], n: u32| {
            let mut n = n;
            for d in b.iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        digits(&mut b[0..4], year);
        digits(&mut b[5..7], t.month());
        digits(&mut b[8..10], t.day());
        digits(&mut b[11..13], t.hour());
        digits(&mut b[14..16], t.minute());
        digits(&mut b[17..19], t.second());
        Some(Self(b))
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }
}

/// Now, truncated to microseconds: what both SQLite and Postgres keep, so a
/// value read back equals the value written.
pub fn now() -> DateTime<Utc> {
    use chrono::{SubsecRound, Timelike};
    let t = Utc::now();
    t.with_nanosecond(t.nanosecond() / 1_000 * 1_000).unwrap_or_else(|| t.trunc_subsecs(6))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn written_out_as_chrono_writes_it() {
        for (y, mo, d, h, mi, s) in
            [(2026, 12, 6, 5, 7, 9), (1, 1, 1, 0, 0, 0), (9999, 12, 31, 23, 59, 59), (987, 10, 20, 11, 30, 45)]
        {
            let t = Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap();
            assert_eq!(format(&t), t.format(FORMAT).to_string());
        }
        let far = Utc.with_ymd_and_hms(12026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(format(&far), far.format(FORMAT).to_string());
    }
}
