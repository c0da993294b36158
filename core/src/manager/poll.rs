//! Polling a launched execution, and the other calls that read back a
//! status report (suspend, resume).

use edp_engine_api::abi::ErrorKind;
use edp_engine_api::host::{CallError, LoadedEngine};
use edp_engine_api::wire::{PollingHints, StatusReport, Watch};
use sea_orm::Set;

use crate::Edp;
use crate::db::Commit;
use crate::entity::job_execution::Model;
use crate::error::{Error, Result};
use crate::scope::Scope;
use crate::status::Status;

use super::api::{Action, refused};
use super::lease::{self, Claimed, Lease};
use super::rows::{self, Report};
use super::scheduler::Unchanged;

/// What a job's last report showed, as far as its polling is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shows {
    /// Progress (a MapReduce job's map and reduce percentages): worth
    /// watching at the engine's rhythm.
    Progress,
    /// A state, which changes only when the engine says so.
    StateOnly,
    /// A job the engine does not watch, though it watches others
    /// (`Watch::Polled`): its end is learnt only by polling.
    Unwatched,
}

impl Shows {
    pub(crate) fn of_info(info: &serde_json::Value) -> Self {
        if info.get("progress").is_some() { Shows::Progress } else { Shows::StateOnly }
    }

    pub(crate) fn of_report(report: &StatusReport) -> Self {
        match (report.watch, &report.progress) {
            (Watch::Polled, _) => Shows::Unwatched,
            (Watch::AsDeclared, Some(_)) => Shows::Progress,
            (Watch::AsDeclared, None) => Shows::StateOnly,
        }
    }
}

/// How often this row's engine wants it polled. A job the engine watches
/// on this host (it sends a hint when the job changes: local, spark-submit)
/// is polled only as a safety net, every `fallback_poll`, unless it shows
/// progress, which is polled at the engine's rhythm slowing down to that,
/// or the engine said it does not watch that one (`Watch::Polled`), which
/// is polled at the engine's rhythm. (Tracking 10,000 such jobs then costs
/// a few polls a second: see BENCHMARKS.md, "Tracking many running jobs".) The first poll after a
/// launch is at the engine's rhythm ([`first_poll`]): it is how a job's
/// progress is first seen.
pub(crate) fn polling(edp: &Edp, engine: &LoadedEngine, row: &Model, shows: Shows) -> PollingHints {
    let hints = engine.description.polling;
    if !(row.host_bound && engine.description.capabilities.status_hints) {
        return hints;
    }
    let fallback = edp.settings().fallback_poll.as_millis() as u64;
    match shows {
        Shows::Progress => PollingHints { initial_ms: hints.initial_ms, max_ms: hints.max_ms.max(fallback) },
        Shows::StateOnly => PollingHints { initial_ms: fallback, max_ms: fallback },
        Shows::Unwatched => hints,
    }
}

/// When a just-launched job is first polled: at the engine's rhythm.
pub(crate) fn first_poll(engine: &LoadedEngine) -> std::time::Duration {
    rows::backoff(engine.description.polling, 0)
}

/// Asks the engine once and records the answer. Only `NOT_FOUND` ends a job
/// here: a network error or a misbehaving engine leaves the last known state
/// (with `info.poll_error`) and is retried with backoff. A report that
/// changes nothing is not written: its lease goes back with the pass's
/// others (`unchanged`).
pub(crate) async fn poll_once(edp: &Edp, claimed: Claimed, unchanged: &Unchanged) -> Result<()> {
    let Claimed { row, lease } = claimed;
    match ask(edp, &row).await? {
        Report::Unchanged { status, next } => {
            unchanged.push(lease, status, next);
            Ok(())
        }
        Report::Changed(changes) => settle(edp, &row, Held::Lease(&lease), changes).await,
    }
}

/// [`poll_once`] of a row an engine hinted at (a job of this node ended),
/// read but not claimed: the engine call only reads, so the row is written
/// once, if the answer changes it, under the conditions of
/// [`rows::settle_unclaimed`]; a claim first was a second write of each
/// job's end (issue 16). An answer that changes nothing writes nothing.
pub(crate) async fn poll_hinted(edp: &Edp, row: Model) -> Result<()> {
    match ask(edp, &row).await? {
        Report::Unchanged { .. } => Ok(()),
        Report::Changed(changes) => settle(edp, &row, Held::Nothing, changes).await,
    }
}

