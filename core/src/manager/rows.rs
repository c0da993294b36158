//! Reading and conditionally writing execution rows.

use std::time::Duration;

use chrono::{DateTime, Utc};
use edp_engine_api::wire::{JobHandle, JobRequest, PollingHints, StatusReport};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};

use crate::Edp;
use crate::db::Commit;
use crate::entity::job_execution::{self, ActiveModel, Model};
use crate::error::{Error, Result};
use crate::status::Status;
use crate::time;

use super::lease::Lease;
use super::policy;

/// The row as it is now, whoever's it is (read as the API's reads are:
/// `crate::reads`).
pub(crate) async fn load(edp: &Edp, id: &str) -> Result<Option<Model>> {
    crate::reads::execution(edp, id, &crate::scope::Scope::admin(""), crate::reads::Extra::Whole).await
}

pub(crate) fn status(row: &Model) -> Status {
    // Rows are only written through `Status::as_str`; anything else would be
    // a bug, best treated as still running so it is polled, not lost.
    Status::parse(&row.status).unwrap_or(Status::Running)
}

/// What `run_job` was (or will be) given, kept in `extra.request`.
/// Its `execution_id` is the attempt's submission tag (`policy::tag`).
pub(crate) fn request(row: &Model) -> Result<JobRequest> {
    let mut request: JobRequest = serde_json::from_value(row.extra.get("request").cloned().unwrap_or(Value::Null))
        .map_err(|e| Error::Internal(format!("execution {} has a malformed stored request: {e}", row.id)))?;
    request.execution_id = policy::tag(&row.id, policy::Policy::of(row).attempt);
    Ok(request)
}

pub(crate) fn handle(row: &Model) -> Result<JobHandle> {
    let request = request(row)?;
    Ok(JobHandle {
        execution_id: request.execution_id,
        engine_job_id: row.engine_job_id.clone().unwrap_or_default(),
        job_type: request.job_type,
        cluster: request.cluster,
        extra: row.extra.get("engine").cloned().unwrap_or(Value::Null),
        cancel_requested: status(row) == Status::ToBeKilled,
    })
}

/// The handle of an earlier attempt (its logs, its files).
pub(crate) fn past_handle(row: &Model, past: &policy::PastAttempt) -> Result<JobHandle> {
    let current = handle(row)?;
    Ok(JobHandle {
        execution_id: policy::tag(&row.id, past.attempt),
        engine_job_id: past.engine_job_id.clone().unwrap_or_default(),
        extra: past.engine_extra.clone(),
        cancel_requested: false,
        ..current
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
        lease_owner: NotSet,
        lease_token: NotSet,
        lease_expires_at: NotSet,
        node_id: NotSet,
        host_bound: NotSet,
        submitted: NotSet,
        created_at: NotSet,
        updated_at: Set(time::now()),
    }
}

/// The node a host-bound job runs on, when that is not this one: its
/// processes, logs and files are there.
pub(crate) fn elsewhere<'a>(edp: &Edp, row: &'a Model) -> Option<&'a str> {
    match &row.node_id {
        Some(node) if row.host_bound && *node != edp.settings().node_id => Some(node),
        _ => None,
    }
}

/// Refuses what only a host-bound job's own node can do, saying where it is.
pub(crate) async fn here_or_redirect(edp: &Edp, row: &Model) -> Result<()> {
    let Some(node) = elsewhere(edp, row) else { return Ok(()) };
    let url = super::nodes::reachable(edp, node).await?.map(|n| n.public_url).filter(|u| !u.is_empty());
    Err(Error::OnNode { job: row.id.clone(), node: node.to_string(), url })
}

/// A delete of a finished job another node runs: that node frees what the
/// job left on its host, then removes the row.
pub(crate) async fn delete_on_its_node(edp: &Edp, row: &Model) -> Result<()> {
    let mut changes = blank();
    changes.delete_requested = Set(true);
    changes.next_action_at = Set(Some(time::now()));
    write_if(edp, &row.id, status(row), changes).await?;
    Ok(())
}

