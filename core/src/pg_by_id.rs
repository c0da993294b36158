//! A job execution read by id on Postgres, batched with the reads waiting
//! beside it: one statement (`WHERE id = ANY($1)`) answers every read
//! that arrived while the previous one ran.
//!
//! Each statement wakes a Postgres backend and edpd once whatever it reads.
//! Under many clients that wake-up, not the row, is where a read's time
//! went (BENCHMARKS.md, issue 16: ~180 µs of Postgres' CPU a read, most of
//! it the kernel's scheduling and loopback TCP), so a batch of reads costs
//! little more than one. This is group commit's idea applied to reads
//! ([`crate::sqlite_writes`] does it for SQLite's writes).
//!
//! When reads go alone, and when in batches:
//! - While no batch runs, up to [`ALONE`] reads run alone, each on its
//!   caller's task as `id = $1`: one client's or a few clients' reads cost
//!   what they did unbatched, side by side on Postgres' cores.
//! - A read beyond those, and every read while a batch runs, waits for the
//!   next batch: one task runs them, one statement of at most [`MOST`] ids
//!   after another, until nobody waits. So under many clients reads go in
//!   batches, as large as the clients waiting.
//!
//! Invariants:
//! - **No stale reads**: a read joins only a batch not yet sent, so the
//!   statement that answers it begins after the read did, and sees every
//!   commit made before (each statement is a transaction of its own).
//! - **Nobody waits unanswered**: whoever queues while no batch task runs
//!   starts one, and it ends only when nobody waits (both under the lock).
//! - **A read dropped part way loses nothing for others**: batches run on
//!   their own task; a read alone holds only its own answer.
//! - **Same rows as one read each**: the batch reads rows by id only; who
//!   may see a row is decided by each read, as `Scope::visible` would in
//!   SQL (`Scope::sees`, the same rule).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::FutureExt as _;
use sea_orm::sea_query::{Expr, ExprTrait as _, PgFunc};
use sea_orm::sqlx::postgres::PgRow;
use sea_orm::{DbBackend, DbErr, EntityTrait, QueryFilter, QueryTrait as _};
use tokio::sync::oneshot;

use crate::entity::job_execution;
use crate::error::{Error, Result};
use crate::pg_direct::PgDirect;
use crate::reads::Extra;

/// Reads by id that run alone at once, each on its caller's task: while
/// no batch runs, a few clients' reads go as they would unbatched, side by
/// side on Postgres' cores.
const ALONE: usize = 4;
/// The most ids a statement reads.
const MOST: usize = 128;

/// A read's row, undecoded and shared by the reads of its id: each read
/// decodes it on its own task, as its `Extra` says (decoding every row on
/// the batch's task made that task the bottleneck: BENCHMARKS.md, "Reads",
/// fourth round).
type Answer = std::result::Result<Option<Arc<PgRow>>, DbErr>;

/// The reads by id of one database's executions.
pub(crate) struct ByIdReads {
    shared: Arc<Shared>,
}

struct Shared {
    reads: Arc<PgDirect>,
    state: Mutex<State>,
    /// Statements run, for the tests.
    #[cfg(test)]
    statements: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct State {
    /// Not yet in a batch, oldest first. Never left without a task to
    /// answer them: whoever queues the first starts one.
    waiting: Vec<Waiting>,
    /// Whether a task runs batches (there is at most one).
    batching: bool,
    /// Reads running alone.
    alone: usize,
}

struct Waiting {
    id: String,
    answer: oneshot::Sender<Answer>,
}

impl ByIdReads {
    pub(crate) fn new(reads: Arc<PgDirect>) -> Self {
        Self {
            shared: Arc::new(Shared {
                reads,
                state: Mutex::default(),
                #[cfg(test)]
                statements: Default::default(),
            }),
        }
    }

    /// The execution `id` as stored, if any, with as much of its `extra`
    /// as `extra` says.
    pub(crate) async fn execution(&self, id: &str, extra: Extra) -> Result<Option<job_execution::Model>> {
        match self.row(id).await? {
            Some(row) => Ok(Some(crate::pg_rows::execution(&row, extra)?)),
            None => Ok(None),
        }
    }

