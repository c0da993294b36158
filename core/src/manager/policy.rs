//! A job's policy: how many attempts, how long between them, how long one
//! may run. Given as `edp.job.*` job configs (server defaults in
//! `[jobs]`), checked at submit and frozen into `extra.policy` with the
//! attempt under way, so a change of defaults never alters a submitted job.
//!
//! **Retries.** Only a FAILED end is retried (never KILLED, never an end
//! while a cancel is under way). A retry is a write like any end, under the
//! lease and conditional on the status read: the row goes back to PENDING,
//! unlaunched, with the next attempt's number and a delay; the launch step
//! then submits it under a new submission tag ([`tag`]), so each attempt
//! reaches its engine at most once and its files and logs stay apart.
//!
//! **Timeouts.** An attempt's deadline is its `start_time` + `timeout_secs`;
//! a launched job's next look is never later than its deadline
//! ([`cap`]), and a job found past it is cancelled through its engine
//! ([`time_out`]); the cancel's end is KILLED "timed out after N s".

use chrono::{DateTime, Utc};
use edp_engine_api::wire::Object;
use sea_orm::{ActiveValue, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Edp;
use crate::db::Commit;
use crate::entity::job_execution::{ActiveModel, Model};
use crate::error::{Error, Result};
use crate::status::Status;
use crate::time;

use super::lease::Claimed;
use super::rows;

/// The longest delay between two attempts.
pub const MAX_RETRY_DELAY_SECS: u64 = 3600;
/// The most attempts a job may ask for.
pub const MAX_ATTEMPTS: u32 = 100;
/// The longest timeout: 30 days.
pub const MAX_TIMEOUT_SECS: u64 = 30 * 24 * 3600;

const MAX_ATTEMPTS_KEY: &str = "edp.job.max_attempts";
const RETRY_DELAY_KEY: &str = "edp.job.retry_delay_secs";
const TIMEOUT_KEY: &str = "edp.job.timeout_secs";
const KEYS: [&str; 3] = [MAX_ATTEMPTS_KEY, RETRY_DELAY_KEY, TIMEOUT_KEY];

/// The server-wide defaults (`[jobs]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub max_attempts: u32,
    pub retry_delay_secs: u64,
    /// 0: no timeout.
    pub timeout_secs: u64,
}

impl Default for Defaults {
    fn default() -> Self {
        Self { max_attempts: 1, retry_delay_secs: 10, timeout_secs: 0 }
    }
}

/// A submitted job's policy and the attempt under way, in `extra.policy`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    pub max_attempts: u32,
    pub retry_delay_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// 1-based.
    pub attempt: u32,
    /// The attempt was cancelled because it ran past its timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}

impl Policy {
    /// The policy `configs` ask for over `defaults`. Unknown `edp.job.*`
    /// keys and values out of range are refused, naming what is valid.
    pub(crate) fn from_configs(configs: &Object, defaults: Defaults) -> Result<Self> {
        for key in configs.keys().filter(|k| k.starts_with("edp.job.")) {
            if !KEYS.contains(&key.as_str()) {
                return Err(Error::Validation(format!(
                    "job_configs.configs.{key} is not a job policy: use {}",
                    KEYS.join(", ")
                )));
            }
        }
        let max_attempts = number(configs, MAX_ATTEMPTS_KEY, 1, u64::from(MAX_ATTEMPTS))?
            .map_or(defaults.max_attempts, |n| n as u32)
            .clamp(1, MAX_ATTEMPTS);
        let retry_delay_secs = number(configs, RETRY_DELAY_KEY, 0, MAX_RETRY_DELAY_SECS)?
            .unwrap_or(defaults.retry_delay_secs)
            .min(MAX_RETRY_DELAY_SECS);
        let timeout_secs =
            number(configs, TIMEOUT_KEY, 1, MAX_TIMEOUT_SECS)?.or(Some(defaults.timeout_secs)).filter(|&s| s > 0);
        Ok(Self { max_attempts, retry_delay_secs, timeout_secs, attempt: 1, timed_out: false })
    }