/// `changes` that also give the lease back.
fn releasing(mut changes: ActiveModel) -> ActiveModel {
    changes.lease_owner = Set(None);
    changes.lease_token = Set(None);
    changes.lease_expires_at = Set(None);
    changes
}

/// A task's last write: `changes` if this node still holds `lease` and the
/// row still has the status it was read with, giving the lease back,
/// committed `commit`'s way. Returns whether it did; if not, the caller
/// gives the lease back ([`lease::release`]) unless it was lost.
pub(crate) async fn settle(
    edp: &Edp,
    commit: Commit,
    lease: &Lease,
    expected: Status,
    changes: ActiveModel,
) -> Result<bool> {
    let update = job_execution::Entity::update_many()
        .set(releasing(changes))
        .filter(job_execution::Column::Id.eq(lease.id.clone()))
        .filter(job_execution::Column::LeaseToken.eq(lease.token.clone()))
        .filter(job_execution::Column::Status.eq(expected.as_str()));
    Ok(edp.db_for(commit).update(update).await? > 0)
}

/// A poll's last write without a lease (`poll::poll_hinted`): `changes` if
/// nobody holds the row's lease, and it still has the status and the
/// engine job it was read with, clearing a lease that lapsed. The same
/// guarantees as [`settle`] for a write whose engine call only read: any
/// step that changed the row since (a cancel, an end another poll
/// recorded, a retry's new launch) changed one of those, and one that
/// holds it now will write what it learns itself. Returns whether it did.
pub(crate) async fn settle_unclaimed(
    edp: &Edp,
    commit: Commit,
    row: &Model,
    expected: Status,
    changes: ActiveModel,
) -> Result<bool> {
    let engine_job = match &row.engine_job_id {
        Some(job) => job_execution::Column::EngineJobId.eq(job.clone()),
        None => job_execution::Column::EngineJobId.is_null(),
    };
    let update = job_execution::Entity::update_many()
        .set(releasing(changes))
        .filter(job_execution::Column::Id.eq(row.id.clone()))
        .filter(job_execution::Column::Status.eq(expected.as_str()))
        .filter(engine_job)
        .filter(super::lease::free(time::now()));
    Ok(edp.db_for(commit).update(update).await? > 0)
}

/// A write under `lease` whatever the status now (what the engine said,
/// which the next step needs), giving the lease back.
pub(crate) async fn settle_any(edp: &Edp, commit: Commit, lease: &Lease, changes: ActiveModel) -> Result<bool> {
    let update = job_execution::Entity::update_many()
        .set(releasing(changes))
        .filter(job_execution::Column::Id.eq(lease.id.clone()))
        .filter(job_execution::Column::LeaseToken.eq(lease.token.clone()));
    Ok(edp.db_for(commit).update(update).await? > 0)
}

/// Writes `changes` if the row still has the status it was read with.
/// Returns whether it did.
pub(crate) async fn write_if(edp: &Edp, id: &str, expected: Status, changes: ActiveModel) -> Result<bool> {
    let update = job_execution::Entity::update_many()
        .set(changes)
        .filter(job_execution::Column::Id.eq(id))
        .filter(job_execution::Column::Status.eq(expected.as_str()));
    Ok(edp.db_for(Commit::Flushed).update(update).await? > 0)
}

