//! Postgres connections outside sqlx's pool, for single statements: the
//! API's reads (`crate::reads`: a job, a page of jobs, the catalog's
//! lookups, a hinted job's row) and the job manager's frequent writes
//! outside transactions (`Edp::db_for`: a job's insert, the scheduler's
//! claims, records and leases given back), flushed or not (`db::Commit`).
//! Each set is sea-orm's `ConnectionTrait`, so sea-orm builds, binds and
//! decodes as it does on its own pool.
//!
//! sqlx's pool tests every connection as it goes back (a `Sync` message
//! and its answer, transact-rs/sqlx#4363): a second round trip after each
//! statement, which wakes the backend and edpd a second time for every
//! `GET /v2/jobs/{id}` and every step of a job. These connections go back
//! to an idle list untested: 25% more reads a second (BENCHMARKS.md,
//! issue 16).
//!
//! Invariants:
//! - **Single statements**: no transaction is begun on them (sea-orm's
//!   `TransactionTrait` is not implemented), so a connection between
//!   statements holds no state. Reads' connections start with
//!   `default_transaction_read_only = on`; every other write, and every
//!   transaction, stays on sea-orm's pool.
//! - **No connection goes back mid-answer**, which is what sqlx's test
//!   guards against: a connection is given back only once its statement
//!   ran to its end; a statement dropped part way (a client that went
//!   away) drops its connection with it, and one that failed closes it.
//! - **No stale reads**: each statement is a transaction of its own (read
//!   committed), so it sees every commit made before it began, unflushed
//!   ones included.
//! - **A connection broken while idle** (a restarted server) fails no
//!   read: a read that finds its connection gone runs once more on a new
//!   one (reads can be). A write is never run twice: a write's connection
//!   idle a second or more is tested first, as the pool's are
//!   (`db::PING_IF_IDLE_FOR`).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgQueryResult, PgRow};
use sea_orm::sqlx::{self, Connection};
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, Values,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Semaphore;

/// The most connections a set opens at once. Single statements are
/// short: on two cores, sixteen for the reads answered no more of them a
/// second than eight do (BENCHMARKS.md, twelfth round).
pub(crate) const CONNECTIONS: usize = 8;

/// How long a connection sits idle before it is closed (within half as
/// long again): a set keeps as many as statements ran at once lately.
const IDLE_FOR: Duration = Duration::from_secs(60);

/// What a set of connections is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// The API's reads: read-only; a statement that finds its idle
    /// connection gone runs again on a new one.
    Reads,
    /// Writes committed once the log is flushed (`db::Commit::Flushed`):
    /// an idle connection is tested before a write, never the write run
    /// twice.
    FlushedWrites,
    /// Writes answered before the flush (`db::Commit::Unflushed`,
    /// `synchronous_commit = off`), tested as the flushed ones.
    UnflushedWrites,
}

impl Purpose {
    /// What its connections are called in `pg_stat_activity`.
    pub(crate) fn application_name(self) -> &'static str {
        match self {
            Self::Reads => "edpd reads",
            Self::FlushedWrites => "edpd writes",
            Self::UnflushedWrites => "edpd unflushed writes",
        }
    }

    /// The server setting its connections start with.
    fn settings(self) -> Vec<(&'static str, &'static str)> {
        match self {
            Self::Reads => vec![("default_transaction_read_only", "on")],
            Self::FlushedWrites => vec![],
            Self::UnflushedWrites => vec![("synchronous_commit", "off")],
        }
    }
}

/// Connections of their own to the Postgres server edpd uses.
pub(crate) struct PgDirect {
    purpose: Purpose,
    options: PgConnectOptions,
    /// Most recently used last; shared with [`close_idle_ones`].
    idle: Arc<Mutex<Vec<Idle>>>,
    /// One per connection open or opening.
    slots: Semaphore,
}

struct Idle {
    conn: PgConnection,
    since: Instant,
}