    /// The row of execution `id`, undecoded.
    async fn row(&self, id: &str) -> Result<Option<Arc<PgRow>>> {
        // Postgres stores no NUL in text, so no row has such an id; bound,
        // it would fail the whole batch (the API refuses it earlier; an
        // engine's hint might not).
        if id.contains('\0') {
            return Ok(None);
        }
        let queued = {
            let mut state = self.shared.state();
            if !state.batching && state.alone < ALONE {
                state.alone += 1;
                None
            } else {
                let (answer, answered) = oneshot::channel();
                state.waiting.push(Waiting { id: id.to_owned(), answer });
                let start = !state.batching;
                state.batching = true;
                Some((answered, start))
            }
        };
        let Some((answered, start)) = queued else {
            // Alone: on the caller's task, with no hand-off (a task's
            // wake-up each way is ~100 µs a read at one client).
            let _alone = Alone(&self.shared);
            return Ok(self.shared.select(vec![id.to_owned()]).await?.pop().map(Arc::new));
        };
        if start {
            tokio::spawn(self.shared.clone().run());
        }
        match answered.await {
            Ok(answer) => Ok(answer?),
            // Only a panic in a batch drops its answers (none is known).
            Err(_) => Err(Error::Internal("a batch of reads failed".into())),
        }
    }
}

/// A read running alone, counted until it ends or is dropped.
struct Alone<'a>(&'a Shared);

impl Drop for Alone<'_> {
    fn drop(&mut self) {
        self.0.state().alone -= 1;
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs batches until nobody waits; reads go alone again after.
    async fn run(self: Arc<Self>) {
        loop {
            let batch = {
                let mut state = self.state();
                if state.waiting.is_empty() {
                    state.batching = false;
                    return;
                }
                let most = state.waiting.len().min(MOST);
                state.waiting.drain(..most).collect::<Vec<_>>()
            };
            // A panic drops the batch's answers (their reads fail), not the
            // task: the reads waiting after it are still answered.
            let _ = AssertUnwindSafe(self.answer(batch)).catch_unwind().await;
        }
    }

    /// The rows of `ids` (distinct), in one statement.
    async fn select(&self, mut ids: Vec<String>) -> std::result::Result<Vec<PgRow>, DbErr> {
        #[cfg(test)]
        self.statements.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = Expr::col(job_execution::Column::Id);
        // One id as `= $1`: Postgres plans that statement once and keeps
        // the plan, where it plans `= ANY($1)` again each time (a custom
        // plan is cheaper for a short array), which costs a lone read
        // more than its row.
        let which = match ids.len() {
            1 => id.eq(ids.pop()),
            _ => id.eq(PgFunc::any(Expr::val(ids))),
        };
        self.reads.rows(&job_execution::Entity::find().filter(which).build(DbBackend::Postgres)).await
    }

    async fn answer(&self, batch: Vec<Waiting>) {
        // The reads of each id: a job may be asked for twice.
        let mut reads: HashMap<String, Vec<oneshot::Sender<Answer>>> = HashMap::new();
        for Waiting { id, answer } in batch {
            reads.entry(id).or_default().push(answer);
        }
        if let Err(e) = self.answer_from(&mut reads).await {
            // The statement failed (or gave a row with no id): each read
            // not yet answered fails with it.
            for answer in reads.into_values().flatten() {
                let _ = answer.send(Err(e.clone()));
            }
        }
    }

    /// Answers `reads` from one statement, taking each read it answers.
    async fn answer_from(
        &self,
        reads: &mut HashMap<String, Vec<oneshot::Sender<Answer>>>,
    ) -> std::result::Result<(), DbErr> {
        for row in self.select(reads.keys().cloned().collect()).await? {
            if let Some(answers) = reads.remove(crate::pg_rows::id(&row)?) {
                send_each(answers, Some(Arc::new(row)));
            }
        }
        // Those not stored.
        for (_, answers) in reads.drain() {
            send_each(answers, None);
        }
        Ok(())
    }
}

