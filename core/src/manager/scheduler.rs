//! The background loop. Each pass ([`tick`]) claims due work cluster by
//! cluster and hands each claimed row to its step (launch, poll, cancel,
//! delete); engines' hints (a job ended) are looked at at once.
//!
//! **Fairness.** Work is claimed per cluster, never as one global
//! oldest-first batch, and only as much as that cluster has free slots
//! (`cluster_concurrency` engine calls at once). A slow or hung cluster
//! fills its own slots and nobody else's: its due rows stay unclaimed (so
//! another node may take them), and every other cluster, of its engine or
//! another, is claimed and served as usual. Within a cluster, cancels come
//! first, then launches, then polls; polls may use all but
//! [`RESERVED_FOR_ACTIONS`] slots, so a backlog of polls never holds up a
//! cancel or a launch. An engine's calls are also bounded as a whole
//! (`engine_concurrency`), above any one cluster's share.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Edp;
use crate::error::Result;
use crate::status::Status;

use super::lease::{self, Claimed, Lease, Work};
use super::{cancel, launch, nodes, policy, poll, rows, slots};

/// The longest the loop sleeps without a reason to wake.
const IDLE: Duration = Duration::from_secs(1);
/// How soon a step that failed with an error is tried again.
const STEP_RETRY: Duration = Duration::from_secs(5);
/// How soon the loop looks again at hinted rows that were busy,
/// and gives back the leases of polls that found nothing new.
const SOON: Duration = Duration::from_millis(50);
/// Slots of each cluster that polls leave free for cancels and launches.
pub(crate) const RESERVED_FOR_ACTIONS: usize = 2;
/// How long a pass waits after its wake while the last one left due rows
/// unclaimed for want of slots (a backlog). Every step that ends and every
/// job that ends wakes the loop; under a backlog that was a pass per wake,
/// each pass's statements costing as much for one freed slot as for
/// several. Waiting lets the steps ending meanwhile free
/// their slots too, and one pass claims for all of them: 15% fewer SQLite
/// steps a launch under `edp-bench`'s load (BENCHMARKS.md, issue 16). Nothing waits when there
/// is no backlog; with one (a hung cluster, more jobs than slots), a hint
/// waits this much longer for its pass.
const BACKLOG_GATHER: Duration = Duration::from_millis(1);

/// What a start does before its first pass ([`spawn`] runs it; tests that
/// drive passes themselves may): the leases a previous run of this node
/// held are let go, and every unfinished row it may work on is made due,
/// rows already due keeping their place in their queue.
pub async fn recover(edp: &Edp) -> Result<()> {
    lease::recover(edp).await
}

/// Starts the loop. `hints` carries execution ids engines report as changed.
pub fn spawn(edp: Edp, mut hints: UnboundedReceiver<String>) -> JoinHandle<()> {
    edp.jobs().scheduler.running.store(true, Ordering::Relaxed);
    tokio::spawn(async move {
        // After a start every unfinished execution this node may work on is
        // looked at once: that is how running jobs are re-attached, and
        // launches interrupted by a crash resumed (the engine finds them by
        // their submission tag).
        if let Err(e) = recover(&edp).await {
            tracing::error!(error = %e, "could not schedule unfinished jobs after start");
        }
        let mut wanted: HashSet<String> = HashSet::new();
        // When the next whole pass is due; a wake (a new job, a freed slot
        // under a backlog, a flow's job ending) makes it due at once.
        let mut pass_at = Instant::now();
        loop {
            while let Ok(id) = hints.try_recv() {
                wanted.insert(id);
            }
            let outcome = if Instant::now() >= pass_at {
                tick(&edp, &mut wanted).await.map(|pass| pass_at = Instant::now() + pass.next)
            } else {
                tick_hints(&edp, &mut wanted).await.map(|pass| pass_at = pass_at.min(Instant::now() + pass.next))
            };
            if let Err(e) = outcome {
                tracing::error!(error = %e, "scheduler pass failed");
                pass_at = Instant::now() + IDLE;
            }
            // Hints still wanted, or leases to give back: a look at those
            // alone comes soon (a lease given back meanwhile brings it at
            // once); the whole pass keeps its time.
            let state = &edp.jobs().scheduler;
            let hints_at = if wanted.is_empty() && state.unchanged.is_empty() {
                pass_at
            } else {
                pass_at.min(Instant::now() + SOON)
            };
            tokio::select! {
                _ = edp.jobs().wake.notified() => pass_at = Instant::now(),
                _ = state.hints_retry.notified() => {}
                Some(id) = hints.recv() => { wanted.insert(id); }
                _ = tokio::time::sleep_until(hints_at) => {}
            }
            if state.backlog.load(Ordering::Relaxed) {
                tokio::time::sleep(BACKLOG_GATHER).await;
            }
        }
    })
}