pub(crate) async fn write(edp: &Edp, id: &str, changes: ActiveModel) -> Result<()> {
    let update = job_execution::Entity::update_many().set(changes).filter(job_execution::Column::Id.eq(id));
    edp.db_for(Commit::Flushed).update(update).await?;
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

/// How long until the next poll of a job whose state last changed at
/// `since`: as long as it has been unchanged, within the engine's bounds.
/// The interval grows with the job's quiet without a counter to write.
pub(crate) fn quiet_interval(hints: PollingHints, since: DateTime<Utc>) -> Duration {
    let quiet = (time::now() - since).to_std().unwrap_or_default();
    quiet.clamp(Duration::from_millis(hints.initial_ms), Duration::from_millis(hints.max_ms.max(hints.initial_ms)))
}

/// What a status report makes of a row.
#[derive(Debug)]
pub(crate) enum Report {
    /// Nothing the row shows would change: no write, only the next poll.
    Unchanged { status: Status, next: DateTime<Utc> },
    /// The row's changes (boxed: a whole row's worth of fields, beside a
    /// status and a time).
    Changed(Box<ActiveModel>),
}

/// The changes an engine's status report makes to a row.
pub(crate) fn apply_report(row: &Model, hints: PollingHints, report: StatusReport) -> Report {
    let was = status(row);
    let reported = Status::from(report.status);
    // While a cancel is under way only a final answer replaces TOBEKILLED.
    let status = if was == Status::ToBeKilled && !reported.is_terminal() { was } else { reported };
    let mut payload = report.info;
    if let Some(progress) = &report.progress {
        payload.insert("progress".into(), serde_json::to_value(progress).unwrap_or(Value::Null));
    }
    let shown = info(status, payload);
    let same = status == was
        && shown == row.info
        && report.return_code.is_none_or(|code| row.return_code == Some(code))
        && report.extra.is_none();
    if same && !status.is_terminal() {
        return Report::Unchanged { status, next: policy::cap(row, later(quiet_interval(hints, row.updated_at))) };
    }
    let mut changes = blank();
    changes.status = Set(status.as_str().to_string());
    changes.info = Set(shown);
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
        changes.next_action_at = Set(if row.delete_requested { Some(time::now()) } else { None });
    } else {
        changes.next_action_at = Set(Some(policy::cap(row, later(backoff(hints, 0)))));
    }
    changes.attempts = Set(0);
    let changes = if status.is_terminal() { policy::on_end(row, status, changes).1 } else { changes };
    Report::Changed(Box::new(changes))
}

impl Report {
    /// The changes as a write, whether or not the row would show a
    /// difference (a task that must write anyway).
    pub(crate) fn into_changes(self) -> ActiveModel {
        match self {
            Report::Changed(changes) => *changes,
            Report::Unchanged { next, .. } => {
                let mut changes = blank();
                changes.next_action_at = Set(Some(next));
                changes
            }
        }
    }
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
    // A delete waiting for the end is the next (and last) step.
    changes.next_action_at = Set(if row.delete_requested { Some(time::now()) } else { None });
    changes.attempts = Set(0);
    policy::on_end(row, status, changes).1
}

/// Deletes the row and lets the engine free what the job held
/// ([`free_engine`]).
pub(crate) async fn destroy(edp: &Edp, row: Model) -> Result<()> {
    free_engine(edp, &row).await;
    crate::events::deletions::delete_job(edp, &row).await?;
    Ok(())
}

/// Lets the engine free what the job held, earlier attempts' files too. A
/// failure is logged: the row goes anyway.
pub(crate) async fn free_engine(edp: &Edp, row: &Model) {
    if row.engine_job_id.is_some()
        && let (Some(client), Ok(handle)) = (edp.engines().client(&row.engine), handle(row))
        && let Err(e) = client.delete_job(&handle, edp.settings().call_timeout).await
    {
        tracing::warn!(execution = %row.id, error = %e, "the engine could not clean up after a deleted job");
    }
    for past in policy::past_attempts(row) {
        if past.engine_job_id.is_some()
            && let (Some(client), Ok(handle)) = (edp.engines().client(&row.engine), past_handle(row, &past))
            && let Err(e) = client.delete_job(&handle, edp.settings().call_timeout).await
        {
            tracing::warn!(execution = %row.id, attempt = past.attempt, error = %e, "the engine could not clean up after an earlier attempt");
        }
    }
}
