//! Changes to jobs and flows, for dashboards to follow (`GET /v2/events`).
//!
//! Several edpd may share one database, and a change made by one must reach
//! the subscribers of every other, so the database is the source: one
//! [`Poller`] per process reads the job executions and flows whose
//! `updated_at` moved, and fans each change out through a broadcast channel;
//! each subscriber keeps what its project may see.
//!
//! - **An event is the object's state**, read after the change (a job as
//!   `GET /v2/jobs/{id}` shows it; a flow's summary). Several changes
//!   between two passes arrive as one event, and an event may come twice:
//!   applying one is idempotent.
//! - **Cursors** are `updated_at` (or a deletion's `deleted_at`) in
//!   microseconds since the epoch. Event ids
//!   never decrease on a connection, and `Last-Event-ID` replays from the
//!   database whatever changed after that cursor less [`LATE`].
//! - **Late commits**: a write stamps `updated_at` before it commits, so a
//!   row can become visible after a later-stamped one was read. Every
//!   [`SWEEP_EVERY`] passes the poller reads the last [`LATE`] again and
//!   sends what it had not seen; replays start [`LATE`] early for the same
//!   reason. A write that takes longer than that to commit (or a replica
//!   whose clock is further off) can be missed by live subscribers; a
//!   reload shows it.
//! - **Idle**: with no subscriber the poller does not touch the database; a
//!   pass with subscribers and no change reads a few index entries.
//! - **Deletions** are events too (`job.deleted`, `flow.deleted`): each
//!   leaves a record, kept an hour, that the stream reads by its
//!   `deleted_at` as it reads changes by `updated_at` ([`deletions`]). A
//!   replay from before a deletion forgotten is a `reset`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;

use crate::Edp;
use crate::entity::{flow, job_execution};
use crate::error::{Error, Result};
use crate::model::Execution;
use crate::scope::Scope;

pub(crate) mod deletions;

/// Between two passes while someone listens.
const PASS: Duration = Duration::from_millis(250);
/// How late a commit may become visible and still be sent live.
pub const LATE: Duration = Duration::from_secs(5);
/// Every this many passes, the last [`LATE`] is read again.
const SWEEP_EVERY: u32 = 8;
/// Changes a replay sends at most; beyond that a `reset` says "reload".
const REPLAY_MAX: u64 = 1_000;
/// Changes buffered per subscriber before it counts as lagging (it then
/// catches up from the database).
const CHANNEL: usize = 4_096;
/// Ids per `IN (...)` when loading the rows that changed.
const LOAD_CHUNK: usize = 500;

/// A position in the stream: an `updated_at` or `deleted_at`, in
/// microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor(i64);

impl Cursor {
    fn of(t: DateTime<Utc>) -> Self {
        Self(t.timestamp_micros())
    }

    fn time(self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// This cursor, [`LATE`] earlier: where a read that must not miss a
    /// late commit starts.
    fn minus_late(self) -> DateTime<Utc> {
        self.time() - chrono::Duration::from_std(LATE).unwrap_or_default()
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        s.trim()
            .parse::<i64>()
            .map(Cursor)
            .map_err(|_| Error::Validation(format!("Last-Event-ID '{s}' is not an event id of this stream (a number)")))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Job,
    Flow,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Job => "job",
            Kind::Flow => "flow",
        }
    }

    fn parse(kind: &str) -> Option<Self> {
        [Kind::Job, Kind::Flow].into_iter().find(|k| k.as_str() == kind)
    }
}

/// Whether a change leaves the object there or removes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Created or changed: the data is its new state.
    Present,
    /// Deleted: the data is its id and when it went.
    Deleted,
}