    /// The policy a row was submitted with (rows from before policies: one
    /// attempt, no timeout).
    pub(crate) fn of(row: &Model) -> Self {
        row.extra.get("policy").cloned().and_then(|p| serde_json::from_value(p).ok()).unwrap_or(Self {
            max_attempts: 1,
            retry_delay_secs: 0,
            timeout_secs: None,
            attempt: 1,
            timed_out: false,
        })
    }

    /// The wait before attempt `next` (2, 3, ...): the first delay, doubled
    /// per attempt after it, at most an hour.
    pub(crate) fn delay_before(&self, next: u32) -> u64 {
        let doublings = next.saturating_sub(2).min(20);
        self.retry_delay_secs.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY_SECS)
    }
}

/// A config value as a whole number within `[min, max]`: a JSON number or
/// a string of digits (Sahara's configs are often strings).
fn number(configs: &Object, key: &str, min: u64, max: u64) -> Result<Option<u64>> {
    let Some(value) = configs.get(key) else { return Ok(None) };
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(Error::Validation(format!(
            "job_configs.configs.{key} must be a whole number from {min} to {max}, not {value}"
        ))),
    }
}

/// The submission tag of an attempt: the execution id for the first (as
/// before policies existed), `<id>-a<N>` after it.
pub(crate) fn tag(id: &str, attempt: u32) -> String {
    if attempt <= 1 { id.to_string() } else { format!("{id}-a{attempt}") }
}

/// When the attempt under way must have ended, if it has a timeout.
pub(crate) fn deadline(row: &Model) -> Option<DateTime<Utc>> {
    let secs = Policy::of(row).timeout_secs?;
    Some(row.start_time.unwrap_or_else(time::now) + chrono::Duration::seconds(secs as i64))
}

/// `next` brought forward to the job's deadline, so that a timeout is
/// noticed when it passes, however rarely the job is polled.
pub(crate) fn cap(row: &Model, next: DateTime<Utc>) -> DateTime<Utc> {
    deadline(row).map_or(next, |d| next.min(d))
}

/// A launched, unfinished job past its deadline (a cancel already under
/// way is left to finish).
pub(crate) fn timed_out(row: &Model) -> bool {
    let running = matches!(rows::status(row), Status::Prep | Status::Running | Status::Suspended);
    running && row.engine_job_id.is_some() && deadline(row).is_some_and(|d| d <= time::now())
}

/// Starts the cancel of a job past its deadline, under the claim's lease:
/// TOBEKILLED, as a user's cancel, marked so that its end reads "timed out".
pub(crate) async fn time_out(edp: &Edp, claimed: Claimed) -> Result<()> {
    let Claimed { row, lease } = claimed;
    let was = rows::status(&row);
    let mut policy = Policy::of(&row);
    policy.timed_out = true;
    let mut extra = row.extra.clone();
    extra["policy"] = json!(policy);
    let mut changes = rows::blank();
    changes.status = Set(Status::ToBeKilled.as_str().into());
    changes.info = Set(rows::info_with(&row, Status::ToBeKilled, "reason", json!(timeout_reason(&policy))));
    changes.extra = Set(extra);
    changes.cancel_deadline = Set(Some(rows::later(edp.settings().cancel_timeout)));
    changes.next_action_at = Set(Some(time::now()));
    tracing::info!(execution = %row.id, "job timed out; cancelling it");
    if !rows::settle(edp, Commit::Unflushed, &lease, was, changes).await? {
        super::lease::release(edp, &lease).await?;
    }
    edp.jobs().wake();
    Ok(())
}

fn timeout_reason(policy: &Policy) -> String {
    format!("timed out after {} s", policy.timeout_secs.unwrap_or_default())
}

