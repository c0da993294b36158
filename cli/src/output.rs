//! How things are shown: JSON for scripts, aligned tables for people, and
//! the small formatting rules (times, durations, quoting) shared by every
//! command.

use std::io::Write;

use chrono::{DateTime, NaiveDateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

use crate::error::code;

/// Pretty JSON on stdout, one document per call.
pub fn json(value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    println!("{text}");
}

/// Borderless columns with a header row, like `ps`: easy to read and to
/// `grep`/`awk` when --json is too much.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    table.set_header(header.iter().map(|h| h.to_string()));
    for row in rows {
        table.add_row(row);
    }
    // comfy-table pads every cell with a space on the left; trim it.
    let text = table.to_string();
    let mut out = std::io::stdout().lock();
    for line in text.lines() {
        let _ = writeln!(out, "{}", line.strip_prefix(' ').unwrap_or(line).trim_end());
    }
}

/// `key: value` lines with the values aligned.
pub fn fields(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (key, value) in rows {
        println!("{:<width$} {value}", format!("{key}:"));
    }
}

/// A string field, or "" when absent or not a string.
pub fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Sahara's timestamps: `YYYY-MM-DDTHH:MM:SS` in UTC without a zone (edp
/// keeps that shape); RFC 3339 accepted too.
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .map(|t| t.and_utc())
}

/// `3s`, `4m05s`, `2h03m`: short enough for a column.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// How long a job ran (or has been running): end or now, minus start or
/// creation. Server times against the local clock, so a skewed clock can
/// only make a running job's elapsed time wrong, never negative.
pub fn elapsed(job: &Value) -> Option<i64> {
    let begin = parse_time(&text(job, "start_time")).or_else(|| parse_time(&text(job, "created_at")))?;
    let end = parse_time(&text(job, "end_time")).unwrap_or_else(Utc::now);
    Some((end - begin).num_seconds().max(0))
}

/// A job's status: `info.status` (Sahara's field), else the top-level copy.
pub fn status(job: &Value) -> String {
    job.pointer("/info/status").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| text(job, "status"))
}

pub fn is_terminal(status: &str) -> bool {
    matches!(status.to_ascii_uppercase().as_str(), "SUCCEEDED" | "FAILED" | "KILLED" | "DONEWITHERROR")
}

/// The exit code for a finished job: only SUCCEEDED is success.
pub fn outcome_code(status: &str) -> i32 {
    if status.eq_ignore_ascii_case("SUCCEEDED") { code::OK } else { code::JOB_FAILED }
}

/// `maps 3/8, reduces 0/2` from `info.progress.stages`.
pub fn progress(job: &Value) -> Option<String> {
    let stages = job.pointer("/info/progress/stages")?.as_array()?;
    let parts: Vec<String> = stages
        .iter()
        .map(|s| {
            format!("{} {}/{}", text(s, "name"), s["done"].as_u64().unwrap_or(0), s["total"].as_u64().unwrap_or(0))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// POSIX shell quoting, for printing an argv so it can be pasted.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe { arg.to_string() } else { format!("'{}'", arg.replace('\'', r#"'\''"#)) }
}

/// A command line to paste into a shell: `env K=V ... argv...`, every
/// word quoted as it needs.
pub fn command_line(env: &[(String, String)], argv: &[String]) -> String {
    let mut words = Vec::with_capacity(env.len() + argv.len() + 1);
    if !env.is_empty() {
        words.push("env".to_string());
        words.extend(env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v))));
        // A program whose name has `=` would be read as one more variable.
        if argv.first().is_some_and(|p| p.contains('=')) {
            words.push("--".into());
        }
    }
    words.extend(argv.iter().map(|a| shell_quote(a)));
    words.join(" ")
}

/// A note for the person at the terminal, on stderr so stdout stays the
/// command's output.
pub fn note(message: impl std::fmt::Display) {
    eprintln!("edp: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        let t = parse_time("2024-05-01T10:00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-05-01T10:00:00+00:00");
        assert!(parse_time("2024-05-01T10:00:00Z").is_some());
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(65), "1m05s");
        assert_eq!(duration(7300), "2h01m");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a/b.sh"), "/a/b.sh");
        assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn command_lines() {
        let env = [("A".to_string(), "x y".to_string())];
        let argv = ["/bin/sh".to_string(), "run.sh".into(), "a b".into(), "$(id)".into()];
        assert_eq!(command_line(&env, &argv), r#"env A='x y' /bin/sh run.sh 'a b' '$(id)'"#);
        assert_eq!(command_line(&[], &argv[..2]), "/bin/sh run.sh");
    }

    #[test]
    fn outcomes() {
        assert_eq!(outcome_code("SUCCEEDED"), 0);
        assert_eq!(outcome_code("KILLED"), 1);
        assert!(is_terminal("DONEWITHERROR"));
        assert!(!is_terminal("TOBEKILLED"));
    }
}
