//! Cancelling: the API marks the execution TOBEKILLED with a deadline and
//! returns; a task asks the engine to kill and re-reads the status until
//! the engine confirms an end, or the deadline passes.

use std::time::Duration;

use chrono::Utc;
use edp_engine_api::abi::ErrorKind;
use edp_engine_api::host::{CallError, LoadedEngine};
use edp_engine_api::wire::{Launched, StatusReport};
use sea_orm::Set;

use crate::Edp;
use crate::db::Commit;
use crate::entity::job_execution::{ActiveModel, Model};
use crate::error::{Error, Result};
use crate::scope::Scope;
use crate::status::Status;
use crate::time;

use super::lease::{self, Claimed, Lease};
use super::{poll, rows};

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
            if delete && rows::elsewhere(edp, &row).is_some() {
                rows::delete_on_its_node(edp, &row).await?;
            } else if delete {
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
pub(crate) async fn run(edp: &Edp, claimed: Claimed) -> Result<()> {
    let Claimed { mut row, lease } = claimed;
    let deadline = row.cancel_deadline.unwrap_or_else(|| rows::later(edp.settings().cancel_timeout));
    let Some(engine) = edp.engines().get(&row.engine) else {
        let mut later = rows::blank();
        later.next_action_at = Set(Some(rows::later(Duration::from_secs(30))));
        return settle(edp, &row, &lease, later).await;
    };
    if row.engine_job_id.is_none() {
        match unrecorded(edp, &engine, &row).await? {
            Unrecorded::Never(reason) => {
                return settle(edp, &row, &lease, rows::finish(&row, Status::Killed, &reason)).await;
            }
            Unrecorded::Found(launched) => {
                // Kill what the engine has, as any launched job.
                row.engine_job_id = Some(launched.engine_job_id);
                row.extra["engine"] = launched.extra;
            }
            Unrecorded::AskAgain(why) => {
                let mut later = rows::blank();
                later.next_action_at = Set(Some(rows::later(Duration::from_secs(5))));
                later.info = Set(rows::info_with(&row, Status::ToBeKilled, "cancel_error", why.into()));
                return settle(edp, &row, &lease, later).await;
            }
        }
    }
    let hints = poll::polling(edp, &engine, &row, poll::Shows::of_info(&row.info));
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
                return settle(edp, &row, &lease, with_engine_facts(&row, rows::finish(&row, Status::Killed, &reason)))
                    .await;
            }
            Err(e) => tracing::warn!(execution = %row.id, error = %e, "cancel call failed"),
            Ok(_) => {}
        }
        // The engine's word is confirmed by reading the status back.
        match engine.client.get_job_status(&handle, timeout).await {
            Ok(report) if report.status.is_terminal() => {
                let changes = rows::apply_report(&row, hints, report).into_changes();
                return settle(edp, &row, &lease, with_engine_facts(&row, changes)).await;
            }
            Ok(report) => last = Some(report),
            Err(e) => tracing::warn!(execution = %row.id, error = %e, "status after cancel failed"),
        }
        if Utc::now() >= deadline {
            let back_to = last.as_ref().map_or(Status::Running, |r| Status::from(r.status));
            let reason = format!("the engine did not confirm the kill within {:?}", edp.settings().cancel_timeout);
            crate::observe::cancel_unconfirmed(&row, &reason);
            let mut gave_up = with_engine_facts(&row, rows::blank());
            gave_up.status = Set(back_to.as_str().into());
            gave_up.info = Set(rows::info_with(&row, back_to, "cancel_error", reason.into()));
            gave_up.cancel_deadline = Set(None);
            // At the rhythm the engine's last word asks for (a job it does
            // not watch is polled at its own rhythm, not the fallback).
            let hints = last.as_ref().map_or(hints, |r| poll::polling(edp, &engine, &row, poll::Shows::of_report(r)));
            gave_up.next_action_at = Set(Some(rows::later(rows::backoff(hints, 0))));
            return settle(edp, &row, &lease, gave_up).await;
        }
        tokio::time::sleep(step).await;
        step = (step * 2).min(Duration::from_secs(2));
    }
}

/// What a cancel does about a job with no engine id recorded.
enum Unrecorded {
    /// Nothing started: end it KILLED, for this reason.
    Never(String),
    /// The engine has it (a launch that reached it before edpd crashed or
    /// the call timed out).
    Found(Launched),
    /// The engine could not be asked now; ask again soon.
    AskAgain(String),
}

/// A launch never begun cannot have started anything. One begun may have
/// reached the engine without its answer being recorded: the engine is
/// asked by the submission tag, and what it has is killed; it is not
/// assumed away.
async fn unrecorded(edp: &Edp, engine: &LoadedEngine, row: &Model) -> Result<Unrecorded> {
    if !row.submitted {
        return Ok(Unrecorded::Never("cancelled before it was launched".into()));
    }
    let request = rows::request(row)?;
    match engine.client.find_job(&request, edp.settings().call_timeout).await {
        Ok(Some(launched)) => Ok(Unrecorded::Found(launched)),
        Ok(None) => Ok(Unrecorded::Never("cancelled before its launch reached the engine".into())),
        Err(CallError::Engine { kind, .. }) if kind == ErrorKind::UNSUPPORTED => Ok(Unrecorded::Never(format!(
            "cancelled while its launch was under way; engine '{}' cannot be asked by submission tag, so a job it \
             started may still run",
            row.engine
        ))),
        Err(e) if Utc::now() < row.cancel_deadline.unwrap_or_else(Utc::now) => {
            Ok(Unrecorded::AskAgain(format!("could not ask the engine for the job: {e}")))
        }
        Err(e) => Ok(Unrecorded::Never(format!(
            "cancelled while its launch was under way; the engine could not be asked for it before the cancel's \
             deadline ({e}), so a job it started may still run"
        ))),
    }
}

/// A found job's engine id and state go into the row with the cancel's end.
fn with_engine_facts(row: &Model, mut changes: ActiveModel) -> ActiveModel {
    if let Some(id) = &row.engine_job_id {
        changes.engine_job_id = Set(Some(id.clone()));
        if let sea_orm::ActiveValue::NotSet = changes.extra {
            changes.extra = Set(row.extra.clone());
        }
    }
    changes
}

/// The cancel's last write, under its lease. A delete waiting for the end
/// is done by the next pass (on the node that owns the job).
async fn settle(edp: &Edp, row: &Model, lease: &Lease, changes: ActiveModel) -> Result<()> {
    let ending = crate::observe::ending(&changes);
    // Lost, the cancel (TOBEKILLED, flushed by the API) runs again.
    if rows::settle(edp, Commit::Unflushed, lease, Status::ToBeKilled, changes).await? {
        crate::observe::ended(row, ending);
    } else {
        lease::release(edp, lease).await?;
    }
    edp.jobs().wake();
    Ok(())
}
