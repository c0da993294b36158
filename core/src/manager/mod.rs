//! The job manager: the only writer of execution rows.
//!
//! The API inserts an execution as PENDING (after the engine validated it)
//! and returns; everything else happens in the background, driven by the
//! row's `next_action_at`:
//! - PENDING, not launched → [`launch`] calls `run_job` (the execution id is
//!   the submission tag, so a retry after a crash finds the job again);
//! - PREP / RUNNING / SUSPENDED → [`poll`] with backoff, or at once when an
//!   engine hints that a job changed;
//! - TOBEKILLED → [`cancel`] asks the engine and confirms by re-reading
//!   status until the deadline.
//!
//! Several edpd may share the database: a node works on a row only under
//! the row's lease (`lease`), and its writes are conditional on that lease
//! and on the status it read, so a cancel is never overwritten by a poll
//! that started before it, and a node that lost its lease writes nothing.
//! Jobs that run on an edpd host belong to that node (`nodes`).

mod api;
mod cancel;
mod dry_run;
mod launch;
mod lease;
mod nodes;
mod output;
pub(crate) mod policy;
mod poll;
mod request;
mod rows;
mod scheduler;
mod slots;

use tokio::sync::Notify;

pub(crate) use api::prepare;
pub use api::{
    ExecutionFilter, ExecutionPatch, JobConfigs, NewJob, attempt_logs, callback, delete, get, launch_job, list, logs,
    rerun, served_here, update,
};
pub(crate) use cancel::cancel_for_flow;
pub use dry_run::{DryRunAnswer, DryRunJob, InlineBinary, InlineDataSource, InlineTemplate, dry_run};
pub use output::{OutputChunk, output};
pub use policy::{Defaults as JobDefaults, MAX_ATTEMPTS, MAX_RETRY_DELAY_SECS};
pub use scheduler::{Pass, recover, spawn, tick, tick_hints};

/// In-memory coordination of this node's background work (what is shared
/// with other nodes is in the rows: see `lease`).
#[derive(Default)]
pub(crate) struct State {
    /// Wakes the scheduler: a new launch, a cancel, a hint, a freed slot.
    wake: Notify,
    scheduler: scheduler::SchedulerState,
    heart: nodes::Heart,
}

impl State {
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Purges a finished execution (retention) as a DELETE would, under its
/// lease, so that no step (and no other node) works on it meanwhile.
/// Returns whether it did.
pub(crate) async fn purge(edp: &crate::Edp, id: &str) -> crate::Result<bool> {
    let Some(claimed) = lease::claim_one(edp, id).await? else { return Ok(false) };
    if !rows::status(&claimed.row).is_terminal() {
        lease::release(edp, &claimed.lease).await?;
        return Ok(false);
    }
    rows::destroy(edp, claimed.row).await?;
    Ok(true)
}