/// A kind of statement: how it runs on a connection, what it gives, and
/// how sea-orm reports its failure.
trait Run: Copy + Send {
    type Out: Send;
    fn on<'c>(
        self,
        conn: &'c mut PgConnection,
        statement: &'c Statement,
    ) -> impl Future<Output = sqlx::Result<Self::Out>> + Send + 'c;
    fn error(e: RuntimeErr) -> DbErr;
}

/// A statement whose rows are not read (`execute_raw`).
#[derive(Clone, Copy)]
struct Execute;
/// A statement whose rows are read (`query_*_raw`).
#[derive(Clone, Copy)]
struct Fetch;
/// A statement of which only the first row is kept (`query_one_raw`);
/// its answer is still read to its end.
#[derive(Clone, Copy)]
struct FetchFirst;
/// SQL as it is: not prepared, nothing bound (`execute_unprepared`).
#[derive(Clone, Copy)]
struct Unprepared;

/// `statement` with its values bound, as sea-orm's pool binds them.
fn prepared(statement: &Statement) -> sqlx::query::Query<'_, sqlx::Postgres, SqlxValues> {
    let values = SqlxValues(statement.values.clone().unwrap_or(Values(Vec::new())));
    sqlx::query_with(sqlx::AssertSqlSafe(statement.sql.as_str()), values)
}

impl Run for Execute {
    type Out = PgQueryResult;
    fn on<'c>(
        self,
        conn: &'c mut PgConnection,
        statement: &'c Statement,
    ) -> impl Future<Output = sqlx::Result<PgQueryResult>> + Send + 'c {
        prepared(statement).execute(conn)
    }
    fn error(e: RuntimeErr) -> DbErr {
        DbErr::Exec(e)
    }
}

impl Run for Fetch {
    type Out = Vec<PgRow>;
    fn on<'c>(
        self,
        conn: &'c mut PgConnection,
        statement: &'c Statement,
    ) -> impl Future<Output = sqlx::Result<Vec<PgRow>>> + Send + 'c {
        prepared(statement).fetch_all(conn)
    }
    fn error(e: RuntimeErr) -> DbErr {
        DbErr::Query(e)
    }
}

impl Run for FetchFirst {
    type Out = Option<PgRow>;
    fn on<'c>(
        self,
        conn: &'c mut PgConnection,
        statement: &'c Statement,
    ) -> impl Future<Output = sqlx::Result<Option<PgRow>>> + Send + 'c {
        prepared(statement).fetch_optional(conn)
    }
    fn error(e: RuntimeErr) -> DbErr {
        DbErr::Query(e)
    }
}

impl Run for Unprepared {
    type Out = PgQueryResult;
    fn on<'c>(
        self,
        conn: &'c mut PgConnection,
        statement: &'c Statement,
    ) -> impl Future<Output = sqlx::Result<PgQueryResult>> + Send + 'c {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.sql.as_str())).execute(conn)
    }
    fn error(e: RuntimeErr) -> DbErr {
        DbErr::Exec(e)
    }
}

impl PgDirect {
    /// For a database on Postgres, with its server and settings; `None`
    /// for anything else. Connections open as statements first need them.
    pub(crate) fn of(db: &DatabaseConnection, purpose: Purpose) -> Option<Self> {
        Self::closing_after(db, purpose, IDLE_FOR)
    }