/// One object's new state.
#[derive(Debug)]
pub struct Change {
    pub kind: Kind,
    state: State,
    pub id: String,
    project_id: String,
    is_public: bool,
    /// When it was made: the row's `updated_at`, or the deletion's
    /// `deleted_at`.
    updated_at: DateTime<Utc>,
    /// The stream position once this change is sent (≥ its `updated_at`).
    pub cursor: Cursor,
    /// `{"job": {...}}` or `{"flow": {...}}`, serialised once for every
    /// subscriber.
    pub data: String,
}

impl Change {
    /// Sahara's rule, as for reads: own objects and public ones.
    fn visible_to(&self, scope: &Scope) -> bool {
        self.is_public || scope.owns(&self.project_id)
    }

    /// The event's name: `job`, `flow`, `job.deleted` or `flow.deleted`.
    pub fn event(&self) -> &'static str {
        match (self.kind, self.state) {
            (Kind::Job, State::Present) => "job",
            (Kind::Flow, State::Present) => "flow",
            (Kind::Job, State::Deleted) => "job.deleted",
            (Kind::Flow, State::Deleted) => "flow.deleted",
        }
    }
}

/// A deleted object as its event carries it.
#[derive(Serialize)]
struct Gone<'a> {
    id: &'a str,
    #[serde(with = "crate::time")]
    deleted_at: DateTime<Utc>,
}

/// A flow as an event carries it: what a list shows. Its jobs are read
/// with `GET /v2/flows/{id}`.
#[derive(Serialize)]
struct FlowSummary<'a> {
    id: &'a str,
    project_id: &'a str,
    name: &'a str,
    status: &'a str,
    is_public: bool,
    is_protected: bool,
    #[serde(with = "crate::time")]
    created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    updated_at: DateTime<Utc>,
    #[serde(with = "crate::time::option")]
    end_time: Option<DateTime<Utc>>,
}

impl Change {
    fn job(row: job_execution::Model) -> Self {
        let (id, project_id, is_public, updated_at) =
            (row.id.clone(), row.project_id.clone(), row.is_public, row.updated_at);
        let data = serde_json::json!({ "job": Execution::from(row) }).to_string();
        Self {
            kind: Kind::Job,
            state: State::Present,
            id,
            project_id,
            is_public,
            updated_at,
            cursor: Cursor::of(updated_at),
            data,
        }
    }

    /// `None` for a record of a kind this version does not know.
    fn deleted(row: crate::entity::deletion::Model) -> Option<Self> {
        let kind = Kind::parse(&row.kind)?;
        let data = serde_json::json!({ kind.as_str(): Gone { id: &row.object_id, deleted_at: row.deleted_at } });
        Some(Self {
            kind,
            state: State::Deleted,
            cursor: Cursor::of(row.deleted_at),
            id: row.object_id,
            project_id: row.project_id,
            is_public: row.is_public,
            updated_at: row.deleted_at,
            data: data.to_string(),
        })
    }

    fn flow(row: flow::Model) -> Self {
        let summary = FlowSummary {
            id: &row.id,
            project_id: &row.project_id,
            name: &row.name,
            status: &row.status,
            is_public: row.is_public,
            is_protected: row.is_protected,
            created_at: row.created_at,
            updated_at: row.updated_at,
            end_time: row.end_time,
        };
        let data = serde_json::json!({ "flow": summary }).to_string();
        Self {
            kind: Kind::Flow,
            state: State::Present,
            cursor: Cursor::of(row.updated_at),
            id: row.id,
            project_id: row.project_id,
            is_public: row.is_public,
            updated_at: row.updated_at,
            data,
        }
    }
}

/// The process's event source: subscribe here.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Change>>,
    /// Wakes the poller when the first subscriber arrives.
    listening: Arc<Notify>,
}

/// Starts the poller; abort the handle to stop it.
pub fn spawn(edp: Edp) -> (Events, JoinHandle<()>) {
    let (tx, _) = broadcast::channel(CHANNEL);
    let events = Events { tx, listening: Arc::new(Notify::new()) };
    let poller = Poller { edp, events: events.clone() };
    (events, tokio::spawn(poller.run()))
}

