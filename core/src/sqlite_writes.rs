//! The job manager's frequent writes on an SQLite file (`db::Conn::update`
//! and `insert`: a job's insert, a launch's and a poll's records, leases
//! given back; and the claims, `lease::ClaimOn`), on a thread of their own
//! that commits them in groups.
//!
//! Through sqlx each of these statements was four thread hand-offs (the
//! statement to sqlx's connection thread and its answer back, then the
//! pool's test of the connection as it goes back: transact-rs/sqlx#4363)
//! and a commit of its own: under `edp-bench`'s launches, sqlx's thread
//! was 29% of edpd's CPU, most of it writing each commit's pages to the
//! log (BENCHMARKS.md, issue 16). Here the writes waiting when the thread
//! wakes run in one transaction: one wake-up and one commit for the group,
//! each page the group touched written to the log once.
//!
//! Invariants:
//! - **Answered once committed**: no caller hears of its write before the
//!   commit that holds it; a failed commit fails every write of its group.
//! - **A failure is its write's alone**: a statement that fails in a group
//!   is undone alone (SQLite's statement journal, under its default
//!   `ABORT`, which sea-orm's statements use) and the others commit; one
//!   that ends the whole transaction fails the group.
//! - **Single statements, answered with what they changed** and the first
//!   column a `RETURNING` gives (a claim's ids), not sea-orm's rows: those
//!   only its sqlx drivers build. Transactions, and whatever sea-orm runs
//!   itself, stay on sqlx's pool (`db::connect`), whose one connection is
//!   then the only other writer. The two wait for each other in SQLite's
//!   busy handler, never for long: neither holds SQLite's lock while it
//!   waits for the other.
//! - **Every write sent runs**: a caller that stops waiting (a request
//!   dropped) does not undo it, as with sqlx.
//! - **Same values as sea-orm**: values are bound as sqlx-sqlite binds them
//!   (`sqlite_reads::bind`).

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sea_orm::{DatabaseConnection, DbBackend, Statement};
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::sqlite_reads;

/// The most writes one transaction commits.
const MOST_A_GROUP: usize = 64;

/// How many KiB of pages the connection keeps (SQLite's `cache_size`).
/// Its own commits keep its cache valid; only the pool's writes, which
/// are rare, make it read pages again.
const CACHE_KIB: i64 = 16 * 1024;

/// The writing thread's queue.
pub(crate) struct SqliteWrites {
    queue: mpsc::Sender<Write>,
}

/// A statement sent to the thread, and where its answer goes, once
/// committed.
struct Write {
    statement: Statement,
    answer: oneshot::Sender<Result<Written>>,
}

/// What a write did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Written {
    /// The rows it changed.
    pub(crate) changed: u64,
    /// The first column of each row its `RETURNING` gave (a claim's ids),
    /// as text.
    pub(crate) returned: Vec<String>,
}

impl SqliteWrites {
    /// For a database on an SQLite file, a connection of its own on a
    /// thread of its own (ended when this is dropped); `None` for anything
    /// else, or if the file cannot be opened (the pool writes then).
    pub(crate) fn of(db: &DatabaseConnection) -> Option<Self> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return None;
        }
        let path = db.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
        if !path.is_file() {
            return None;
        }
        let conn = open(&path)
            .inspect_err(|e| tracing::error!(error = %e, "cannot open the database for its writes' thread"))
            .ok()?;
        let (queue, waiting) = mpsc::channel();
        std::thread::Builder::new()
            .name("edp-sqlite-writes".into())
            .spawn(move || serve(&conn, &waiting))
            .inspect_err(|e| tracing::error!(error = %e, "cannot start the database's writes' thread"))
            .ok()?;
        Some(Self { queue })
    }

    /// Runs `statement` (built for SQLite) and tells what it did, once it
    /// is committed.
    pub(crate) async fn execute(&self, statement: Statement) -> Result<Written> {
        let (answer, done) = oneshot::channel();
        let gone = || Error::Internal("the database's writes' thread has ended".into());
        self.queue.send(Write { statement, answer }).map_err(|_| gone())?;
        done.await.map_err(|_| gone())?
    }
}