    fn closing_after(db: &DatabaseConnection, purpose: Purpose, idle_for: Duration) -> Option<Self> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool();
        let options =
            (*pool.connect_options()).clone().options(purpose.settings()).application_name(purpose.application_name());
        let idle = Arc::new(Mutex::new(Vec::new()));
        close_idle_ones(Arc::downgrade(&idle), idle_for);
        Some(Self { purpose, options, idle, slots: Semaphore::new(CONNECTIONS) })
    }

    /// (connections open or opening, idle, most allowed), for the
    /// database gauges.
    pub(crate) fn counts(&self) -> (u32, usize, u32) {
        let idle = self.idle().len();
        let busy = CONNECTIONS - self.slots.available_permits();
        ((busy + idle) as u32, idle, CONNECTIONS as u32)
    }

    /// The rows `statement` gives, undecoded: for callers that decode
    /// them their own way ([`crate::pg_rows`]).
    pub(crate) async fn rows(&self, statement: &Statement) -> Result<Vec<PgRow>, DbErr> {
        self.run(statement, Fetch).await
    }

    async fn run<R: Run>(&self, statement: &Statement, run: R) -> Result<R::Out, DbErr> {
        let _slot = tokio::time::timeout(crate::db::ACQUIRE_TIMEOUT, self.slots.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .expect("the slots are never closed");
        if let Some(idle) = self.take_idle() {
            match self.purpose {
                Purpose::Reads => match self.run_on(idle.conn, statement, run).await {
                    Err(e) if crate::error::connection_lost(&e) => {
                        tracing::debug!(error = %e, "an idle read connection was gone; reading on a new one");
                    }
                    done => return done.map_err(error::<R>),
                },
                Purpose::FlushedWrites | Purpose::UnflushedWrites => {
                    let mut conn = idle.conn;
                    let tested = idle.since.elapsed() < crate::db::PING_IF_IDLE_FOR || conn.ping().await.is_ok();
                    if tested {
                        return self.run_on(conn, statement, run).await.map_err(error::<R>);
                    }
                }
            }
        }
        let conn = tokio::time::timeout(crate::db::ACQUIRE_TIMEOUT, PgConnection::connect_with(&self.options))
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        self.run_on(conn, statement, run).await.map_err(error::<R>)
    }

    /// Runs `statement` on `conn`, and gives `conn` back once it ran to
    /// its end.
    async fn run_on<R: Run>(&self, mut conn: PgConnection, statement: &Statement, run: R) -> sqlx::Result<R::Out> {
        let out = run.on(&mut conn, statement).await?;
        self.idle().push(Idle { conn, since: Instant::now() });
        Ok(out)
    }

    /// The most recently used idle connection: the others sink, and are
    /// closed once idle long enough.
    fn take_idle(&self) -> Option<Idle> {
        self.idle().pop()
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        lock(&self.idle)
    }
}

fn lock(idle: &Mutex<Vec<Idle>>) -> MutexGuard<'_, Vec<Idle>> {
    idle.lock().unwrap_or_else(|e| e.into_inner())
}

/// Closes, every half `idle_for`, the connections idle `idle_for` or more,
/// until their set is dropped (dropped connections: Postgres ends a
/// backend whose client left outside a transaction without a word in its
/// log). Outside a Tokio runtime (no set is made there) nothing is closed.
fn close_idle_ones(idle: Weak<Mutex<Vec<Idle>>>, idle_for: Duration) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
    runtime.spawn(async move {
        let mut every = tokio::time::interval(idle_for / 2);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(idle) = idle.upgrade() else { return };
            let now = Instant::now();
            lock(&idle).retain(|c| now.duration_since(c.since) < idle_for);
        }
    });
}

/// A failed statement, as sea-orm's own pool reports it.
fn error<R: Run>(e: sqlx::Error) -> DbErr {
    R::error(RuntimeErr::SqlxError(Arc::new(e)))
}