/// What one pass ([`tick`], or [`tick_hints`] alone) started.
pub struct Pass {
    /// The steps it started, each its own task.
    pub tasks: Vec<JoinHandle<()>>,
    /// How long until the next whole pass should look at what is due (the
    /// hinted rows and the leases to give back are looked at sooner).
    pub next: Duration,
}

impl Pass {
    /// Waits for every step of this pass (tests drive passes one by one).
    pub async fn finish(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One pass: give back the leases of polls that found nothing new, look at
/// what engines hinted at, then claim what is due, cluster by cluster;
/// advance flows; say when to look again. `wanted` keeps hinted ids that
/// could not be looked at yet (their row is busy).
pub async fn tick(edp: &Edp, wanted: &mut HashSet<String>) -> Result<Pass> {
    let state = &edp.jobs().scheduler;
    // The leases it gives back are due again later: `next_due` below sees them.
    let Pass { mut tasks, .. } = tick_hints(edp, wanted).await?;
    nodes::beat(edp).await?;

    let mut backlog = false;
    for (cluster, oldest) in lease::due_clusters(edp).await? {
        let slots = state.cluster(&cluster, edp.settings().cluster_concurrency);
        let free = slots.all.available_permits();
        let slots::Claims { claimed: actions, left_due } =
            slots::claim_actions(edp, &cluster, free as u64, &slots.telling).await?;
        let free = free.saturating_sub(actions.len()).min(slots.polls.available_permits());
        let polls = lease::claim_due(edp, &cluster, Work::Polls, free as u64).await?;
        // The cluster has due rows, by `due_clusters`.
        backlog |= left_due || lease::took_all(polls.len(), free as u64);
        // The oldest due row is claimed first (after cancels): how late it
        // is picked up is the scheduler's lag.
        if !(actions.is_empty() && polls.is_empty()) {
            crate::observe::picked_up(oldest);
        }
        for claimed in actions.into_iter().chain(polls) {
            tasks.push(run(edp, Task::Claimed(claimed)));
        }
    }

    state.backlog.store(backlog, Ordering::Relaxed);

    if let Err(e) = crate::flows::advance_all(edp).await {
        tracing::error!(error = %e, "flow pass failed");
    }

    Ok(Pass { tasks, next: until(lease::next_due(edp).await?) })
}

/// The part of a pass that engines' hints need, and all a hint alone
/// wakes: give back the leases of polls that found nothing new, and poll
/// the hinted rows (a job ended: its end is recorded at once). What is
/// due is left to the next whole pass ([`tick`]), at the time the last one
/// said or at a wake: a hint changes nothing of it, and looking (the due
/// rows by cluster, the flows, the next due row) was three of a launch's
/// seven statements at low load (issue 16). Its `next` is how soon a lease
/// it gave back is due again: the whole pass must come by then.
pub async fn tick_hints(edp: &Edp, wanted: &mut HashSet<String>) -> Result<Pass> {
    let state = &edp.jobs().scheduler;
    let next = until(state.unchanged.flush(edp).await?);
    let mut tasks = Vec::new();
    // Set while hinted rows are being looked at, so that a step giving back
    // one of their leases meanwhile has them looked at again at once.
    state.hints_waiting.store(!wanted.is_empty(), Ordering::Relaxed);
    for id in std::mem::take(wanted) {
        if state.hold_hint(&id) {
            continue;
        }
        match look_at_hinted(edp, &id).await {
            Hinted::Poll(row) => tasks.push(run(edp, Task::Hinted(*row))),
            Hinted::Claimed(claimed) if rows::status(&claimed.row).is_terminal() && !claimed.row.delete_requested => {
                lease::release(edp, &claimed.lease).await?;
            }
            Hinted::Claimed(claimed) => tasks.push(run(edp, Task::Claimed(*claimed))),
            Hinted::Busy => {
                wanted.insert(id);
            }
            Hinted::NotOurs => {}
        }
    }
    state.hints_waiting.store(!wanted.is_empty(), Ordering::Relaxed);
    Ok(Pass { tasks, next })
}

/// How long until `at`, the loop sleeping no longer than [`IDLE`].
fn until(at: Option<DateTime<Utc>>) -> Duration {
    at.map_or(IDLE, |at| (at - chrono::Utc::now()).to_std().unwrap_or_default().min(IDLE))
}

/// Whether a job just accepted may skip the queue: launched by this node at
/// once, under a lease written with its row ([`lease::claim_new`]), rather
/// than inserted unclaimed for a pass to find (a pass costs several
/// statements and, at low load, most of the time from POST to a running
/// job; issue 16). Only where the queue would have launched it at once as
/// well: this node's scheduler runs (tests that drive passes themselves
/// see every launch in a pass), no job limit applies to its cluster or its
/// project (those are counted where launches are claimed, in submission
/// order: `slots`), and its cluster has a free engine-call slot here.
pub(crate) fn may_launch_at_once(edp: &Edp, cluster: &crate::entity::cluster::Model) -> bool {
    let state = &edp.jobs().scheduler;
    state.running.load(Ordering::Relaxed)
        && cluster.max_concurrent_jobs.is_none()
        && edp.settings().project_job_limit.is_none()
        && state.cluster(&cluster.id, edp.settings().cluster_concurrency).all.available_permits() > 0
}

/// Launches a row inserted with this node's claim on it.
pub(crate) fn launch_at_once(edp: &Edp, claimed: Claimed) {
    crate::observe::picked_up(claimed.row.created_at);
    run(edp, Task::Claimed(claimed));
}

/// What became of a hinted row.
enum Hinted {
    /// Due for a poll, read and not claimed: [`poll::poll_hinted`] writes
    /// it once, if the engine's answer changes it. Boxed: a whole row.
    Poll(Box<crate::entity::job_execution::Model>),
    /// Boxed: a whole row, beside empty variants.
    Claimed(Box<Claimed>),
    /// Its lease is held (or the database failed): kept for the next pass.
    /// A hint is never lost to a busy row or a passing database error: a
    /// job whose engine tells of its end is otherwise polled only every
    /// `fallback_poll_secs`.
    Busy,
    /// Finished, gone, or another node's: its end is looked at there.
    NotOurs,
}

/// Reads a hinted row and decides: a poll (most hints: a job ended) runs on
/// the row as read; any other step (a cancel, a time-out, a delete) claims
/// it first ([`claim_hinted`]).
async fn look_at_hinted(edp: &Edp, id: &str) -> Hinted {
    let row = match rows::load(edp, id).await {
        Ok(Some(row)) => row,
        Ok(None) => return Hinted::NotOurs,
        Err(e) => {
            tracing::warn!(execution = %id, error = %e, "could not look at hinted job; will again");
            return Hinted::Busy;
        }
    };
    // Held by a step (here, or on the node launching it): kept until the
    // lease is given back.
    if !lease::is_free(&row, crate::time::now()) && row.next_action_at.is_some() {
        return Hinted::Busy;
    }
    let status = rows::status(&row);
    if (status.is_terminal() && !row.delete_requested) || !lease::claimable_by_hint(&row, &edp.settings().node_id) {
        return Hinted::NotOurs;
    }
    match Step::of(&row) {
        Step::Poll => Hinted::Poll(Box::new(row)),
        _ => claim_hinted(edp, id).await,
    }
}

/// Claims a hinted row. A row freed between the claim and the look at it
/// (a launch recorded just after its job ended, which is when hints come
/// during launches) is claimed again at once rather than a pass later.
async fn claim_hinted(edp: &Edp, id: &str) -> Hinted {
    for _ in 0..2 {
        match lease::claim_one(edp, id).await {
            Ok(Some(claimed)) => return Hinted::Claimed(Box::new(claimed)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(execution = %id, error = %e, "could not claim hinted job; will again");
                return Hinted::Busy;
            }
        }
        match rows::load(edp, id).await {
            Ok(Some(row)) if row.lease_owner.is_some() && row.next_action_at.is_some() => return Hinted::Busy,
            Ok(Some(row))
                if !rows::status(&row).is_terminal() && lease::claimable_by_hint(&row, &edp.settings().node_id) => {}
            Ok(_) => return Hinted::NotOurs,
            Err(e) => {
                tracing::warn!(execution = %id, error = %e, "could not look at hinted job; will again");
                return Hinted::Busy;
            }
        }
    }
    Hinted::Busy
}

/// A row a step works on.
enum Task {
    /// Claimed: this node holds its lease.
    Claimed(Claimed),
    /// Read, not claimed: a hinted job's poll ([`Hinted::Poll`]).
    Hinted(crate::entity::job_execution::Model),
}

impl Task {
    fn row(&self) -> &crate::entity::job_execution::Model {
        match self {
            Task::Claimed(claimed) => &claimed.row,
            Task::Hinted(row) => row,
        }
    }

    fn step(&self) -> Step {
        match self {
            Task::Claimed(claimed) => Step::of(&claimed.row),
            Task::Hinted(_) => Step::Poll,
        }
    }

    fn lease(&self) -> Option<Lease> {
        match self {
            Task::Claimed(claimed) => Some(claimed.lease.clone()),
            Task::Hinted(_) => None,
        }
    }

    async fn work(self, edp: &Edp, step: Step) -> Result<()> {
        let claimed = match self {
            Task::Hinted(row) => return poll::poll_hinted(edp, row).await,
            Task::Claimed(claimed) => claimed,
        };
        match step {
            Step::Launch => launch::launch(edp, claimed).await,
            Step::Cancel => cancel::run(edp, claimed).await,
            Step::Poll => poll::poll_once(edp, claimed, &edp.jobs().scheduler.unchanged).await,
            Step::Delete => delete(edp, claimed).await,
            Step::Nothing => lease::release(edp, &claimed.lease).await,
            Step::TimeOut => policy::time_out(edp, claimed).await,
        }
    }
}

/// Runs a row's step in a task of its own, within its cluster's and
/// engine's slots.
fn run(edp: &Edp, task: Task) -> JoinHandle<()> {
    let row = task.row();
    tracing::debug!(execution = %row.id, status = %row.status, "dispatched");
    let in_step = InStep::begin(edp, &row.id);
    let edp = edp.clone();
    tokio::spawn(async move {
        let (id, in_flow) = (task.row().id.clone(), task.row().flow_id.is_some());
        let (step, lease) = (task.step(), task.lease());
        let permits = edp.jobs().scheduler.permits(&edp, task.row(), step).await;
        let outcome = task.work(&edp, step).await;
        drop(permits);
        if let Err(e) = outcome {
            tracing::error!(execution = %id, error = %e, "background step failed; will retry");
            retry_soon(&edp, &id, lease).await;
        }
        // Its lease is given back: a hint held meanwhile is claimed now.
        drop(in_step);
        // Its flow may be waiting on it; its slot and lease may let in
        // what the last pass left waiting. Not a pass after every step:
        // a pass is several statements, and one per launch was most of
        // what a launch cost edpd (issue 16).
        if in_flow {
            edp.jobs().wake();
        } else {
            edp.jobs().scheduler.freed(&edp);
        }
    })
}

/// After a step failed with an error, its row is looked at again in
/// [`STEP_RETRY`]: rather than when its lease expires (if the step did not
/// write or give it back already), or, for a hinted poll, than its next
/// poll.
async fn retry_soon(edp: &Edp, id: &str, lease: Option<Lease>) {
    match lease {
        Some(lease) => {
            if let Err(e) = lease::release_for_retry(edp, &lease, STEP_RETRY).await {
                tracing::warn!(execution = %id, error = %e, "could not give the lease back; it expires");
            }
        }
        None => {
            let (edp, id) = (edp.clone(), id.to_owned());
            tokio::spawn(async move {
                tokio::time::sleep(STEP_RETRY).await;
                edp.poke(&id);
            });
        }
    }
}

/// The step a claimed row is due for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Launch,
    Poll,
    Cancel,
    /// A finished job whose delete waited for its end (or for its node).
    Delete,
    /// A launched job past its deadline (`policy`): its cancel begins.
    TimeOut,
    Nothing,
}

impl Step {
    fn of(row: &crate::entity::job_execution::Model) -> Self {
        match rows::status(row) {
            Status::Pending if row.engine_job_id.is_none() => Self::Launch,
            Status::ToBeKilled => Self::Cancel,
            _ if policy::timed_out(row) => Self::TimeOut,
            status if status.is_terminal() && row.delete_requested => Self::Delete,
            status if status.is_terminal() => Self::Nothing,
            _ => Self::Poll,
        }
    }
}

async fn delete(edp: &Edp, claimed: Claimed) -> Result<()> {
    rows::destroy(edp, claimed.row).await
}

/// In-memory coordination of this node's passes.
#[derive(Default)]
pub(crate) struct SchedulerState {
    /// Whether this node's loop runs ([`spawn`]); tests drive passes alone.
    running: AtomicBool,
    /// Whether the last pass left due rows unclaimed for want of slots.
    backlog: AtomicBool,
    /// Whether the last pass kept hinted rows it could not claim (busy).
    hints_waiting: AtomicBool,
    /// Wakes the loop for the hinted rows alone (a lease they waited for
    /// was given back), not for a whole pass.
    hints_retry: Notify,
    /// The rows whose step runs on this node now ([`run`]), and whether a
    /// hint came for one meanwhile ([`SchedulerState::hold_hint`]).
    stepping: Mutex<HashMap<String, Stepping>>,
    clusters: Mutex<HashMap<String, Arc<ClusterSlots>>>,
    engines: Mutex<HashMap<String, Arc<Semaphore>>>,
    pub(crate) unchanged: Unchanged,
}

/// A cluster's engine calls under way on this node.
pub(crate) struct ClusterSlots {
    all: Arc<Semaphore>,
    /// What polls may take of `all`.
    polls: Arc<Semaphore>,
    /// When the cluster's queue was last told why it waits.
    telling: slots::Telling,
}

struct Permits {
    _cluster: Option<OwnedSemaphorePermit>,
    _polls: Option<OwnedSemaphorePermit>,
    _engine: Option<OwnedSemaphorePermit>,
}

/// A row's step running on this node, from its dispatch to its end (a
/// panic included): hints for the row are held meanwhile
/// ([`SchedulerState::hold_hint`]) and told again when it ends.
struct InStep {
    edp: Edp,
    id: String,
}

impl InStep {
    fn begin(edp: &Edp, id: &str) -> Self {
        // Never over a hint held for the same row (a second step of it, its
        // lease having run out): the first step's end tells that one.
        edp.jobs().scheduler.stepping.lock().expect("stepping").entry(id.to_owned()).or_insert(Stepping::Quiet);
        Self { edp: edp.clone(), id: id.to_owned() }
    }
}

impl Drop for InStep {
    fn drop(&mut self) {
        let held = self.edp.jobs().scheduler.stepping.lock().map(|mut s| s.remove(&self.id)).ok().flatten();
        if held == Some(Stepping::Hinted) {
            self.edp.poke(&self.id);
        }
    }
}

/// A row whose step runs on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stepping {
    Quiet,
    /// A hint came during the step: it is told again once the step ends.
    Hinted,
}

