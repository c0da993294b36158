//! The background loop: picks executions whose `next_action_at` has come
//! (or that an engine hinted about) and hands each to the right task.

use std::collections::HashSet;
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::Edp;
use crate::entity::job_execution::{self, Model};
use crate::error::Result;
use crate::status::Status;
use crate::time;

use super::{Busy, cancel, launch, poll, rows};

/// Rows looked at per pass.
const BATCH: u64 = 512;
/// The longest the loop sleeps without a reason to wake.
const IDLE: Duration = Duration::from_secs(1);

/// Starts the loop. `hints` carries execution ids engines report as changed.
pub fn spawn(edp: Edp, mut hints: UnboundedReceiver<String>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // After a restart every unfinished execution is looked at once: that
        // is how running jobs are re-attached, and launches interrupted by a
        // crash resumed (the engine finds them by their submission tag).
        if let Err(e) = make_all_due(&edp).await {
            tracing::error!(error = %e, "could not schedule unfinished jobs after start");
        }
        let mut wanted: HashSet<String> = HashSet::new();
        loop {
            while let Ok(id) = hints.try_recv() {
                wanted.insert(id);
            }
            let ids: Vec<String> = wanted.drain().collect();
            for id in ids {
                if !dispatch_one(&edp, &id).await {
                    // Busy (typically its launch is being recorded): try
                    // again when the busy task ends.
                    wanted.insert(id);
                }
            }
            let sleep = match dispatch_due(&edp).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "scheduler pass failed");
                    IDLE
                }
            };
            if let Err(e) = crate::flows::advance_all(&edp).await {
                tracing::error!(error = %e, "flow pass failed");
            }
            let sleep = if wanted.is_empty() { sleep } else { sleep.min(Duration::from_millis(20)) };
            tokio::select! {
                _ = edp.jobs().wake.notified() => {}
                Some(id) = hints.recv() => { wanted.insert(id); }
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    })
}

async fn make_all_due(edp: &Edp) -> Result<()> {
    let mut due = rows::blank();
    due.next_action_at = Set(Some(time::now()));
    due.updated_at = sea_orm::ActiveValue::NotSet;
    job_execution::Entity::update_many()
        .set(due)
        .filter(job_execution::Column::Status.is_in(Status::ACTIVE.iter().map(|s| s.as_str())))
        .exec(edp.db())
        .await?;
    Ok(())
}

/// Dispatches what is due; returns how long until the next row is.
async fn dispatch_due(edp: &Edp) -> Result<Duration> {
    let now = time::now();
    let rows: Vec<Model> = job_execution::Entity::find()
        .filter(job_execution::Column::NextActionAt.is_not_null())
        .order_by_asc(job_execution::Column::NextActionAt)
        .limit(BATCH)
        .all(edp.db())
        .await?;
    let mut claimed = Vec::new();
    let mut next = IDLE;
    for row in rows {
        let at = row.next_action_at.unwrap_or(now);
        if at > now {
            next = (at - now).to_std().unwrap_or(IDLE).min(IDLE);
            break;
        }
        if let Some(busy) = Busy::try_claim(edp, &row.id) {
            claimed.push((row, busy));
        }
    }
    if claimed.is_empty() {
        return Ok(next);
    }
    // Lease the rows before the tasks start, so the next pass skips them;
    // each task writes the real next time when it ends. After a crash the
    // start-up pass makes them due again.
    let lease = edp.settings().launch_timeout.max(edp.settings().cancel_timeout) + Duration::from_secs(60);
    let mut leased = rows::blank();
    leased.next_action_at = Set(Some(rows::later(lease)));
    leased.updated_at = sea_orm::ActiveValue::NotSet;
    job_execution::Entity::update_many()
        .set(leased)
        .filter(job_execution::Column::Id.is_in(claimed.iter().map(|(r, _)| r.id.clone())))
        .exec(edp.db())
        .await?;
    let full = claimed.len() as u64 == BATCH;
    for (row, busy) in claimed {
        run(edp, row, busy);
    }
    Ok(if full { Duration::ZERO } else { next })
}

/// Dispatches one execution now, whatever its `next_action_at`. False when
/// another task holds it.
async fn dispatch_one(edp: &Edp, id: &str) -> bool {
    let Some(busy) = Busy::try_claim(edp, id) else { return false };
    match rows::load(edp, id).await {
        Ok(Some(row)) if !rows::status(&row).is_terminal() => run(edp, row, busy),
        Ok(_) => {}
        Err(e) => tracing::warn!(execution = %id, error = %e, "could not load hinted job"),
    }
    true
}

fn run(edp: &Edp, row: Model, busy: Busy) {
    tracing::debug!(execution = %row.id, status = %row.status, "dispatched");
    let edp = edp.clone();
    tokio::spawn(async move {
        let id = row.id.clone();
        let in_flow = row.flow_id.is_some();
        let outcome = match rows::status(&row) {
            Status::Pending if row.engine_job_id.is_none() => launch::launch(&edp, row, busy).await,
            Status::ToBeKilled => cancel::run(&edp, row, busy).await,
            status if status.is_terminal() => Ok(()),
            _ => poll::poll_once(&edp, row, busy).await,
        };
        if let Err(e) = outcome {
            tracing::error!(execution = %id, error = %e, "background step failed; will retry");
        }
        // Its flow may be waiting on it.
        if in_flow {
            edp.jobs().wake();
        }
    });
}