/// What an end of an attempt becomes under the job's policy. `changes` end
/// the row with `status`; the result is what to write instead:
/// - a timed-out job's end is KILLED "timed out after N s";
/// - a FAILED attempt with attempts left goes back to PENDING, to be
///   launched again after its delay under the next attempt's tag.
pub(crate) fn on_end(row: &Model, status: Status, changes: ActiveModel) -> (Status, ActiveModel) {
    let policy = Policy::of(row);
    if policy.timed_out && status.is_terminal() {
        return (Status::Killed, timed_out_end(row, &policy, changes));
    }
    let retryable = status == Status::Failed
        && rows::status(row) != Status::ToBeKilled
        && !row.delete_requested
        && policy.attempt < policy.max_attempts;
    if !retryable {
        return (status, changes);
    }
    (Status::Pending, retry(row, policy, changes))
}

fn timed_out_end(row: &Model, policy: &Policy, mut changes: ActiveModel) -> ActiveModel {
    let mut payload = match &changes.info {
        ActiveValue::Set(info) | ActiveValue::Unchanged(info) => info.as_object().cloned().unwrap_or_default(),
        ActiveValue::NotSet => row.info.as_object().cloned().unwrap_or_default(),
    };
    payload.insert("reason".into(), json!(timeout_reason(policy)));
    changes.status = Set(Status::Killed.as_str().into());
    changes.info = Set(rows::info(Status::Killed, payload));
    changes
}

/// The write that turns a FAILED attempt into a wait for the next one. What
/// the engine said of the attempt is kept in `extra.attempts` (its logs are
/// read from there with `?attempt=N`).
fn retry(row: &Model, mut policy: Policy, ended: ActiveModel) -> ActiveModel {
    let set = |v: &ActiveValue<Value>| match v {
        ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Some(v.clone()),
        ActiveValue::NotSet => None,
    };
    let extra_now = set(&ended.extra).unwrap_or_else(|| row.extra.clone());
    let return_code = match &ended.return_code {
        ActiveValue::Set(code) | ActiveValue::Unchanged(code) => *code,
        ActiveValue::NotSet => row.return_code,
    };
    let info = set(&ended.info).unwrap_or_else(|| row.info.clone());
    let engine_job_id = match &ended.engine_job_id {
        ActiveValue::Set(id) | ActiveValue::Unchanged(id) => id.clone(),
        ActiveValue::NotSet => row.engine_job_id.clone(),
    };
    let failed = policy.attempt;
    let next = failed + 1;
    let delay = policy.delay_before(next);
    let starts = time::now() + chrono::Duration::seconds(delay as i64);

    let mut extra = extra_now.clone();
    let record = json!({
        "attempt": failed,
        "engine_job_id": engine_job_id,
        "engine": extra_now.get("engine").cloned().unwrap_or(Value::Null),
        "return_code": return_code,
        "reason": info.get("reason").cloned().unwrap_or(Value::Null),
        "start_time": row.start_time.as_ref().map(time::format),
        "end_time": time::format(&time::now()),
    });
    match extra.get_mut("attempts").and_then(Value::as_array_mut) {
        Some(list) => list.push(record),
        None => extra["attempts"] = json!([record]),
    }
    if let Some(map) = extra.as_object_mut() {
        map.remove("engine");
    }
    policy.attempt = next;
    extra["policy"] = json!(policy);

    let code = return_code.map_or_else(String::new, |c| format!(" (return code {c})"));
    let reason = format!(
        "attempt {failed} of {} failed{code}; attempt {next} starts at {}",
        policy.max_attempts,
        time::format(&starts)
    );
    let mut payload = Object::new();
    payload.insert("reason".into(), json!(reason));
    if let Some(why) = info.get("reason").filter(|r| !r.is_null()) {
        payload.insert("last_failure".into(), why.clone());
    }
    let mut changes = rows::blank();
    changes.status = Set(Status::Pending.as_str().into());
    changes.info = Set(rows::info(Status::Pending, payload));
    changes.extra = Set(extra);
    changes.engine_job_id = Set(None);
    changes.return_code = Set(None);
    changes.start_time = Set(None);
    changes.end_time = Set(None);
    changes.submitted = Set(false);
    changes.attempts = Set(0);
    changes.next_action_at = Set(Some(starts));
    changes
}