impl Events {
    /// A subscription for `scope`, from `from` (a `Last-Event-ID`) or from
    /// now. Nothing is read until the first [`Subscription::next`].
    pub fn subscribe(&self, edp: &Edp, scope: Scope, from: Option<Cursor>) -> Subscription {
        let rx = self.tx.subscribe();
        self.listening.notify_one();
        Subscription {
            edp: edp.clone(),
            scope,
            rx,
            start: Some(from),
            queue: VecDeque::new(),
            last: from.unwrap_or_default(),
            replayed: HashMap::new(),
        }
    }
}

/// What a subscriber is sent.
pub enum Item {
    /// Caught up: from here on, changes as they happen. A dashboard loads
    /// what it shows after this, and applies changes on top.
    Ready(Cursor),
    Change(Arc<Change>),
    /// Too much changed to replay: reload everything, then apply changes.
    Reset(Cursor),
}

pub struct Subscription {
    edp: Edp,
    scope: Scope,
    rx: broadcast::Receiver<Arc<Change>>,
    /// `Some` until the first call: where to start (`None` inside: now).
    start: Option<Option<Cursor>>,
    queue: VecDeque<Item>,
    /// The highest cursor sent: ids never go back on a connection.
    last: Cursor,
    /// What replays sent, so an older live change does not undo it.
    replayed: HashMap<(Kind, String), DateTime<Utc>>,
}