/// A connection set as `db::connect` sets sqlx's: WAL (the pool set it on
/// the file), `synchronous = NORMAL`, foreign keys, no checkpoint on
/// commit (`sqlite_checkpoints` makes them), the log's file cut back when
/// this connection starts the log over.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", crate::sqlite_checkpoints::LOG_SIZE_LIMIT)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The thread: waits for a write, takes every other one waiting by then,
/// and commits them together; until the queue's sender is dropped.
fn serve(conn: &Connection, waiting: &mpsc::Receiver<Write>) {
    while let Ok(first) = waiting.recv() {
        let mut group = vec![first];
        while group.len() < MOST_A_GROUP {
            match waiting.try_recv() {
                Ok(write) => group.push(write),
                Err(_) => break,
            }
        }
        // A panic (none is known) fails its group's writes, whose callers
        // hear that the thread ended, and not every write after it: the
        // group's transaction, if still open, is rolled back.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| commit(conn, group))).is_err() {
            tracing::error!("a group of database writes panicked; its writes failed");
            if !conn.is_autocommit() {
                let _ = run(conn, "ROLLBACK");
            }
        }
    }
}

/// Runs `group` and answers each write once the group is committed: a
/// write alone as its own transaction, several in one.
fn commit(conn: &Connection, mut group: Vec<Write>) {
    if group.len() == 1 {
        let write = group.pop().expect("one write");
        let done = execute(conn, &write.statement);
        let _ = write.answer.send(done);
        return;
    }
    if let Err(e) = run(conn, "BEGIN IMMEDIATE") {
        return fail(group.into_iter().map(|write| write.answer), || failed(&e));
    }
    let mut done = Vec::with_capacity(group.len());
    for write in &group {
        // A statement that fails is undone alone, the transaction going on
        // (SQLite's statement journal: https://sqlite.org/lang_transaction.html,
        // "Response To Errors Within A Transaction"), unless the failure
        // ended the whole transaction (an I/O error, a full disk): then
        // nothing of the group was written.
        done.push(execute(conn, &write.statement));
        if conn.is_autocommit() {
            let e = done.pop().and_then(Result::err).map_or_else(|| "the transaction ended".into(), |e| e.to_string());
            return fail(group.into_iter().map(|write| write.answer), || written(&e));
        }
    }
    if let Err(e) = run(conn, "COMMIT") {
        let _ = run(conn, "ROLLBACK");
        return fail(group.into_iter().map(|write| write.answer), || failed(&e));
    }
    for (write, done) in group.into_iter().zip(done) {
        let _ = write.answer.send(done);
    }
}

/// One of the statements that make a group a transaction (prepared once).
fn run(conn: &Connection, sql: &str) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute([])
}

/// Answers every write of a group that was not committed with `error`.
fn fail(answers: impl Iterator<Item = oneshot::Sender<Result<Written>>>, error: impl Fn() -> Error) {
    for answer in answers {
        let _ = answer.send(Err(error()));
    }
}

/// A write that failed, as sea-orm reports one.
fn written(e: impl std::fmt::Display) -> Error {
    Error::Database(sea_orm::DbErr::Exec(sea_orm::RuntimeErr::Internal(format!("SQLite: {e}"))))
}

