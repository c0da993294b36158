//! Reading and conditionally writing execution rows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use edp_engine_api::wire::{JobHandle, JobRequest, PollingHints, StatusReport};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::Edp;
use crate::entity::job_execution::{self, ActiveModel, Model};
use crate::error::{Error, Result};
use crate::status::Status;
use crate::time;

pub(crate) async fn load(edp: &Edp, id: &str) -> Result<Option<Model>> {
    crate::db::by_key(job_execution::Entity::find_by_id(id), edp.db()).await
}

pub(crate) fn status(row: &Model) -> Status {
    // Rows are only written through `Status::as_str`; anything else would be
    // a bug, best treated as still running so it is polled, not lost.
    Status::parse(&row.status).unwrap_or(Status::Running)
}

/// What `run_job` was (or will be) given, kept in `extra.request`.
pub(crate) fn request(row: &Model) -> Result<JobRequest> {
    serde_json::from_value(row.extra.get("request").cloned().unwrap_or(Value::Null))
        .map_err(|e| Error::Internal(format!("execution {} has a malformed stored request: {e}", row.id)))
}

pub(crate) fn handle(row: &Model) -> Result<JobHandle> {
    let request = request(row)?;
    Ok(JobHandle {
        execution_id: row.id.clone(),
        engine_job_id: row.engine_job_id.clone().unwrap_or_default(),
        job_type: request.job_type,
        cluster: request.cluster,
        extra: row.extra.get("engine").cloned().unwrap_or(Value::Null),
        cancel_requested: status(row) == Status::ToBeKilled,
    })
}

/// An update with nothing set; callers set what changes.
pub(crate) fn blank() -> ActiveModel {
    ActiveModel {
        id: NotSet,
        project_id: NotSet,
        job_template_id: NotSet,
        cluster_id: NotSet,
        input_id: NotSet,
        output_id: NotSet,
        engine: NotSet,
        status: NotSet,
        info: NotSet,
        engine_job_id: NotSet,
        return_code: NotSet,
        job_configs: NotSet,
        interface: NotSet,
        data_source_urls: NotSet,
        extra: NotSet,
        is_public: NotSet,
        is_protected: NotSet,
        start_time: NotSet,
        end_time: NotSet,
        next_action_at: NotSet,
        attempts: NotSet,
        cancel_deadline: NotSet,
        delete_requested: NotSet,
        flow_id: NotSet,
        created_at: NotSet,
        updated_at: Set(time::now()),
    }
}

/// Writes `changes` if the row still has the status it was read with.
/// Returns whether it did.
pub(crate) async fn write_if(edp: &Edp, id: &str, expected: Status, changes: ActiveModel) -> Result<bool> {
    let done = job_execution::Entity::update_many()
        .set(changes)
        .filter(job_execution::Column::Id.eq(id))
        .filter(job_execution::Column::Status.eq(expected.as_str()))
        .exec(edp.db())
        .await?;
    Ok(done.rows_affected > 0)
}

pub(crate) async fn write(edp: &Edp, id: &str, changes: ActiveModel) -> Result<()> {
    job_execution::Entity::update_many().set(changes).filter(job_execution::Column::Id.eq(id)).exec(edp.db()).await?;
    Ok(())
}

/// `info` as Sahara shows it: the engine's payload with `status` in it.
pub(crate) fn info(status: Status, mut payload: serde_json::Map<String, Value>) -> Value {
    payload.insert("status".into(), json!(status.as_str()));
    Value::Object(payload)
}

/// `info` with one more key, keeping what is there.
pub(crate) fn info_with(row: &Model, status: Status, key: &str, value: Value) -> Value {
    let mut payload = row.info.as_object().cloned().unwrap_or_default();
    payload.insert(key.into(), value);
    info(status, payload)
}

pub(crate) fn later(after: Duration) -> DateTime<Utc> {
    time::now() + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::seconds(60))
}

/// The engine's interval after `attempts` polls without news: doubling from
/// `initial_ms` up to `max_ms`.
pub(crate) fn backoff(hints: PollingHints, attempts: i32) -> Duration {
    let factor = 1u64 << attempts.clamp(0, 20);
    Duration::from_millis(hints.initial_ms.saturating_mul(factor).min(hints.max_ms.max(hints.initial_ms)))
}

/// The changes an engine's status report makes to a row.
pub(crate) fn apply_report(row: &Model, report: StatusReport, hints: PollingHints) -> (Status, ActiveModel) {
    let was = status(row);
    let reported = Status::from(report.status);
    // While a cancel is under way only a final answer replaces TOBEKILLED.
    let status = if was == Status::ToBeKilled && !reported.is_terminal() { was } else { reported };
    let mut payload = report.info;
    if let Some(progress) = &report.progress {
        payload.insert("progress".into(), serde_json::to_value(progress).unwrap_or(Value::Null));
    }
    let mut changes = blank();
    changes.status = Set(status.as_str().to_string());
    changes.info = Set(info(status, payload));
    if let Some(code) = report.return_code {
        changes.return_code = Set(Some(code));
    }
    if let Some(engine_extra) = report.extra {
        let mut extra = row.extra.clone();
        extra["engine"] = engine_extra;
        changes.extra = Set(extra);
    }
    if status.is_terminal() {
        if row.end_time.is_none() {
            changes.end_time = Set(Some(time::now()));
        }
        changes.next_action_at = Set(None);
        changes.attempts = Set(0);
    } else if status != was {
        changes.next_action_at = Set(Some(later(backoff(hints, 0))));
        changes.attempts = Set(0);
    } else {
        let attempts = row.attempts.saturating_add(1);
        changes.next_action_at = Set(Some(later(backoff(hints, attempts))));
        changes.attempts = Set(attempts);
    }
    (status, changes)
}

/// Ends a row with a final status and a reason.
pub(crate) fn finish(row: &Model, status: Status, reason: &str) -> ActiveModel {
    let mut changes = blank();
    changes.status = Set(status.as_str().to_string());
    changes.info = Set(info_with(row, status, "reason", json!(reason)));
    changes.end_time = Set(Some(time::now()));
    if row.start_time.is_none() {
        changes.start_time = Set(Some(time::now()));
    }
    changes.next_action_at = Set(None);
    changes.attempts = Set(0);
    changes
}

/// Removes a finished row whose deletion waited for the job to end.
pub(crate) async fn destroy_if_requested(edp: &Edp, id: &str) -> Result<()> {
    if let Some(row) = load(edp, id).await?
        && row.delete_requested
        && status(&row).is_terminal()
    {
        destroy(edp, row).await?;
    }
    Ok(())
}

/// Deletes the row and lets the engine free what the job held.
pub(crate) async fn destroy(edp: &Edp, row: Model) -> Result<()> {
    if row.engine_job_id.is_some()
        && let (Some(client), Ok(handle)) = (edp.engines().client(&row.engine), handle(&row))
        && let Err(e) = client.delete_job(&handle, edp.settings().call_timeout).await
    {
        tracing::warn!(execution = %row.id, error = %e, "the engine could not clean up after a deleted job");
    }
    job_execution::Entity::delete_by_id(row.id.clone()).exec(edp.db()).await?;
    Ok(())
}