/// `row` to each read of its id.
fn send_each(answers: Vec<oneshot::Sender<Answer>>, row: Option<Arc<PgRow>>) {
    for answer in answers {
        let _ = answer.send(Ok(row.clone()));
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use chrono::{TimeZone, Utc};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel};

    use super::*;
    use crate::db::ScratchPg;
    use crate::pg_direct::Purpose;

    /// A scratch database with `n` executions (`e0`, `e1`, …) and batched
    /// reads of it.
    async fn with_executions(n: usize) -> (ScratchPg, Vec<job_execution::Model>, ByIdReads) {
        let scratch = ScratchPg::new().await;
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        let template = crate::catalog::job_templates::tests::shell("t", at);
        template.into_active_model().reset_all().insert(&scratch.db).await.expect("template");
        let mut rows = Vec::new();
        for i in 0..n {
            let created = at + chrono::Duration::microseconds(i as i64 * 1_001);
            let mut row = crate::sqlite_reads::tests::row(&format!("e{i}"), "p", i % 2 == 0, created);
            row.output_id = None;
            row.into_active_model().reset_all().insert(&scratch.db).await.expect("execution");
            rows.push(job_execution::Entity::find_by_id(format!("e{i}")).one(&scratch.db).await.unwrap().unwrap());
        }
        let direct = PgDirect::of(&scratch.db, Purpose::Reads).expect("Postgres");
        (scratch, rows, ByIdReads::new(Arc::new(direct)))
    }

    /// Reads at once are answered by fewer statements than reads, each
    /// with its own row as stored: the same id twice, an id not stored,
    /// one Postgres cannot store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_at_once_share_statements_and_each_gets_its_row() {
        let (_scratch, rows, reads) = with_executions(20).await;
        let reads = Arc::new(reads);
        let asked: Vec<String> = (0..300)
            .map(|i| match i % 11 {
                9 => "none".into(),
                // No row has it; it must not fail the reads beside it.
                10 => "e\u{0}1".into(),
                _ => format!("e{}", i % 20),
            })
            .collect();
        let answers = futures::future::join_all(asked.iter().map(|id| {
            let reads = reads.clone();
            let id = id.clone();
            tokio::spawn(async move { reads.execution(&id, Extra::Whole).await.expect("read") })
        }))
        .await;
        for (id, answer) in asked.iter().zip(answers) {
            let expected = rows.iter().find(|r| &r.id == id).cloned();
            assert_eq!(answer.expect("task"), expected, "the read of {id}");
        }
        let statements = reads.shared.statements.load(std::sync::atomic::Ordering::Relaxed);
        assert!(statements < 300, "{statements} statements for 300 reads at once");
    }

    /// A read sees every commit made before it began, while other reads
    /// keep batches running.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_sees_what_was_committed_before_it() {
        let (scratch, _, reads) = with_executions(4).await;
        let reads = Arc::new(reads);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let busy: Vec<_> = (0..8)
            .map(|i| {
                let (reads, stop) = (reads.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        reads.execution(&format!("e{}", i % 3), Extra::Whole).await.expect("read");
                    }
                })
            })
            .collect();
        for n in 0..100 {
            let status = format!("S{n}");
            let update = job_execution::Entity::update_many()
                .col_expr(job_execution::Column::Status, Expr::val(status.clone()))
                .filter(job_execution::Column::Id.eq("e3"));
            assert_eq!(update.exec(&scratch.db).await.unwrap().rows_affected, 1);
            let read = reads.execution("e3", Extra::Whole).await.expect("read").expect("e3");
            assert_eq!(read.status, status, "read after the commit of {status}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for task in busy {
            task.await.expect("busy reads");
        }
    }

    /// Reads dropped while waiting (their clients went away) take nothing
    /// from the reads beside them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_dropped_part_way_lose_nothing_for_others() {
        let (_scratch, rows, reads) = with_executions(10).await;
        let reads = Arc::new(reads);
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let reads = reads.clone();
                tokio::spawn(async move { reads.execution(&format!("e{}", i % 10), Extra::Whole).await })
            })
            .collect();
        let (dropped, kept): (Vec<_>, Vec<_>) = tasks.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
        for (_, task) in dropped {
            task.abort();
        }
        for (i, task) in kept {
            let read = task.await.expect("not aborted").expect("read");
            assert_eq!(read.as_ref(), Some(&rows[i % 10]));
        }
        // And the reads go on.
        assert_eq!(reads.execution("e1", Extra::Whole).await.expect("read").as_ref(), Some(&rows[1]));
    }

    /// A statement that fails fails each read of its batch, as a database
    /// error; none waits for ever, and the reads after it run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_statement_fails_its_reads_and_not_the_next() {
        let (scratch, _, reads) = with_executions(2).await;
        let reads = Arc::new(reads);
        scratch.db.execute_unprepared("ALTER TABLE job_executions RENAME TO gone").await.expect("rename");
        let deadline = Instant::now() + Duration::from_secs(20);
        let failed = futures::future::join_all((0..20).map(|i| {
            let reads = reads.clone();
            tokio::spawn(async move { reads.execution(&format!("e{}", i % 2), Extra::Whole).await })
        }))
        .await;
        assert!(Instant::now() < deadline);
        for read in failed {
            let error = read.expect("task").expect_err("no table to read");
            assert!(matches!(error, Error::Database(_)), "{error:?}");
        }
        scratch.db.execute_unprepared("ALTER TABLE gone RENAME TO job_executions").await.expect("rename back");
        assert_eq!(reads.execution("e0", Extra::Whole).await.expect("read").map(|r| r.id), Some("e0".to_owned()));
    }
}