fn execute(conn: &Connection, statement: &Statement) -> Result<Written> {
    let values = match &statement.values {
        Some(values) => values.0.iter().map(sqlite_reads::bind).collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    let written = || -> rusqlite::Result<Written> {
        let mut prepared = conn.prepare_cached(&statement.sql)?;
        if prepared.column_count() == 0 {
            let changed = prepared.execute(rusqlite::params_from_iter(values))? as u64;
            return Ok(Written { changed, returned: Vec::new() });
        }
        let returned = prepared.query_map(rusqlite::params_from_iter(values), |row| row.get(0))?;
        let returned = returned.collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(Written { changed: conn.changes(), returned })
    };
    written().map_err(|e| failed(&e))
}

/// A statement's failure: SQLite's lock held by the pool's connection past
/// the busy timeout is the database unavailable (a 503), as a pool's
/// connection not free in time is.
fn failed(e: &rusqlite::Error) -> Error {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
        return Error::DatabaseUnavailable(sea_orm::DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
    }
    written(e)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};

    use super::*;

    /// An SQLite file with one small table, through sqlx's pool as edpd
    /// opens its database (WAL), and the writes' own connection to it.
    async fn database(dir: &Path) -> (DatabaseConnection, Connection) {
        let url = format!("sqlite://{}?mode=rwc", dir.join("edp.sqlite").display());
        let mut options = sea_orm::ConnectOptions::new(url);
        options.max_connections(1).map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal).pragma("wal_autocheckpoint", "0")
        });
        let db = Database::connect(options).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL CHECK (v != 'bad'))")
            .await
            .unwrap();
        let conn = open(&dir.join("edp.sqlite")).unwrap();
        (db, conn)
    }

    fn insert(id: i64, v: &str) -> Statement {
        Statement::from_sql_and_values(DbBackend::Sqlite, "INSERT INTO t (id, v) VALUES (?, ?)", [id.into(), v.into()])
    }

    fn write(statement: Statement) -> (Write, oneshot::Receiver<Result<Written>>) {
        let (answer, done) = oneshot::channel();
        (Write { statement, answer }, done)
    }

    async fn values(db: &DatabaseConnection) -> Vec<(i64, String)> {
        let rows = db.query_all_raw(Statement::from_string(DbBackend::Sqlite, "SELECT id, v FROM t ORDER BY id")).await;
        rows.unwrap().iter().map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap())).collect()
    }

    /// Frames in the write-ahead log, from its size: the pages commits
    /// wrote (no checkpoint runs here, so it only grows).
    fn log_frames(conn: &Connection) -> u64 {
        let page: u64 = conn.query_row("PRAGMA page_size", [], |row| row.get::<_, i64>(0)).unwrap() as u64;
        let path = conn.path().map(|p| format!("{p}-wal")).unwrap();
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        size.saturating_sub(32) / (page + 24)
    }

    /// A group is one transaction: its writes are answered with the rows
    /// each changed (and returned), a failing one fails alone (the others
    /// are committed), and the pages they share are written to the log
    /// once.
    #[tokio::test]
    async fn a_group_commits_together_and_a_failure_is_its_writes_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (db, conn) = database(dir.path()).await;
        let before = log_frames(&conn);
        assert!(before > 0, "the table's creation is in the log");

        let mut group = Vec::new();
        let mut answers = Vec::new();
        for (id, v) in [(1, "a"), (2, "b"), (3, "bad"), (4, "d")] {
            let (w, done) = write(insert(id, v));
            group.push(w);
            answers.push(done);
        }
        let (w, done) = write(Statement::from_string(DbBackend::Sqlite, "UPDATE t SET v = v || '!' WHERE id < 3"));
        group.push(w);
        answers.push(done);
        let returning = "UPDATE t SET v = v || '?' WHERE id > 1 RETURNING v";
        let (w, returned) = write(Statement::from_string(DbBackend::Sqlite, returning));
        group.push(w);
        commit(&conn, group);
        let mut returned = returned.await.unwrap().unwrap();
        returned.returned.sort();
        assert_eq!(returned, Written { changed: 2, returned: vec!["b!?".into(), "d?".into()] });

        let mut told = Vec::new();
        for done in answers {
            told.push(done.await.unwrap().map(|w| w.changed).map_err(|e| e.to_string()));
        }
        assert_eq!(told[0], Ok(1));
        assert_eq!(told[1], Ok(1));
        assert!(told[2].as_ref().is_err_and(|e| e.contains("CHECK constraint failed")), "{told:?}");
        assert_eq!(told[3], Ok(1));
        assert_eq!(told[4], Ok(2));
        assert_eq!(values(&db).await, [(1, "a!".into()), (2, "b!?".into()), (4, "d?".into())]);
        let grouped = log_frames(&conn) - before;

        // The same writes one at a time: a commit, and its pages, each.
        let before = log_frames(&conn);
        for id in 10..15 {
            let (w, done) = write(insert(id, "x"));
            commit(&conn, vec![w]);
            assert_eq!(done.await.unwrap().unwrap().changed, 1);
        }
        let alone = log_frames(&conn) - before;
        assert_eq!(grouped, 1, "the group's one commit wrote the table's one page once");
        assert_eq!(alone, 5, "each write alone is a commit of that page");
    }

    /// A write that ends the group's transaction (as SQLite does for an
    /// I/O error or a full disk) fails the whole group: nothing of it is
    /// written, and no write of it is told otherwise.
    #[tokio::test]
    async fn a_write_that_ends_the_transaction_fails_its_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let (db, conn) = database(dir.path()).await;
        let (first, first_done) = write(insert(1, "a"));
        let (ender, ender_done) = write(Statement::from_string(DbBackend::Sqlite, "ROLLBACK"));
        let (last, last_done) = write(insert(2, "b"));
        commit(&conn, vec![first, ender, last]);
        for done in [first_done, ender_done, last_done] {
            let told = done.await.unwrap().map_err(|e| e.to_string());
            assert!(told.as_ref().is_err_and(|e| e.contains("the transaction ended")), "{told:?}");
        }
        assert_eq!(values(&db).await, []);
        assert!(conn.is_autocommit());
        let (next, next_done) = write(insert(3, "c"));
        commit(&conn, vec![next]);
        assert_eq!(next_done.await.unwrap().unwrap().changed, 1, "the thread goes on");
    }

    /// A write waits for the pool's transaction holding SQLite's lock, and
    /// is answered once committed: a reader then sees it.
    #[tokio::test]
    async fn a_write_waits_for_the_pools_transaction_and_is_seen_once_answered() {
        let dir = tempfile::tempdir().unwrap();
        let (db, conn) = database(dir.path()).await;
        drop(conn);
        let writes = std::sync::Arc::new(SqliteWrites::of(&db).expect("an SQLite file"));

        let txn = db.begin().await.unwrap();
        txn.execute_raw(insert(1, "from the pool")).await.unwrap();
        let write = tokio::spawn({
            let writes = writes.clone();
            async move { writes.execute(insert(2, "from the thread")).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!write.is_finished(), "the write waits while the pool's transaction holds the lock");
        txn.commit().await.unwrap();
        let changed = tokio::time::timeout(Duration::from_secs(5), write).await.expect("answered").unwrap();
        assert_eq!(changed.unwrap().changed, 1);
        assert_eq!(values(&db).await, [(1, "from the pool".into()), (2, "from the thread".into())]);

        assert_eq!(writes.execute(insert(3, "c")).await.unwrap().changed, 1);
        let reader = Connection::open(dir.path().join("edp.sqlite")).unwrap();
        let seen: i64 = reader.query_row("SELECT count(*) FROM t WHERE id = 3", [], |r| r.get(0)).unwrap();
        assert_eq!(seen, 1);
        let e = writes.execute(insert(3, "again")).await.expect_err("a second row 3");
        assert!(e.to_string().contains("UNIQUE constraint failed"), "{e}");
    }

    /// Many writes at once, beside the pool's own transactions: every one
    /// is answered, as written, and nothing is lost or written twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_at_once_beside_the_pools_transactions_are_each_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let (db, conn) = database(dir.path()).await;
        drop(conn);
        let writes = std::sync::Arc::new(SqliteWrites::of(&db).expect("an SQLite file"));
        let mut tasks = tokio::task::JoinSet::new();
        for id in 0..300 {
            let writes = writes.clone();
            tasks.spawn(async move { writes.execute(insert(id, "thread")).await.map(|w| w.changed) });
        }
        for id in 1000..1020 {
            let db = db.clone();
            tasks.spawn(async move {
                let txn = db.begin().await?;
                txn.execute_raw(insert(id, "pool")).await?;
                txn.commit().await?;
                Ok(1)
            });
        }
        let answers = tasks.join_all().await;
        assert!(answers.iter().all(|a| matches!(a, Ok(1))), "{answers:?}");
        let stored = values(&db).await;
        assert_eq!(stored.len(), 320);
        assert_eq!(stored.iter().filter(|(_, v)| v == "thread").count(), 300);
    }

    /// SQLite's lock held by the other writer past the busy timeout is the
    /// database unavailable (a 503 saying to try again); other failures
    /// are database errors.
    #[test]
    fn a_lock_held_too_long_is_the_database_unavailable() {
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
        assert!(matches!(failed(&busy), Error::DatabaseUnavailable(_)), "{:?}", failed(&busy));
        let constraint =
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT), None);
        assert!(matches!(failed(&constraint), Error::Database(_)), "{:?}", failed(&constraint));
    }

    /// What the thread writes is stored exactly as sqlx stores it (the
    /// scheduler compares stored times and statuses as text): a job's
    /// insert and an update of every kind of value, through the pool for
    /// one row and through the thread for another.
    #[tokio::test]
    async fn values_are_stored_as_sqlx_stores_them() {
        use chrono::{TimeZone, Utc};
        use sea_orm::{
            ActiveValue::Set, ColumnTrait, EntityTrait, IdenStatic, IntoActiveModel, Iterable, QueryFilter, QueryTrait,
        };

        use crate::entity::job_execution::{self, Column as C};

        let dir = tempfile::tempdir().unwrap();
        let db = crate::sqlite_reads::tests::database(dir.path()).await;
        let conn = open(&dir.path().join("edp.sqlite")).unwrap();
        conn.pragma_update(None, "foreign_keys", false).unwrap(); // the rows name no real template
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap() + chrono::Duration::microseconds(123_456);
        let changes = |id: &str| {
            let mut changes = job_execution::ActiveModel { ..Default::default() };
            changes.status = Set("SUCCEEDED".into());
            changes.info = Set(serde_json::json!({"status": "SUCCEEDED", "n": [1, 2.5, null], "é": "\"q\""}));
            changes.return_code = Set(Some(0));
            changes.end_time = Set(Some(at));
            changes.lease_token = Set(None);
            changes.host_bound = Set(false);
            job_execution::Entity::update_many().set(changes).filter(C::Id.eq(id))
        };

        let by_pool = crate::sqlite_reads::tests::row("pool", "p", true, at).into_active_model();
        job_execution::Entity::insert(by_pool).exec_without_returning(&db).await.unwrap();
        changes("pool").exec(&db).await.unwrap();

        let by_thread = crate::sqlite_reads::tests::row("thread", "p", true, at).into_active_model();
        let (insert, inserted) = write(job_execution::Entity::insert(by_thread).build(DbBackend::Sqlite));
        let (update, updated) = write(changes("thread").build(DbBackend::Sqlite));
        commit(&conn, vec![insert, update]);
        assert_eq!(inserted.await.unwrap().unwrap().changed, 1);
        assert_eq!(updated.await.unwrap().unwrap().changed, 1);

        let stored = |id: &str| -> Vec<rusqlite::types::Value> {
            let columns =
                C::iter().filter(|c| !matches!(c, C::Id)).map(|c| format!("\"{}\"", c.as_str())).collect::<Vec<_>>();
            let sql = format!("SELECT {} FROM job_executions WHERE id = ?", columns.join(", "));
            conn.query_row(&sql, [id], |row| (0..columns.len()).map(|at| row.get(at)).collect()).unwrap()
        };
        assert_eq!(stored("thread"), stored("pool"));
        let status = stored("thread")[6].clone();
        assert_eq!(status, rusqlite::types::Value::Text("SUCCEEDED".into()), "the update ran");
    }
}
