//! Connecting to the database and bringing its schema up to date.

use std::time::Duration;

use edp_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::error::Result;

/// sqlx connections to an SQLite file: one.
///
/// SQLite writes one transaction at a time. With several connections, a
/// write that finds the lock taken sleeps in SQLite's busy handler (1, 2,
/// 5, 10 ms ...) instead of queueing, and every commit drops the page cache
/// of each other connection, which then reads its pages again: under
/// `edp-bench`'s launches an insert took 1.1 ms on the connection's thread
/// with eight connections and 0.17 ms with one (BENCHMARKS.md, issue 16).
/// The API's reads (a job, a list, the catalog's lookups) go to
/// `crate::sqlite_reads`' own connections and never wait for this one; the
/// job manager's frequent writes go to `crate::sqlite_writes`' thread, the
/// one other writer, which queues its own and commits them in groups.
///
/// Invariant: nothing holds a transaction (or a streamed result) of
/// `Edp::db` while awaiting another statement on `Edp::db` itself: with one
/// connection that waits for itself until `acquire_timeout`.
const SQLITE_CONNECTIONS: u32 = 1;

/// sqlx's connections to Postgres: its transactions, and the statements
/// not on `crate::pg_direct`'s own connections (eight reads', eight
/// flushed and eight unflushed writes').
const POSTGRES_CONNECTIONS: u32 = 8;

/// How long a statement waits for a connection (or for one to open)
/// before it fails as the database being unavailable.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a Postgres connection sits idle before it is tested as it is
/// taken from the pool (or, for a write, from `crate::pg_direct`'s).
pub(crate) const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and runs
/// every pending migration. An SQLite file is created on first use.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let sqlite = url.starts_with("sqlite");
    let connections = if sqlite { SQLITE_CONNECTIONS } else { POSTGRES_CONNECTIONS };
    let mut options = ConnectOptions::new(url.to_string());
    options.sqlx_logging(false).acquire_timeout(ACQUIRE_TIMEOUT).max_connections(connections);
    // sqlx pings a connection each time it is taken from the pool (and
    // again as it goes back): a round trip to Postgres, or a hand-off to
    // SQLite's connection thread and back, before each statement. A file
    // connection cannot go stale. A Postgres one is tested only once it sat
    // idle a second (HikariCP's rule, with its 500 ms): a restarted server
    // is noticed before a quiet node's next statement, while under load a
    // connection the restart broke fails one statement (a step is retried,
    // a request gets a 503 `DATABASE_UNAVAILABLE`) and is dropped.
    if sqlite {
        options.test_before_acquire(false);
    } else {
        options.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    }
    // WAL with synchronous=NORMAL: ~2.5x the commits of FULL, and a crash
    // can lose at most the last transactions, never corrupt the file.
    options.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .create_if_missing(true)
            // Checkpoints are `crate::sqlite_checkpoints`' thread's (started
            // by `Edp::new`), not the job of whichever commit fills the log
            // (a few ms a time).
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", crate::sqlite_checkpoints::LOG_SIZE_LIMIT.to_string())
    });
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// How a write is committed on Postgres (SQLite has one way: WAL with
/// `synchronous = NORMAL`, see [`connect`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Answered once the write-ahead log is flushed: what nothing could
    /// tell again if a database crash lost it (a user's request, a job
    /// stored before its launch, a launch's failure).
    Flushed,
    /// Answered before the flush (`synchronous_commit = off`): what the
    /// scheduler learns again from the engine or the clock if a crash of
    /// the database server loses it (a launch recorded, a poll's report, a
    /// cancel's end, a lease). It is visible to every reader at once, as
    /// any commit; only its durability waits, for at most three times
    /// Postgres' `wal_writer_delay` (600 ms by default), and any later
    /// flushed commit makes it durable with itself. Its loss costs time,
    /// never a job: the row goes back to its last flushed state, and the
    /// steps that wrote it run again when its lease expires (a launch is
    /// found again by its submission tag; a job's end is asked again).
    Unflushed,
}

