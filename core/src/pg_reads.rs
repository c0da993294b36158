//! Reads on Postgres without sqlx's pool: the statements `crate::reads`
//! would send through sea-orm (a job, a page of jobs, the catalog's
//! lookups, a hinted job's row), run on a few connections of their own.
//!
//! sqlx's pool tests every connection as it goes back (a `Sync` message
//! and its answer, transact-rs/sqlx#4363): a second round trip after each
//! statement, which wakes the backend and edpd a second time for every
//! `GET /v2/jobs/{id}`. These connections go back to an idle list
//! untested: 25% more reads a second (BENCHMARKS.md, issue 16).
//!
//! Invariants:
//! - **Reads only**: each connection starts with
//!   `default_transaction_read_only = on`; every write stays on sea-orm, as
//!   on SQLite (`crate::sqlite_reads`).
//! - **No connection goes back mid-answer**, which is what sqlx's test
//!   guards against: a connection is given back only once its statement
//!   ran to its end; a read dropped part way (a client that went away)
//!   drops its connection with it, and one that failed closes it.
//! - **No stale reads**: each statement is a transaction of its own (read
//!   committed), so it sees every commit made before it began, unflushed
//!   ones (`db::Commit::Unflushed`) included.
//! - **Same values as sea-orm**: the SQL is sea-query's for Postgres, bound
//!   by sea-query-sqlx, and rows are decoded by sea-orm's own
//!   `FromQueryResult`, as `select.all(db)` does.
//! - **A connection broken while idle costs no request**: a read that
//!   fails on an idle connection because the connection is gone (a
//!   restarted server) runs once more on a new one. Reads can be.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sea_orm::sqlx::{self, Connection};
use sea_orm::{
    ConnAcquireErr, DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryResult, QueryTrait,
    RuntimeErr, Select, Statement, Values,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// The most connections open at once. Reads are short: on two cores,
/// eight at a time kept Postgres as busy as sixteen did.
pub(crate) const CONNECTIONS: usize = 8;

/// How long a connection sits idle before it is closed: the connections
/// kept are as many as reads ran at once lately.
const IDLE_FOR: Duration = Duration::from_secs(60);

/// What these connections are called in `pg_stat_activity`.
pub(crate) const APPLICATION_NAME: &str = "edpd reads";

/// Connections of their own to the Postgres server edpd uses.
pub(crate) struct PgReads {
    options: PgConnectOptions,
    /// Most recently used last.
    idle: Mutex<Vec<Idle>>,
    /// One per connection open or opening.
    slots: Semaphore,
}

struct Idle {
    conn: PgConnection,
    since: Instant,
}

impl PgReads {
    /// For a database on Postgres, with its server and settings; `None`
    /// for anything else. Connections open as reads first need them.
    pub(crate) fn of(db: &DatabaseConnection) -> Option<Self> {
        if db.get_database_backend() != DbBackend::Postgres {
            return None;
        }
        let pool = db.get_postgres_connection_pool();
        let options = (*pool.connect_options())
            .clone()
            .options([("default_transaction_read_only", "on")])
            .application_name(APPLICATION_NAME);
        Some(Self { options, idle: Mutex::new(Vec::new()), slots: Semaphore::new(CONNECTIONS) })
    }

    /// The rows `select` finds, as `select.into_model::<M>().all(db)`
    /// gives them.
    pub(crate) async fn all<E, M>(&self, select: Select<E>) -> Result<Vec<M>>
    where
        E: EntityTrait,
        M: FromQueryResult,
    {
        let rows = self.fetch(&select.build(DbBackend::Postgres)).await?;
        rows.into_iter().map(|row| M::from_query_result(&QueryResult::from(row), "").map_err(Error::from)).collect()
    }

    /// (connections open or opening, idle, most allowed), for the
    /// database gauges.
    pub(crate) fn counts(&self) -> (u32, usize, u32) {
        let idle = self.idle().len();
        let busy = CONNECTIONS - self.slots.available_permits();
        ((busy + idle) as u32, idle, CONNECTIONS as u32)
    }

    async fn fetch(&self, statement: &Statement) -> Result<Vec<PgRow>> {
        let _slot = tokio::time::timeout(crate::db::ACQUIRE_TIMEOUT, self.slots.acquire())
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .expect("the slots are never closed");
        if let Some(conn) = self.take_idle() {
            match self.run(conn, statement).await {
                Err(e) if crate::error::connection_lost(&e) => {
                    tracing::debug!(error = %e, "an idle read connection was gone; reading on a new one");
                }
                done => return done.map_err(query_error),
            }
        }
        let conn = tokio::time::timeout(crate::db::ACQUIRE_TIMEOUT, PgConnection::connect_with(&self.options))
            .await
            .map_err(|_| DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?
            .map_err(|e| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e))))?;
        self.run(conn, statement).await.map_err(query_error)
    }

    /// Runs `statement` on `conn`, and gives `conn` back once it ran to
    /// its end.
    async fn run(&self, mut conn: PgConnection, statement: &Statement) -> sqlx::Result<Vec<PgRow>> {
        let values = SqlxValues(statement.values.clone().unwrap_or(Values(Vec::new())));
        let rows = sqlx::query_with(sqlx::AssertSqlSafe(statement.sql.as_str()), values).fetch_all(&mut conn).await?;
        self.idle().push(Idle { conn, since: Instant::now() });
        Ok(rows)
    }

    /// The most recently used idle connection; those idle too long are
    /// closed (dropped: Postgres ends a backend whose client left outside
    /// a transaction without a word in its log).
    fn take_idle(&self) -> Option<PgConnection> {
        let mut idle = self.idle();
        let now = Instant::now();
        idle.retain(|c| now.duration_since(c.since) < IDLE_FOR);
        idle.pop().map(|c| c.conn)
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn query_error(e: sqlx::Error) -> Error {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e))).into()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use sea_orm::sea_query::Expr;
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, ConnectionTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
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

    /// A scratch database with two templates in it.
    async fn with_templates() -> (ScratchPg, Vec<job_template::Model>) {
        let scratch = ScratchPg::new().await;
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        let rows = vec![template("a", false, at), template("b", true, at + chrono::Duration::microseconds(123_456))];
        for row in &rows {
            row.clone().into_active_model().reset_all().insert(&scratch.db).await.expect("insert");
        }
        (scratch, rows)
    }

    /// Backends of this database's read connections, as Postgres lists them.
    async fn read_backends(scratch: &ScratchPg) -> i64 {
        let count = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = '{APPLICATION_NAME}'",
            scratch.name
        );
        let row = scratch.admin.query_one_raw(Statement::from_string(DbBackend::Postgres, count)).await;
        row.expect("count").expect("a row").try_get_by_index(0).expect("a number")
    }

    /// What these connections read is what sea-orm reads: bound text,
    /// booleans and times, JSON, fractions of seconds, order, no rows.
    #[tokio::test]
    async fn reads_what_sea_orm_reads() {
        let (scratch, rows) = with_templates().await;
        let reads = PgReads::of(&scratch.db).expect("Postgres");
        let all = job_template::Entity::find().order_by_desc(job_template::Column::CreatedAt);
        assert_eq!(
            reads.all::<_, job_template::Model>(all.clone()).await.unwrap(),
            all.all(&scratch.db).await.unwrap()
        );
        let some = job_template::Entity::find()
            .filter(job_template::Column::Name.eq("b é"))
            .filter(job_template::Column::IsPublic.eq(true))
            .filter(job_template::Column::CreatedAt.gt(rows[0].created_at));
        assert_eq!(reads.all::<_, job_template::Model>(some).await.unwrap(), vec![rows[1].clone()]);
        let none = job_template::Entity::find().filter(job_template::Column::Id.eq("zz"));
        assert!(reads.all::<_, job_template::Model>(none).await.unwrap().is_empty());
        assert_eq!(reads.counts(), (1, 1, CONNECTIONS as u32), "one connection, kept");
        scratch.remove().await;
    }

    /// A read dropped while Postgres still works on it (its client went
    /// away) closes its connection rather than leave an answer on it for
    /// the next read.
    #[tokio::test]
    async fn a_read_dropped_part_way_closes_its_connection() {
        let (scratch, rows) = with_templates().await;
        let reads = PgReads::of(&scratch.db).expect("Postgres");
        let slow = job_template::Entity::find().expr_as(Expr::cust("pg_sleep(1)::text"), "slept");
        let dropped = tokio::time::timeout(Duration::from_millis(100), reads.all::<_, job_template::Model>(slow));
        assert!(dropped.await.is_err(), "the read was still waiting for Postgres");
        assert_eq!(reads.counts(), (0, 0, CONNECTIONS as u32), "no connection kept");

        let one = job_template::Entity::find().filter(job_template::Column::Id.eq("a"));
        assert_eq!(reads.all::<_, job_template::Model>(one).await.unwrap(), vec![rows[0].clone()]);
        // The dropped read's backend ends once it finds its client gone:
        // only the new connection stays.
        let deadline = Instant::now() + Duration::from_secs(20);
        while read_backends(&scratch).await != 1 {
            assert!(Instant::now() < deadline, "the dropped read's backend is still there");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        scratch.remove().await;
    }

    /// A connection the server ended while it sat idle (a restart, a
    /// proxy's limit) fails no read: the read runs again on a new one.
    #[tokio::test]
    async fn an_idle_connection_the_server_ended_fails_no_read() {
        let (scratch, rows) = with_templates().await;
        let reads = PgReads::of(&scratch.db).expect("Postgres");
        let one = || job_template::Entity::find().filter(job_template::Column::Id.eq("b"));
        assert_eq!(reads.all::<_, job_template::Model>(one()).await.unwrap(), vec![rows[1].clone()]);
        let end = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND application_name = '{APPLICATION_NAME}'",
            scratch.name
        );
        scratch.admin.execute_unprepared(&end).await.expect("terminate");
        let deadline = Instant::now() + Duration::from_secs(20);
        while read_backends(&scratch).await != 0 {
            assert!(Instant::now() < deadline, "the backend did not end");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        assert_eq!(reads.all::<_, job_template::Model>(one()).await.unwrap(), vec![rows[1].clone()]);
        assert_eq!(reads.counts(), (1, 1, CONNECTIONS as u32), "the new connection is kept");
        scratch.remove().await;
    }
}