impl SchedulerState {
    /// Whether `id`'s step runs on this node now, its hint then held until
    /// the step ends ([`InStep`] tells it again). A claim now would find the
    /// step's lease, and the row would be read to learn why: two
    /// statements for nothing, and a fast job's end is often told while its
    /// launch is being recorded (issue 16). A step on another node, or one
    /// this node dispatched twice after its lease ran out, is left to the
    /// claim: it finds the row busy and keeps the hint.
    fn hold_hint(&self, id: &str) -> bool {
        match self.stepping.lock().expect("stepping").get_mut(id) {
            Some(stepping) => {
                *stepping = Stepping::Hinted;
                true
            }
            None => false,
        }
    }

    /// A step gave back what others may wait for: a slot (an engine
    /// call's, or a job limit's when a job ended) or a row's lease. A whole
    /// pass at once if the last one left due rows unclaimed; the hinted
    /// rows alone if only they wait. A fast job's end is often hinted
    /// before its launch is recorded, its row still leased to the launch:
    /// that wake was a whole pass for most launches at low load on
    /// Postgres (61 in 100), three statements that look at what is due,
    /// which a lease given back does not change (issue 16).
    pub(crate) fn freed(&self, edp: &Edp) {
        if self.backlog.load(Ordering::Relaxed) {
            edp.jobs().wake();
        } else if self.hints_waiting.load(Ordering::Relaxed) {
            self.hints_retry.notify_one();
        }
    }

