//! Cancelling: the API marks the execution TOBEKILLED with a deadline and
//! returns; a task asks the engine to kill and re-reads the status until
//! the engine confirms an end, or the deadline passes.

use std::time::Duration;

use chrono::Utc;
use edp_engine_api::abi::ErrorKind;
use edp_engine_api::host::CallError;
use edp_engine_api::wire::StatusReport;
use sea_orm::Set;

use crate::Edp;
use crate::entity::job_execution::Model;
use crate::error::{Error, Result};
use crate::scope::Scope;
use crate::status::Status;
use crate::time;

use super::{Busy, rows};

/// What becomes of a cancelled execution once it has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Then {
    Keep,
    /// A DELETE of a running job: removed once the engine confirms the end.
    Delete,
}

/// Marks the execution for cancelling (and for deletion once it ends, with
/// `Then::Delete`). Cancelling a finished job changes nothing, as in Sahara.
pub(crate) async fn request(edp: &Edp, scope: &Scope, mut row: Model, then: Then) -> Result<()> {
    let delete = then == Then::Delete;
    if !scope.owns(&row.project_id) {
        return Err(Error::CancelingFailed("the job belongs to another project".into()));
    }
    if row.is_protected && !delete {
        return Err(Error::CancelingFailed("the job is protected: set is_protected to false first".into()));
    }
    // A poll may change the status between our read and our write; retry
    // on the fresh row a few times.
    for _ in 0..5 {
        let was = rows::status(&row);
        if was.is_terminal() {
            if delete {
                rows::destroy(edp, row).await?;
            }
            return Ok(());
        }
        let mut changes = rows::blank();
        if delete {
            changes.delete_requested = Set(true);
        }
        if was != Status::ToBeKilled {
            changes.status = Set(Status::ToBeKilled.as_str().into());
            changes.info = Set(rows::info(Status::ToBeKilled, row.info.as_object().cloned().unwrap_or_default()));
            changes.cancel_deadline = Set(Some(rows::later(edp.settings().cancel_timeout)));
            changes.next_action_at = Set(Some(time::now()));
        }
        if rows::write_if(edp, &row.id, was, changes).await? {
            crate::observe::job_cancelled(&row, delete);
            edp.jobs().wake();
            return Ok(());
        }
        row = rows::load(edp, &row.id).await?.ok_or_else(|| Error::not_found("job", row.id.clone()))?;
    }
    Err(Error::CancelingFailed("the job's status kept changing; cancel again".into()))
}

/// A flow being cancelled cancels its running jobs (protected or not: the
/// flow's owner asked).
pub(crate) async fn cancel_for_flow(edp: &Edp, scope: &Scope, execution_id: &str) -> Result<()> {
    let Some(mut row) = rows::load(edp, execution_id).await? else { return Ok(()) };
    row.is_protected = false;
    request(edp, scope, row, Then::Keep).await
}

/// The background half of a cancel.
pub(crate) async fn run(edp: &Edp, row: Model, _busy: Busy) -> Result<()> {
    let deadline = row.cancel_deadline.unwrap_or_else(|| rows::later(edp.settings().cancel_timeout));
    if row.engine_job_id.is_none() {
        // Never reached the engine (the launcher re-reads the status before
        // it records a launch, so it cannot have started since).
        return settle(edp, &row, rows::finish(&row, Status::Killed, "cancelled before it was launched")).await;
    }
    let Some(engine) = edp.engines().get(&row.engine) else {
        let mut later = rows::blank();
        later.next_action_at = Set(Some(rows::later(Duration::from_secs(30))));
        rows::write_if(edp, &row.id, Status::ToBeKilled, later).await?;
        return Ok(());
    };
    let handle = rows::handle(&row)?;
    let timeout = edp.settings().call_timeout;
    let mut step = Duration::from_millis(100);
    let mut last: Option<StatusReport> = None;
    loop {
        let asked = std::time::Instant::now();
        let answer = engine.client.cancel_job(&handle, timeout).await;
        tracing::debug!(execution = %row.id, elapsed = ?asked.elapsed(), ok = answer.is_ok(), "engine answered cancel");
        match answer {
            Err(CallError::Engine { kind, message }) if kind == ErrorKind::NOT_FOUND => {
                let reason = format!("the engine no longer knows this job: {message}");
                return settle(edp, &row, rows::finish(&row, Status::Killed, &reason)).await;
            }
            Err(e) => tracing::warn!(execution = %row.id, error = %e, "cancel call failed"),
            Ok(_) => {}
        }
        // The engine's word is confirmed by reading the status back.
        match engine.client.get_job_status(&handle, timeout).await {
            Ok(report) if report.status.is_terminal() => {
                let (_, changes) = rows::apply_report(&row, report, engine.description.polling);
                return settle(edp, &row, changes).await;
            }
            Ok(report) => last = Some(report),
            Err(e) => tracing::warn!(execution = %row.id, error = %e, "status after cancel failed"),
        }
        if Utc::now() >= deadline {
            let back_to = last.as_ref().map_or(Status::Running, |r| Status::from(r.status));
            let reason = format!("the engine did not confirm the kill within {:?}", edp.settings().cancel_timeout);
            crate::observe::cancel_unconfirmed(&row, &reason);
            let mut gave_up = rows::blank();
            gave_up.status = Set(back_to.as_str().into());
            gave_up.info = Set(rows::info_with(&row, back_to, "cancel_error", reason.into()));
            gave_up.cancel_deadline = Set(None);
            gave_up.next_action_at = Set(Some(rows::later(rows::backoff(engine.description.polling, 0))));
            rows::write_if(edp, &row.id, Status::ToBeKilled, gave_up).await?;
            return Ok(());
        }
        tokio::time::sleep(step).await;
        step = (step * 2).min(Duration::from_secs(2));
    }
}

/// Writes the final state; removes the row if a delete waits for it.
async fn settle(edp: &Edp, row: &Model, changes: crate::entity::job_execution::ActiveModel) -> Result<()> {
    let ending = crate::observe::ending(&changes);
    if rows::write_if(edp, &row.id, Status::ToBeKilled, changes).await? {
        crate::observe::ended(row, ending);
        rows::destroy_if_requested(edp, &row.id).await?;
    }
    Ok(())
}