/// What an earlier attempt left: its engine id and the engine's `extra`,
/// to read its logs or free its files.
pub(crate) struct PastAttempt {
    pub attempt: u32,
    pub engine_job_id: Option<String>,
    pub engine_extra: Value,
}

pub(crate) fn past_attempts(row: &Model) -> Vec<PastAttempt> {
    row.extra
        .get("attempts")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|a| PastAttempt {
                    attempt: a.get("attempt").and_then(Value::as_u64).unwrap_or(0) as u32,
                    engine_job_id: a.get("engine_job_id").and_then(Value::as_str).map(str::to_string),
                    engine_extra: a.get("engine").cloned().unwrap_or(Value::Null),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `attempt` and `max_attempts`, added to what `info` shows.
pub(crate) fn show(extra: &Value, info: &mut Value) {
    let Some(stored) = extra.get("policy") else { return };
    let Ok(policy) = Policy::deserialize(stored) else { return };
    if let Some(map) = info.as_object_mut() {
        map.insert("attempt".into(), json!(policy.attempt));
        map.insert("max_attempts".into(), json!(policy.max_attempts));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, Value)]) -> Object {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn defaults_apply_and_configs_override_them() {
        let d = Defaults { max_attempts: 2, retry_delay_secs: 5, timeout_secs: 0 };
        let p = Policy::from_configs(&Object::new(), d).unwrap();
        assert_eq!((p.max_attempts, p.retry_delay_secs, p.timeout_secs), (2, 5, None));
        let p = Policy::from_configs(
            &configs(&[(MAX_ATTEMPTS_KEY, json!("3")), (TIMEOUT_KEY, json!(2)), ("mapred.x", json!("y"))]),
            d,
        )
        .unwrap();
        assert_eq!((p.max_attempts, p.timeout_secs), (3, Some(2)));
    }

    #[test]
    fn unknown_keys_and_out_of_range_values_are_refused_by_name() {
        let d = Defaults::default();
        let e = Policy::from_configs(&configs(&[("edp.job.max_attempt", json!(2))]), d).unwrap_err().to_string();
        assert!(e.contains("edp.job.max_attempt") && e.contains(MAX_ATTEMPTS_KEY) && e.contains(TIMEOUT_KEY), "{e}");
        for (key, value) in [
            (MAX_ATTEMPTS_KEY, json!(0)),
            (MAX_ATTEMPTS_KEY, json!(101)),
            (RETRY_DELAY_KEY, json!(3601)),
            (TIMEOUT_KEY, json!(0)),
            (TIMEOUT_KEY, json!("-1")),
            (TIMEOUT_KEY, json!(1.5)),
        ] {
            let e = Policy::from_configs(&configs(&[(key, value.clone())]), d).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("whole number"), "{key}={value}: {e}");
        }
    }

    #[test]
    fn delays_double_per_attempt_up_to_an_hour() {
        let p = Policy { max_attempts: 30, retry_delay_secs: 10, timeout_secs: None, attempt: 1, timed_out: false };
        assert_eq!([p.delay_before(2), p.delay_before(3), p.delay_before(4)], [10, 20, 40]);
        assert_eq!(p.delay_before(25), MAX_RETRY_DELAY_SECS);
    }

    #[test]
    fn the_first_attempt_keeps_the_execution_id_as_its_tag() {
        assert_eq!(tag("abc", 1), "abc");
        assert_eq!(tag("abc", 3), "abc-a3");
    }
}