    fn cluster(&self, id: &str, concurrency: usize) -> Arc<ClusterSlots> {
        let mut clusters = self.clusters.lock().expect("cluster slots");
        clusters
            .entry(id.to_string())
            .or_insert_with(|| {
                let concurrency = concurrency.max(RESERVED_FOR_ACTIONS + 1);
                Arc::new(ClusterSlots {
                    all: Arc::new(Semaphore::new(concurrency)),
                    polls: Arc::new(Semaphore::new(concurrency - RESERVED_FOR_ACTIONS)),
                    telling: slots::Telling::default(),
                })
            })
            .clone()
    }

    fn engine(&self, id: &str, concurrency: usize) -> Arc<Semaphore> {
        let mut engines = self.engines.lock().expect("engine permits");
        engines.entry(id.to_string()).or_insert_with(|| Arc::new(Semaphore::new(concurrency))).clone()
    }

    /// The slots a step holds while it calls its engine: its cluster's (and,
    /// for a poll, the polls' share) and its engine's. Deletes and no-ops
    /// call little and hold none.
    async fn permits(&self, edp: &Edp, row: &crate::entity::job_execution::Model, step: Step) -> Permits {
        if matches!(step, Step::Delete | Step::Nothing | Step::TimeOut) {
            return Permits { _cluster: None, _polls: None, _engine: None };
        }
        let cluster = self.cluster(&row.cluster_id, edp.settings().cluster_concurrency);
        let engine = self.engine(&row.engine, edp.settings().engine_concurrency);
        let polls = match step {
            Step::Poll => cluster.polls.clone().acquire_owned().await.ok(),
            _ => None,
        };
        let all = cluster.all.clone().acquire_owned().await.ok();
        let engine = engine.acquire_owned().await.ok();
        Permits { _cluster: all, _polls: polls, _engine: engine }
    }
}

/// Leases of polls that found nothing new, given back together at the next
/// pass: a fallback poll of a quiet job writes its row no more than the
/// claim did.
#[derive(Default)]
pub(crate) struct Unchanged(Mutex<Vec<(Lease, Status, DateTime<Utc>)>>);

impl Unchanged {
    pub(crate) fn push(&self, lease: Lease, status: Status, next: DateTime<Utc>) {
        self.0.lock().expect("unchanged").push((lease, status, next));
    }

    fn is_empty(&self) -> bool {
        self.0.lock().expect("unchanged").is_empty()
    }

    /// Gives the leases back; says when the first of their rows is due.
    async fn flush(&self, edp: &Edp) -> Result<Option<DateTime<Utc>>> {
        let batch = std::mem::take(&mut *self.0.lock().expect("unchanged"));
        let first = batch.iter().map(|(_, _, next)| *next).min();
        if first.is_some() {
            lease::release_unchanged(edp, batch).await?;
        }
        Ok(first)
    }
}
