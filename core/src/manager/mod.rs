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
//! Writes that race with the API are conditional on the status read, so a
//! cancel is never overwritten by a poll that started before it.

mod api;
mod cancel;
mod dry_run;
mod launch;
mod output;
mod poll;
mod request;
mod rows;
mod scheduler;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};

pub(crate) use api::prepare;
pub use api::{
    ExecutionFilter, ExecutionPatch, JobConfigs, NewJob, callback, delete, get, launch_job, list, logs, update,
};
pub(crate) use cancel::cancel_for_flow;
pub use dry_run::{DryRunAnswer, DryRunJob, InlineBinary, InlineDataSource, InlineTemplate, dry_run};
pub use output::{OutputChunk, output};
pub use scheduler::spawn;

use crate::Edp;

/// In-memory coordination of the background work.
#[derive(Default)]
pub(crate) struct State {
    /// Wakes the scheduler: a new launch, a cancel, a hint.
    wake: Notify,
    /// Executions with an engine call under way: one at a time each.
    in_flight: Mutex<HashSet<String>>,
    /// Engine calls under way at once, per engine.
    permits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl State {
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    fn permits(&self, engine: &str, limit: usize) -> Arc<Semaphore> {
        let mut permits = self.permits.lock().expect("permits lock");
        permits.entry(engine.to_string()).or_insert_with(|| Arc::new(Semaphore::new(limit))).clone()
    }
}

/// Marks an execution busy for as long as it lives.
pub(crate) struct Busy {
    edp: Edp,
    id: String,
}

impl Busy {
    /// `None` when another task already works on this execution.
    pub(crate) fn try_claim(edp: &Edp, id: &str) -> Option<Self> {
        let mut set = edp.jobs().in_flight.lock().expect("in-flight lock");
        set.insert(id.to_string()).then(|| Self { edp: edp.clone(), id: id.to_string() })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.edp.jobs().in_flight.lock().expect("in-flight lock").remove(&self.id);
    }
}