/// Asks the row's engine for its job's status: what the answer (or the
/// failure to get one) makes of the row.
async fn ask(edp: &Edp, row: &Model) -> Result<Report> {
    let was = rows::status(row);
    let Some(engine) = edp.engines().get(&row.engine) else {
        let mut later = rows::blank();
        later.next_action_at = Set(Some(rows::later(std::time::Duration::from_secs(60))));
        later.info =
            Set(rows::info_with(row, was, "poll_error", format!("engine '{}' is not loaded", row.engine).into()));
        return Ok(Report::Changed(Box::new(later)));
    };
    let handle = rows::handle(row)?;
    let changes = match engine.client.get_job_status(&handle, edp.settings().call_timeout).await {
        Ok(report) => {
            return Ok(rows::apply_report(row, polling(edp, &engine, row, Shows::of_report(&report)), report));
        }
        Err(CallError::Engine { kind, message }) if kind == ErrorKind::NOT_FOUND => {
            rows::finish(row, Status::Failed, &format!("the engine no longer knows this job: {message}"))
        }
        Err(e) => {
            tracing::debug!(execution = %row.id, error = %e, "poll failed");
            let attempts = row.attempts.saturating_add(1);
            let mut retry = rows::blank();
            retry.attempts = Set(attempts);
            // A failed poll is tried again at the engine's own rhythm, not
            // at a watched job's fallback: the answer is still owed.
            retry.next_action_at = Set(Some(rows::later(rows::backoff(engine.description.polling, attempts))));
            retry.info = Set(rows::info_with(row, was, "poll_error", e.to_string().into()));
            retry
        }
    };
    Ok(Report::Changed(Box::new(changes)))
}

/// What a poll's write is conditional on, beside the status it read.
#[derive(Clone, Copy)]
enum Held<'a> {
    /// This node's lease on the row.
    Lease(&'a Lease),
    /// Nothing: the row was read, not claimed ([`poll_hinted`]).
    Nothing,
}

/// The task's last write; if the API changed the row meanwhile (a cancel),
/// the lease goes back and the next pass looks again.
async fn settle(
    edp: &Edp,
    row: &Model,
    held: Held<'_>,
    changes: Box<crate::entity::job_execution::ActiveModel>,
) -> Result<()> {
    let was = rows::status(row);
    let ending = crate::observe::ending(&changes);
    // Lost, the engine is asked again.
    let written = match held {
        Held::Lease(lease) => rows::settle(edp, Commit::Unflushed, lease, was, *changes).await?,
        Held::Nothing => rows::settle_unclaimed(edp, Commit::Unflushed, row, was, *changes).await?,
    };
    if written {
        if ending.is_some() {
            // A job that ended frees a slot (a cluster's or a project's
            // limit): the next pass comes at once if launches wait for one.
            edp.jobs().scheduler.freed(edp);
        }
        crate::observe::ended(row, ending);
    } else {
        if let Held::Lease(lease) = held {
            lease::release(edp, lease).await?;
        }
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
    let Claimed { row, lease } = claim_soon(edp, &row.id, edp.settings().call_timeout).await?.ok_or_else(|| {
        Error::UpdateFailed(format!("the job is busy with another engine call; {action} again in a moment"))
    })?;
    let handle = rows::handle(&row)?;
    let timeout = edp.settings().call_timeout;
    let report = if suspend {
        engine.client.suspend_job(&handle, timeout).await
    } else {
        engine.client.resume_job(&handle, timeout).await
    };
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            lease::release(edp, &lease).await?;
            return Err(refused(e));
        }
    };
    let hints = polling(edp, &engine, &row, Shows::of_report(&report));
    let changes = rows::apply_report(&row, hints, report).into_changes();
    settle(edp, &row, Held::Lease(&lease), Box::new(changes)).await
}

/// Claims the execution, waiting for a step under way to finish first (a
/// user's action should not fail because a poll happened to be running).
pub(crate) async fn claim_soon(edp: &Edp, id: &str, patience: std::time::Duration) -> Result<Option<Claimed>> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(claimed) = lease::claim_one(edp, id).await? {
            return Ok(Some(claimed));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