#[async_trait::async_trait]
impl ConnectionTrait for PgDirect {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, statement: Statement) -> Result<ExecResult, DbErr> {
        Ok(self.run(&statement, Execute).await?.into())
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        Ok(self.run(&Statement::from_string(DbBackend::Postgres, sql), Unprepared).await?.into())
    }

    async fn query_one_raw(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.run(&statement, FetchFirst).await?.map(QueryResult::from))
    }

    async fn query_all_raw(&self, statement: Statement) -> Result<Vec<QueryResult>, DbErr> {
        Ok(self.rows(&statement).await?.into_iter().map(QueryResult::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sea_orm::sea_query::Expr;
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
        QuerySelect,
    };

    use super::*;
    use crate::db::ScratchPg;
    use crate::entity::job_template;

    fn template(id: &str, public: bool, at: chrono::DateTime<Utc>) -> job_template::Model {
        job_template::Model {
            id: id.into(),
            project_id: "p".into(),
            name: format!("{id} é"),
            description: String::new(),
            kind: "Shell".into(),
            interface: serde_json::json!([{"name": "n", "default": null, "nested": [1, 2.5]}]),
            is_public: public,
            is_protected: false,
            created_at: at,
            updated_at: at,
        }
    }

    /// A scratch database with two templates in it, and connections to it
    /// for `purpose`.
    async fn with_templates(purpose: Purpose) -> (ScratchPg, Vec<job_template::Model>, PgDirect) {
        let scratch = ScratchPg::new().await;
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        let rows = vec![template("a", false, at), template("b", true, at + chrono::Duration::microseconds(123_456))];
        for row in &rows {
            row.clone().into_active_model().reset_all().insert(&scratch.db).await.expect("insert");
        }
        let direct = PgDirect::of(&scratch.db, purpose).expect("Postgres");
        (scratch, rows, direct)
    }

    /// The backends of this database's connections for `purpose`, in
    /// `pg_stat_activity`.
    fn backends(scratch: &ScratchPg, purpose: Purpose) -> String {
        format!("datname = '{}' AND application_name = '{}'", scratch.name, purpose.application_name())
    }

    async fn count_backends(scratch: &ScratchPg, purpose: Purpose) -> i64 {
        let count = format!("SELECT count(*) FROM pg_stat_activity WHERE {}", backends(scratch, purpose));
        let row = scratch.admin.query_one_raw(Statement::from_string(DbBackend::Postgres, count)).await;
        row.expect("count").expect("a row").try_get_by_index(0).expect("a number")
    }

    /// Ends the backends of this database's connections for `purpose`, as
    /// a server restart does, and waits until they are gone.
    async fn end_backends(scratch: &ScratchPg, purpose: Purpose) {
        let end =
            format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {}", backends(scratch, purpose));
        scratch.admin.execute_unprepared(&end).await.expect("terminate");
        wait_for_backends(scratch, purpose, 0).await;
    }

    /// Waits (20 s at most) until `n` backends of `purpose` are left.
    async fn wait_for_backends(scratch: &ScratchPg, purpose: Purpose, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = count_backends(scratch, purpose).await;
            if left == n {
                return;
            }
            assert!(Instant::now() < deadline, "{left} backends of {purpose:?} are left, not {n}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What these connections read is what sea-orm reads: bound text,
    /// booleans and times, JSON, fractions of seconds, order, no rows.
    #[tokio::test]
    async fn reads_what_sea_orm_reads() {
        let (scratch, rows, reads) = with_templates(Purpose::Reads).await;
        let all = job_template::Entity::find().order_by_desc(job_template::Column::CreatedAt);
        assert_eq!(all.clone().all(&reads).await.unwrap(), all.clone().all(&scratch.db).await.unwrap());
        let some = job_template::Entity::find()
            .filter(job_template::Column::Name.eq("b é"))
            .filter(job_template::Column::IsPublic.eq(true))
            .filter(job_template::Column::CreatedAt.gt(rows[0].created_at));
        assert_eq!(some.all(&reads).await.unwrap(), vec![rows[1].clone()]);
        let none = job_template::Entity::find().filter(job_template::Column::Id.eq("zz"));
        assert!(none.clone().all(&reads).await.unwrap().is_empty());
        assert_eq!(none.one(&reads).await.unwrap(), None);
        // One row of several kept; the rest of the answer read, so that the
        // connection's next statement reads its own.
        let several = "SELECT id FROM job_templates ORDER BY created_at DESC";
        let first = reads.query_one_raw(Statement::from_string(DbBackend::Postgres, several)).await.unwrap();
        let newest = rows.iter().max_by_key(|r| r.created_at).unwrap();
        assert_eq!(first.unwrap().try_get::<String>("", "id").unwrap(), newest.id);
        assert_eq!(all.clone().one(&reads).await.unwrap().as_ref(), Some(newest));
        assert_eq!(reads.counts(), (1, 1, CONNECTIONS as u32), "one connection, kept");
    }

    /// A read dropped while Postgres still works on it (its client went
    /// away) closes its connection rather than leave an answer on it for
    /// the next read.
    #[tokio::test]
    async fn a_read_dropped_part_way_closes_its_connection() {
        let (scratch, rows, reads) = with_templates(Purpose::Reads).await;
        let slow = job_template::Entity::find().expr_as(Expr::cust("pg_sleep(1)::text"), "slept");
        let dropped = tokio::time::timeout(Duration::from_millis(100), slow.all(&reads));
        assert!(dropped.await.is_err(), "the read was still waiting for Postgres");
        assert_eq!(reads.counts(), (0, 0, CONNECTIONS as u32), "no connection kept");

        let one = job_template::Entity::find().filter(job_template::Column::Id.eq("a"));
        assert_eq!(one.all(&reads).await.unwrap(), vec![rows[0].clone()]);
        // The dropped read's backend ends once it finds its client gone:
        // only the new connection stays.
        wait_for_backends(&scratch, Purpose::Reads, 1).await;
    }

    /// A connection the server ended while it sat idle (a restart, a
    /// proxy's limit) fails no read: the read runs again on a new one.
    #[tokio::test]
    async fn an_idle_connection_the_server_ended_fails_no_read() {
        let (scratch, rows, reads) = with_templates(Purpose::Reads).await;
        let one = || job_template::Entity::find().filter(job_template::Column::Id.eq("b"));
        assert_eq!(one().all(&reads).await.unwrap(), vec![rows[1].clone()]);
        end_backends(&scratch, Purpose::Reads).await;

        assert_eq!(one().all(&reads).await.unwrap(), vec![rows[1].clone()]);
        assert_eq!(reads.counts(), (1, 1, CONNECTIONS as u32), "the new connection is kept");
    }

    /// An unflushed write's connection the server ended while it sat idle
    /// a second fails no write: it is tested first, and a new one taken.
    #[tokio::test]
    async fn an_idle_connection_the_server_ended_fails_no_write() {
        let (scratch, _, writes) = with_templates(Purpose::UnflushedWrites).await;
        let rename = |name: &str| {
            job_template::Entity::update_many()
                .col_expr(job_template::Column::Name, Expr::val(name))
                .filter(job_template::Column::Id.eq("a"))
        };
        assert_eq!(rename("first").exec(&writes).await.unwrap().rows_affected, 1);
        end_backends(&scratch, Purpose::UnflushedWrites).await;
        // The condition under test: idle for a second.
        tokio::time::sleep(crate::db::PING_IF_IDLE_FOR).await;

        assert_eq!(rename("second").exec(&writes).await.unwrap().rows_affected, 1);
        let now = job_template::Entity::find_by_id("a").one(&scratch.db).await.unwrap().expect("a");
        assert_eq!(now.name, "second");
        assert_eq!(writes.counts(), (1, 1, CONNECTIONS as u32), "the new connection is kept");
    }

    /// Connections idle long enough are closed even when no statement
    /// comes to find them: a quiet edpd holds no backend.
    #[tokio::test]
    async fn idle_connections_are_closed_with_no_statement_to_find_them() {
        let (scratch, rows, _) = with_templates(Purpose::Reads).await;
        let reads = PgDirect::closing_after(&scratch.db, Purpose::Reads, Duration::from_millis(300)).expect("Postgres");
        let one = job_template::Entity::find().filter(job_template::Column::Id.eq("a"));
        assert_eq!(one.all(&reads).await.unwrap(), vec![rows[0].clone()]);
        assert_eq!(reads.counts(), (1, 1, CONNECTIONS as u32), "kept once read");

        wait_for_backends(&scratch, Purpose::Reads, 0).await;
        assert_eq!(reads.counts(), (0, 0, CONNECTIONS as u32));
    }
}