impl Subscription {
    /// The next item; `None` when the process is shutting down.
    pub async fn next(&mut self) -> Option<Result<Item>> {
        if let Some(start) = self.start.take()
            && let Err(e) = self.begin(start).await
        {
            return Some(Err(e));
        }
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(Ok(item));
            }
            match self.rx.recv().await {
                Ok(change) => {
                    if !change.visible_to(&self.scope) || self.older_than_replayed(&change) {
                        continue;
                    }
                    self.last = self.last.max(change.cursor);
                    let change =
                        if change.cursor < self.last { Arc::new(with_cursor(&change, self.last)) } else { change };
                    return Some(Ok(Item::Change(change)));
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "an event subscriber lagged; catching up from the database");
                    if let Err(e) = self.replay(self.last).await {
                        return Some(Err(e));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    async fn begin(&mut self, from: Option<Cursor>) -> Result<()> {
        match from {
            Some(from) => self.replay(from).await?,
            None => self.last = self.last.max(latest(&self.edp).await?),
        }
        self.queue.push_back(Item::Ready(self.last));
        Ok(())
    }

    /// Queues what changed after `from` (less [`LATE`]) that this scope may
    /// see, in order; a `Reset` instead when that is too much.
    async fn replay(&mut self, from: Cursor) -> Result<()> {
        let since = from.minus_late();
        if deletions::forgotten_since(self.edp.db(), since).await? {
            return self.reset().await;
        }
        let mut changes = Vec::new();
        let jobs = job_execution::Entity::find()
            .filter(job_execution::Column::UpdatedAt.gt(since))
            .filter(self.scope.visible(job_execution::Column::ProjectId, job_execution::Column::IsPublic))
            .order_by_asc(job_execution::Column::UpdatedAt)
            .limit(REPLAY_MAX + 1)
            .all(self.edp.db())
            .await?;
        let flows = flow::Entity::find()
            .filter(flow::Column::UpdatedAt.gt(since))
            .filter(self.scope.visible(flow::Column::ProjectId, flow::Column::IsPublic))
            .order_by_asc(flow::Column::UpdatedAt)
            .limit(REPLAY_MAX + 1)
            .all(self.edp.db())
            .await?;
        let deleted = deletions::since(self.edp.db(), since, Some(&self.scope), Some(REPLAY_MAX + 1)).await?;
        if (jobs.len() + flows.len() + deleted.len()) as u64 > REPLAY_MAX {
            return self.reset().await;
        }
        changes.extend(jobs.into_iter().map(Change::job));
        changes.extend(flows.into_iter().map(Change::flow));
        changes.extend(deleted.into_iter().filter_map(Change::deleted));
        changes.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
        for change in changes {
            self.replayed.insert((change.kind, change.id.clone()), change.updated_at);
            self.last = self.last.max(change.cursor);
            let change = with_cursor(&change, self.last);
            self.queue.push_back(Item::Change(Arc::new(change)));
        }
        Ok(())
    }

    /// Queues a `reset`: reload everything, then apply changes.
    async fn reset(&mut self) -> Result<()> {
        self.last = self.last.max(latest(&self.edp).await?);
        self.replayed.clear();
        self.queue.push_back(Item::Reset(self.last));
        Ok(())
    }

    fn older_than_replayed(&self, change: &Change) -> bool {
        self.replayed.get(&(change.kind, change.id.clone())).is_some_and(|sent| change.updated_at <= *sent)
    }
}

fn with_cursor(change: &Change, cursor: Cursor) -> Change {
    Change {
        kind: change.kind,
        state: change.state,
        id: change.id.clone(),
        project_id: change.project_id.clone(),
        is_public: change.is_public,
        updated_at: change.updated_at,
        cursor,
        data: change.data.clone(),
    }
}

/// The newest `updated_at` of any job or flow, or `deleted_at` of a
/// deletion.
async fn latest(edp: &Edp) -> Result<Cursor> {
    let job = newest(job_execution::Entity::find(), job_execution::Column::UpdatedAt, edp.db()).await?;
    let flow = newest(flow::Entity::find(), flow::Column::UpdatedAt, edp.db()).await?;
    let deleted = deletions::latest(edp.db()).await?;
    Ok(job.max(flow).max(deleted).map(Cursor::of).unwrap_or_default())
}

/// The greatest `column` of the rows `select` reads: one index entry.
async fn newest<E: EntityTrait>(
    select: sea_orm::Select<E>,
    column: E::Column,
    db: &impl sea_orm::ConnectionTrait,
) -> Result<Option<DateTime<Utc>>> {
    Ok(select.select_only().column(column).order_by_desc(column).limit(1).into_tuple().one(db).await?)
}

struct Poller {
    edp: Edp,
    events: Events,
}

/// What the poller knows between passes while someone listens.
struct Window {
    /// The newest `updated_at` read.
    cursor: Cursor,
    /// The `updated_at` last sent for each object changed within [`LATE`]
    /// of the cursor.
    sent: HashMap<(Kind, String), DateTime<Utc>>,
    passes: u32,
}

impl Poller {
    async fn run(self) {
        let mut window: Option<Window> = None;
        loop {
            if self.events.tx.receiver_count() == 0 {
                window = None;
                self.events.listening.notified().await;
                continue;
            }
            let current = match window.take() {
                Some(w) => w,
                None => match latest(&self.edp).await {
                    // The sweep of the first pass sends the last few
                    // changes again: harmless, and nothing in between is
                    // lost to a subscriber that is replaying meanwhile.
                    Ok(cursor) => Window { cursor, sent: HashMap::new(), passes: 0 },
                    Err(e) => {
                        tracing::warn!(error = %e, "the event stream cannot read the database; retrying");
                        tokio::time::sleep(PASS * 4).await;
                        continue;
                    }
                },
            };
            window = Some(match self.pass(current).await {
                Ok(w) => w,
                Err((w, e)) => {
                    tracing::warn!(error = %e, "an event pass failed; retrying");
                    w
                }
            });
            tokio::time::sleep(PASS).await;
        }
    }

    /// Reads what changed, loads the rows not sent yet, broadcasts them in
    /// `updated_at` order.
    async fn pass(&self, mut w: Window) -> std::result::Result<Window, (Window, Error)> {
        let sweep = w.passes.is_multiple_of(SWEEP_EVERY);
        w.passes = w.passes.wrapping_add(1);
        let since = if sweep { w.cursor.minus_late() } else { w.cursor.time() };
        let stamps = match changed_since(&self.edp, since).await {
            Ok(stamps) => stamps,
            Err(e) => return Err((w, e)),
        };
        let deleted = match deletions::since(self.edp.db(), since, None, None).await {
            Ok(deleted) => deleted,
            Err(e) => return Err((w, e)),
        };
        let unsent = |kind: Kind, id: &str, at: &DateTime<Utc>| w.sent.get(&(kind, id.to_string())) != Some(at);
        let fresh: Vec<(Kind, String, DateTime<Utc>)> =
            stamps.into_iter().filter(|(kind, id, at)| unsent(*kind, id, at)).collect();
        let mut changes = match load(&self.edp, &fresh).await {
            Ok(changes) => changes,
            Err(e) => return Err((w, e)),
        };
        changes
            .extend(deleted.into_iter().filter_map(Change::deleted).filter(|d| unsent(d.kind, &d.id, &d.updated_at)));
        changes.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
        for mut change in changes {
            w.sent.insert((change.kind, change.id.clone()), change.updated_at);
            w.cursor = w.cursor.max(change.cursor);
            change.cursor = w.cursor;
            // No receiver left is fine: the next pass finds that out.
            let _ = self.events.tx.send(Arc::new(change));
        }
        let horizon = w.cursor.minus_late();
        w.sent.retain(|_, at| *at >= horizon);
        Ok(w)
    }
}

/// `(kind, id, updated_at)` of every job and flow changed at or after
/// `since`: two index range reads.
async fn changed_since(edp: &Edp, since: DateTime<Utc>) -> Result<Vec<(Kind, String, DateTime<Utc>)>> {
    let jobs: Vec<(String, DateTime<Utc>)> = job_execution::Entity::find()
        .select_only()
        .column(job_execution::Column::Id)
        .column(job_execution::Column::UpdatedAt)
        .filter(job_execution::Column::UpdatedAt.gte(since))
        .into_tuple()
        .all(edp.db())
        .await?;
    let flows: Vec<(String, DateTime<Utc>)> = flow::Entity::find()
        .select_only()
        .column(flow::Column::Id)
        .column(flow::Column::UpdatedAt)
        .filter(flow::Column::UpdatedAt.gte(since))
        .into_tuple()
        .all(edp.db())
        .await?;
    let jobs = jobs.into_iter().map(|(id, at)| (Kind::Job, id, at));
    let flows = flows.into_iter().map(|(id, at)| (Kind::Flow, id, at));
    Ok(jobs.chain(flows).collect())
}

/// The rows behind `fresh`, as they are now.
async fn load(edp: &Edp, fresh: &[(Kind, String, DateTime<Utc>)]) -> Result<Vec<Change>> {
    let ids = |kind: Kind| -> Vec<String> {
        fresh.iter().filter(|(k, ..)| *k == kind).map(|(_, id, _)| id.clone()).collect()
    };
    let mut changes = Vec::with_capacity(fresh.len());
    for chunk in ids(Kind::Job).chunks(LOAD_CHUNK) {
        let rows =
            job_execution::Entity::find().filter(job_execution::Column::Id.is_in(chunk.to_vec())).all(edp.db()).await?;
        changes.extend(rows.into_iter().map(Change::job));
    }
    for chunk in ids(Kind::Flow).chunks(LOAD_CHUNK) {
        let rows = flow::Entity::find().filter(flow::Column::Id.is_in(chunk.to_vec())).all(edp.db()).await?;
        changes.extend(rows.into_iter().map(Change::flow));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_and_refuse_garbage() {
        let c = Cursor::of(DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap());
        assert_eq!(c.to_string().parse::<Cursor>().unwrap(), c);
        assert!("abc".parse::<Cursor>().is_err());
        assert_eq!(c.minus_late(), c.time() - chrono::Duration::seconds(5));
    }
}
