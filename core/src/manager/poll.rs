//! Polling a launched execution, and the other calls that read back a
//! status report (suspend, resume).

use edp_engine_api::abi::ErrorKind;
use edp_engine_api::host::CallError;
use sea_orm::Set;

use crate::Edp;
use crate::entity::job_execution::Model;
use crate::error::{Error, Result};
use crate::scope::Scope;
use crate::status::Status;

use super::api::{Action, refused};
use super::{Busy, rows};

/// Asks the engine once and records the answer. Only `NOT_FOUND` ends a job
/// here: a network error or a misbehaving engine leaves the last known state
/// (with `info.poll_error`) and is retried with backoff.
pub(crate) async fn poll_once(edp: &Edp, row: Model, _busy: Busy) -> Result<()> {
    let was = rows::status(&row);
    let Some(engine) = edp.engines().get(&row.engine) else {
        let mut later = rows::blank();
        later.next_action_at = Set(Some(rows::later(std::time::Duration::from_secs(60))));
        later.info =
            Set(rows::info_with(&row, was, "poll_error", format!("engine '{}' is not loaded", row.engine).into()));
        rows::write_if(edp, &row.id, was, later).await?;
        return Ok(());
    };
    let handle = rows::handle(&row)?;
    let permits = edp.jobs().permits(&row.engine, edp.settings().engine_concurrency);
    let _permit = permits.acquire().await.map_err(|e| Error::Internal(e.to_string()))?;
    let hints = engine.description.polling;
    let changes = match engine.client.get_job_status(&handle, edp.settings().call_timeout).await {
        Ok(report) => rows::apply_report(&row, report, hints).1,
        Err(CallError::Engine { kind, message }) if kind == ErrorKind::NOT_FOUND => {
            rows::finish(&row, Status::Failed, &format!("the engine no longer knows this job: {message}"))
        }
        Err(e) => {
            tracing::debug!(execution = %row.id, error = %e, "poll failed");
            let attempts = row.attempts.saturating_add(1);
            let mut retry = rows::blank();
            retry.attempts = Set(attempts);
            retry.next_action_at = Set(Some(rows::later(rows::backoff(hints, attempts))));
            retry.info = Set(rows::info_with(&row, was, "poll_error", e.to_string().into()));
            retry
        }
    };
    let ending = crate::observe::ending(&changes);
    if rows::write_if(edp, &row.id, was, changes).await? {
        crate::observe::ended(&row, ending);
        // A delete asked for after our read would have changed the status
        // (TOBEKILLED) and failed the write, so the flag we read is current.
        if row.delete_requested {
            rows::destroy_if_requested(edp, &row.id).await?;
        }
    } else {
        // The API changed the row meanwhile (a cancel); look again.
        edp.jobs().wake();
    }
    Ok(())
}

/// PATCH `info.status` = `suspend` / `resume`, for engines that can, by
/// the job's project, on a job that is not protected (as for a cancel).
pub(crate) async fn suspend_or_resume(edp: &Edp, scope: &Scope, row: Model, action: Action) -> Result<()> {
    let suspend = action == Action::Suspend;
    let action = action.as_str();
    if !scope.owns(&row.project_id) {
        return Err(Error::UpdateFailed(format!("the job belongs to another project: it cannot {action}")));
    }
    if row.is_protected {
        return Err(Error::UpdateFailed(format!("the job is protected: set is_protected to false to {action} it")));
    }
    let engine = edp
        .engines()
        .get(&row.engine)
        .ok_or_else(|| Error::EngineUnavailable(format!("engine '{}' is not loaded", row.engine)))?;
    if !engine.description.capabilities.suspend {
        return Err(Error::InvalidData(format!("engine '{}' cannot suspend or resume jobs", row.engine)));
    }
    let was = rows::status(&row);
    let allowed = if suspend { matches!(was, Status::Prep | Status::Running) } else { was == Status::Suspended };
    if !allowed || row.engine_job_id.is_none() {
        return Err(Error::UpdateFailed(format!("a {was} job cannot {action}")));
    }
    let _busy = claim_soon(edp, &row.id, edp.settings().call_timeout).await.ok_or_else(|| {
        Error::UpdateFailed(format!("the job is busy with another engine call; {action} again in a moment"))
    })?;
    let handle = rows::handle(&row)?;
    let timeout = edp.settings().call_timeout;
    let report = if suspend {
        engine.client.suspend_job(&handle, timeout).await
    } else {
        engine.client.resume_job(&handle, timeout).await
    }
    .map_err(refused)?;
    let (_, changes) = rows::apply_report(&row, report, engine.description.polling);
    rows::write_if(edp, &row.id, was, changes).await?;
    Ok(())
}

/// Claims the execution, waiting for a poll under way to finish first (a
/// user's action should not fail because a poll happened to be running).
async fn claim_soon(edp: &Edp, id: &str, patience: std::time::Duration) -> Option<Busy> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(busy) = Busy::try_claim(edp, id) {
            return Some(busy);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