/// A connection for single statements: sqlx's pool, on Postgres one of
/// `crate::pg_direct`'s sets, on an SQLite file `crate::sqlite_writes`'
/// thread. Where a write committed a given way goes (`Edp::db_for`: on
/// Postgres each way has its set; `synchronous_commit = off` is a startup
/// option of the unflushed one's, no statement more), and where
/// sea-orm reads what `crate::sqlite_reads` does not (`reads::Reads::orm`).
/// No transaction is begun on it.
pub(crate) enum Conn<'a> {
    Pool(&'a DatabaseConnection),
    Direct(&'a crate::pg_direct::PgDirect),
    /// On an SQLite file: [`Conn::update`], [`Conn::insert`] and the
    /// claims (`lease::ClaimOn`) on the writes' thread; what sea-orm runs
    /// through `ConnectionTrait` on the pool.
    SqliteWrites(&'a crate::sqlite_writes::SqliteWrites, &'a DatabaseConnection),
}

impl Conn<'_> {
    /// Runs `update` and gives the rows it changed, as sea-orm's
    /// `UpdateMany::exec` does: the job manager's frequent writes, which on
    /// an SQLite file are committed in groups (`crate::sqlite_writes`).
    pub(crate) async fn update<E: sea_orm::EntityTrait>(&self, update: sea_orm::UpdateMany<E>) -> Result<u64> {
        use sea_orm::QueryTrait;
        if update.as_query().get_values().is_empty() {
            return Ok(0);
        }
        self.execute(update.build(self.backend())).await
    }

    /// Inserts `insert`'s rows (no `RETURNING`: the caller has them).
    pub(crate) async fn insert<A: sea_orm::ActiveModelTrait>(&self, insert: sea_orm::Insert<A>) -> Result<()> {
        use sea_orm::QueryTrait;
        self.execute(insert.build(self.backend())).await.map(drop)
    }

    async fn execute(&self, statement: sea_orm::Statement) -> Result<u64> {
        use sea_orm::ConnectionTrait;
        match self {
            Self::SqliteWrites(writes, _) => Ok(writes.execute(statement).await?.changed),
            Self::Pool(_) | Self::Direct(_) => Ok(self.execute_raw(statement).await?.rows_affected()),
        }
    }

    fn backend(&self) -> sea_orm::DbBackend {
        sea_orm::ConnectionTrait::get_database_backend(self)
    }
}

#[async_trait::async_trait]
impl sea_orm::ConnectionTrait for Conn<'_> {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        match self {
            Self::Pool(db) | Self::SqliteWrites(_, db) => db.get_database_backend(),
            Self::Direct(direct) => direct.get_database_backend(),
        }
    }

    async fn execute_raw(&self, statement: sea_orm::Statement) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        match self {
            Self::Pool(db) | Self::SqliteWrites(_, db) => db.execute_raw(statement).await,
            Self::Direct(direct) => direct.execute_raw(statement).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        match self {
            Self::Pool(db) | Self::SqliteWrites(_, db) => db.execute_unprepared(sql).await,
            Self::Direct(direct) => direct.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(
        &self,
        statement: sea_orm::Statement,
    ) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
        match self {
            Self::Pool(db) | Self::SqliteWrites(_, db) => db.query_one_raw(statement).await,
            Self::Direct(direct) => direct.query_one_raw(statement).await,
        }
    }

    async fn query_all_raw(&self, statement: sea_orm::Statement) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
        match self {
            Self::Pool(db) | Self::SqliteWrites(_, db) => db.query_all_raw(statement).await,
            Self::Direct(direct) => direct.query_all_raw(statement).await,
        }
    }
}

/// The row a query selects by its primary key, if any.
///
/// Not `Select::one`: that adds `LIMIT ?` with a bound value, and SQLite
/// (3.4x) reads bound LIMIT values while planning, so every execution
/// expires the cached statement and parses it again: 60% slower lookups
/// here. A primary-key lookup needs no limit.
pub(crate) async fn by_key<E, C>(select: sea_orm::Select<E>, db: &C) -> Result<Option<E::Model>>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    single(select.into_model::<E::Model>(), db).await
}

/// [`by_key`] for a selector of columns (`into_tuple`) whose statement
/// gives one row anyway: an aggregate, a lookup by key. Without `one`'s
/// bound `LIMIT ?`, for the same reason.
pub(crate) async fn single<S, C>(selector: sea_orm::Selector<S>, db: &C) -> Result<Option<S::Item>>
where
    S: sea_orm::SelectorTrait,
    C: sea_orm::ConnectionTrait,
{
    Ok(selector.all(db).await?.into_iter().next())
}

