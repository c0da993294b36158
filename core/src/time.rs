//! Sahara's timestamp format: `YYYY-MM-DDTHH:MM:SS`, UTC, no zone suffix.

use chrono::{DateTime, Utc};
use serde::Serializer;

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

pub fn format(t: &DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // Written out: chrono's `format` parses FORMAT again on every call,
    // and every job in a list has four times.
    match t.year() {
        year @ 0..=9999 => {
            format!("{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.month(), t.day(), t.hour(), t.minute(), t.second())
        }
        _ => t.format(FORMAT).to_string(),
    }
}

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
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