/// SQLite serves one edpd at a time: held for the life of the process, this
/// lock (a file beside the database, `<database>.lock`, holding the pid)
/// makes a second edpd on the same file refuse to start rather than run
/// every job twice. `None` for other databases.
pub fn lock_sqlite(url: &str) -> crate::Result<Option<std::fs::File>> {
    use std::io::{Read, Seek, Write};
    let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else { return Ok(None) };
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    let lock_path = format!("{path}.lock");
    let io = |e: std::io::Error| crate::Error::Internal(format!("cannot lock {lock_path}: {e}"));
    let mut file =
        std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&lock_path).map_err(io)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {
            file.set_len(0).map_err(io)?;
            file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            Ok(Some(file))
        }
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Err(crate::Error::Internal(format!(
                "another edpd (pid {}) uses the SQLite database {path}: SQLite serves one edpd at a time. Stop \
                 that one, give this one another [paths] data_dir, or use Postgres ([database] url) to run several",
                holder.trim()
            )))
        }
        Err(e) => Err(io(e.into())),
    }
}

/// How SQLite runs `query` with its values bound (as they are when edpd
/// runs it): the details of `EXPLAIN QUERY PLAN`, one line a step.
#[cfg(test)]
pub(crate) async fn sqlite_plan(
    db: &DatabaseConnection,
    query: &impl sea_orm::sea_query::QueryStatementWriter,
) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let (sql, values) = query.build(sea_orm::sea_query::SqliteQueryBuilder);
    let explain =
        Statement::from_sql_and_values(sea_orm::DatabaseBackend::Sqlite, format!("EXPLAIN QUERY PLAN {sql}"), values);
    let rows = db.query_all_raw(explain).await.expect("EXPLAIN QUERY PLAN");
    rows.iter().map(|row| row.try_get::<String>("", "detail").expect("detail")).collect::<Vec<_>>().join("\n")
}

/// A fresh Postgres database with edpd's schema, for a test (on the
/// server `EDP_TEST_PG_URL` names), dropped when this goes: also when the
/// test fails, so a failing test leaves no database behind.
#[cfg(test)]
pub(crate) struct ScratchPg {
    /// The server's own database, where the test's is made.
    pub(crate) admin: DatabaseConnection,
    admin_url: String,
    pub(crate) db: DatabaseConnection,
    pub(crate) name: String,
}

#[cfg(test)]
impl ScratchPg {
    pub(crate) async fn new() -> Self {
        use sea_orm::ConnectionTrait;
        let admin_url = std::env::var("EDP_TEST_PG_URL")
            .expect("EDP_TEST_PG_URL is not set: run ./scripts/test, which starts Postgres, or point it at one");
        let name = format!("edp_core_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&admin_url).await.expect("admin connection");
        admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create database");
        let db = Database::connect(format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0)).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        Self { admin, admin_url, db, name }
    }
}

#[cfg(test)]
impl Drop for ScratchPg {
    fn drop(&mut self) {
        // Synchronous, so that it runs while a failed test unwinds too;
        // FORCE ends the connections still open to it.
        let dropped = std::process::Command::new("psql")
            .arg(&self.admin_url)
            .args(["-v", "ON_ERROR_STOP=1", "-c", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)])
            .output();
        match dropped {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("could not drop {}: {}", self.name, String::from_utf8_lossy(&out.stderr)),
            Err(e) => eprintln!("could not drop {}: psql: {e}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Statement};

    use super::*;

    async fn synchronous_commit(db: &impl ConnectionTrait) -> String {
        let show = Statement::from_string(db.get_database_backend(), "SHOW synchronous_commit");
        let row = db.query_one_raw(show).await.expect("SHOW").expect("a row");
        row.try_get_by_index::<String>(0).expect("text")
    }

    /// On Postgres the unflushed writes have connections of their own that
    /// do not wait for the log's flush; the others still do.
    #[tokio::test]
    async fn unflushed_writes_do_not_wait_for_the_log_and_the_others_do() {
        let url = std::env::var("EDP_TEST_PG_URL")
            .expect("EDP_TEST_PG_URL is not set: run ./scripts/test, which starts Postgres, or point it at one");
        let db = Database::connect(&url).await.expect("connect");
        assert_eq!(synchronous_commit(&db).await, "on");
        let unflushed = crate::pg_direct::PgDirect::of(&db, crate::pg_direct::Purpose::UnflushedWrites);
        assert_eq!(synchronous_commit(&unflushed.expect("connections of their own")).await, "off");
        let flushed = crate::pg_direct::PgDirect::of(&db, crate::pg_direct::Purpose::FlushedWrites);
        assert_eq!(synchronous_commit(&flushed.expect("connections of their own")).await, "on");
        assert_eq!(synchronous_commit(&db).await, "on", "the main pool is unchanged");
    }
}
