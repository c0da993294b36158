//! Reads on SQLite without sqlx's thread hand-offs: job executions (every
//! GET, list and `find`) and the catalog's lookups (`catalog::find`, a
//! template's binaries), as `crate::reads` sends them here.
//!
//! sqlx-sqlite runs each connection on a thread of its own: every query is
//! sent there over a channel and its rows come back the same way, two
//! thread wake-ups per query, which was most of what a `GET /v2/jobs/{id}`
//! cost (BENCHMARKS.md, issue 16 part 2) and a millisecond of each launch's
//! lookups. These connections run the same SQL (built by sea-query from the
//! same `Select`) on the calling thread.
//!
//! Invariants:
//! - **Reads only**: each connection is `query_only`; writes are sqlx's
//!   pool's and `crate::sqlite_writes`' thread's.
//! - **No stale reads**: a read runs in a read transaction (WAL: it sees
//!   every commit made before the transaction began, and never waits for
//!   a writer). A connection keeps its transaction from one read to the
//!   next only while nothing was committed since it began, by any
//!   connection of any process: the WAL index's header, read before the
//!   transaction began, is unchanged ([`crate::wal_index`]). Else the
//!   transaction ends. A transaction is kept only once nothing was
//!   committed between two reads of the connection. Beginning and ending
//!   one took the WAL index's read lock, an `fcntl` each way under a mutex
//!   every connection of the process shares: a tenth of a
//!   `GET /v2/jobs/{id}` (BENCHMARKS.md, issue 16).
//! - **No log held back**: a transaction is kept only if it began while
//!   the log was wholly checkpointed: SQLite then reads the database file
//!   alone, and the transaction holds no place in the log, so a writer can
//!   always start the log over. Only a checkpoint waits for it, and only
//!   once something was committed after it: before each checkpoint the
//!   idle connections end those ([`IdleReads::end_behind`]); a connection
//!   in use ends its own at its next read. Under writes, reads therefore
//!   keep nothing until the log is checkpointed again.
//! - **Same values as sea-orm**: bound values are encoded as sqlx encodes
//!   them (booleans as 0/1, times as RFC 3339 text), so comparisons with
//!   stored values agree; rows are decoded as sqlx decodes them.
//! - Only SQLite files: Postgres, and in-memory SQLite, keep sea-orm.
//!
//! A read blocks the async worker that runs it for its duration (tens of
//! µs for a row, about a millisecond for a page of 100): cheaper than
//! handing it to another thread and back, and WAL readers do not wait for
//! locks.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, Row};
use sea_orm::sea_query::Value;
use std::str::FromStr;

use sea_orm::{
    ColumnTrait, ColumnType, DatabaseConnection, DbBackend, EntityTrait, IdenStatic, Iterable, QueryTrait, Select,
};
use serde::de::DeserializeOwned;

use crate::entity::job_execution;
use crate::error::{Error, Result};
use crate::execution_row::Columns;
use crate::model::ShownExtra;
use crate::reads::Extra;
use crate::scope::{Role, Scope};
use crate::sqlite_row::RowDeserializer;
use crate::wal_index::{Header, WalIndex};

/// How many KiB of pages each read connection keeps (SQLite's
/// `cache_size`; its default is 2,000).
const CACHE_KIB: i64 = 16 * 1024;

/// Idle connections kept; more are opened under load and closed after.
const IDLE: usize = 4;

/// A few read-only connections to the SQLite file edpd uses.
pub(crate) struct SqliteReads {
    path: PathBuf,
    idle: IdleReads,
}

/// The connections not in use.
#[derive(Clone, Default)]
pub(crate) struct IdleReads(Arc<Mutex<Vec<ReadConn>>>);

impl IdleReads {
    /// Ends the kept transactions of idle connections that something was
    /// committed after: they hold the log back from being checkpointed
    /// (`sqlite_checkpoints` calls this before each checkpoint).
    pub(crate) fn end_behind(&self) {
        // A connection that cannot end its transaction is closed instead.
        self.lock().retain_mut(|conn| conn.kept.is_none() || conn.now() == conn.kept || conn.end().is_ok());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ReadConn>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A read connection, and the read transaction it keeps between reads.
struct ReadConn {
    conn: Connection,
    /// Its mapping of the WAL index (`None` if the file is not in WAL
    /// mode: it then keeps nothing).
    index: Option<WalIndex>,
    /// The header read before its kept transaction began, if it keeps one.
    kept: Option<Header>,
    /// The header read before its last read.
    seen: Option<Header>,
}

impl ReadConn {
    /// The WAL index's header now, if it can be read.
    fn now(&self) -> Option<Header> {
        self.index.as_ref().and_then(WalIndex::header)
    }

    /// Ready to read: its kept transaction if nothing was committed since
    /// it began. Else a new one is kept if nothing was committed since this
    /// connection's last read either (under writes, keeping would only add
    /// a `BEGIN` and a `COMMIT` to every read) and the log is wholly
    /// checkpointed (the transaction then holds no place in it). Otherwise,
    /// or when the header cannot be read, the statement runs in a
    /// transaction of its own, as every read did before.
    fn begin(&mut self) -> rusqlite::Result<()> {
        let now = self.now();
        let seen = std::mem::replace(&mut self.seen, now);
        if self.kept.is_some() && self.kept != now {
            self.end()?;
        }
        if self.kept.is_none()
            && let Some(now) = now
            && seen == Some(now)
            && self.index.as_ref().is_some_and(|index| index.checkpointed(&now))
        {
            self.conn.prepare_cached("BEGIN")?.execute([])?;
            self.kept = Some(now);
        }
        Ok(())
    }

    /// Ends the kept transaction. On an error the connection is closed
    /// by its caller, never used again.
    fn end(&mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.kept = None;
        Ok(())
    }
}

impl SqliteReads {
    /// For a database on an SQLite file; `None` for anything else.
    pub(crate) fn of(db: &DatabaseConnection) -> Option<Self> {
        if db.get_database_backend() != DbBackend::Sqlite {
            return None;
        }
        let path = db.get_sqlite_connection_pool().connect_options().get_filename().to_path_buf();
        path.is_file().then(|| Self { path, idle: IdleReads::default() })
    }

    /// The SQLite file read.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Its idle connections, for the checkpoints.
    pub(crate) fn idle(&self) -> IdleReads {
        self.idle.clone()
    }

    fn open(path: &Path) -> rusqlite::Result<ReadConn> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "query_only", true)?;
        // Not a memory map: SQLite unmaps the whole file whenever a read
        // begins after another connection wrote (every read, while jobs
        // launch), and each unmap stops the other core to flush its TLB
        // (BENCHMARKS.md, issue 16). A larger page cache keeps what a read
        // benchmark's maps kept, where nothing writes.
        conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        conn.set_prepared_statement_cache_capacity(64);
        // A first read maps the WAL index, which `WalIndex::of` then finds.
        conn.query_row("PRAGMA schema_version", [], |_| Ok(()))?;
        let index = WalIndex::of(&conn);
        Ok(ReadConn { conn, index, kept: None, seen: None })
    }

    /// Runs `read` on an idle connection (or a new one).
    fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.idle.lock().pop();
        let mut conn = match conn {
            Some(conn) => conn,
            None => Self::open(&self.path).map_err(db_error)?,
        };
        // A connection whose read failed is closed, not given back: its
        // transaction ends with it.
        conn.begin().map_err(db_error)?;
        let out = read(&conn.conn).map_err(db_error)?;
        let mut idle = self.idle.lock();
        if idle.len() < IDLE {
            idle.push(conn);
        }
        Ok(out)
    }

    /// The executions `select` finds, as sea-orm's `select.all(db)` would
    /// give them.
    pub(crate) fn executions(
        &self,
        select: Select<job_execution::Entity>,
        extra: Extra,
    ) -> Result<Vec<job_execution::Model>> {
        let (sql, values) = statement(select)?;
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows =
                stmt.query_map(rusqlite::params_from_iter(values), |row| crate::execution_row::execution(row, extra))?;
            rows.collect()
        })
    }

    /// The rows `select` finds, of an entity whose model deserializes
    /// from its columns by name (`serde::Deserialize`, `type` renamed where
    /// the column is), as sea-orm's `select.all(db)` would give them: each
    /// value is read by its column's declared type, straight from the row
    /// (`sqlite_row`). For the lookups a request makes before it writes (a
    /// launch's template, cluster and binaries: four statements, a
    /// millisecond through sqlx). Not for blobs: they would be read as
    /// sequences of numbers.
    pub(crate) fn models<E>(&self, select: Select<E>) -> Result<Vec<E::Model>>
    where
        E: EntityTrait,
        E::Model: DeserializeOwned,
    {
        self.rows_as(select)
    }

    /// As [`Self::models`], into `M`: an entity's model with columns of
    /// joined tables beside it (read by name, as text or numbers: only `E`'s
    /// columns have declared types).
    pub(crate) fn rows_as<E, M>(&self, select: Select<E>) -> Result<Vec<M>>
    where
        E: EntityTrait,
        M: DeserializeOwned,
    {
        self.built_as::<E, M>(&select.build(DbBackend::Sqlite))
    }

    /// As [`Self::rows_as`], for a statement built elsewhere (a `WITH`
    /// query, which no `Select` makes): `E`'s columns are read by their
    /// declared types, so an aggregate named as the column it is of (`MIN(x)
    /// AS x`) is read as that column.
    pub(crate) fn built_as<E, M>(&self, statement: &sea_orm::Statement) -> Result<Vec<M>>
    where
        E: EntityTrait,
        M: DeserializeOwned,
    {
        let values = values_of(statement)?;
        let rows = self.with(|conn| {
            let mut stmt = conn.prepare_cached(&statement.sql)?;
            let columns: Vec<(String, Option<ColumnType>)> = stmt
                .column_names()
                .into_iter()
                .map(|name| {
                    let declared = E::Column::from_str(name).ok().map(|c| c.def().get_column_type().clone());
                    (name.to_string(), declared)
                })
                .collect();
            // A row that does not deserialize is its statement's failure,
            // named by its column (`sqlite_row`), not SQLite's.
            let rows = stmt.query_map(rusqlite::params_from_iter(values), |row| {
                Ok(M::deserialize(RowDeserializer { row, columns: &columns }))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(|row| row.map_err(db_error)).collect()
    }

    /// The execution `id`, if `scope` sees it: `api::find`, on every
    /// `GET /v2/jobs/{id}`.
    pub(crate) fn execution(&self, id: &str, scope: &Scope, extra: Extra) -> Result<Option<job_execution::Model>> {
        let read = |row: &Row<'_>| crate::execution_row::execution(row, extra);
        self.with(|conn| {
            let found = match scope.role {
                Role::Admin => conn.prepare_cached(&BY_ID[0])?.query_row([id], read),
                Role::Member => conn.prepare_cached(&BY_ID[1])?.query_row([id, scope.project_id.as_str()], read),
            };
            match found {
                Ok(row) => Ok(Some(row)),
                Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
}

/// The SQL sea-query builds for `select` on SQLite, and its bound values.
fn statement<E: EntityTrait>(select: Select<E>) -> Result<(String, Vec<SqlValue>)> {
    let statement = select.build(DbBackend::Sqlite);
    let values = values_of(&statement)?;
    Ok((statement.sql, values))
}

fn values_of(statement: &sea_orm::Statement) -> Result<Vec<SqlValue>> {
    match &statement.values {
        Some(values) => values.0.iter().map(bind).collect(),
        None => Ok(Vec::new()),
    }
}

/// A bound value, encoded as sqlx-sqlite encodes it.
pub(crate) fn bind(value: &Value) -> Result<SqlValue> {
    let unsupported = || Error::Internal(format!("no SQLite encoding for {value:?}"));
    Ok(match value {
        Value::Bool(v) => v.map_or(SqlValue::Null, |b| SqlValue::Integer(b.into())),
        Value::Int(v) => v.map_or(SqlValue::Null, |n| SqlValue::Integer(n.into())),
        Value::BigInt(v) => v.map_or(SqlValue::Null, SqlValue::Integer),
        Value::Unsigned(v) => v.map_or(SqlValue::Null, |n| SqlValue::Integer(n.into())),
        Value::BigUnsigned(v) => match v {
            None => SqlValue::Null,
            Some(n) => SqlValue::Integer(i64::try_from(*n).map_err(|_| unsupported())?),
        },
        Value::String(v) => v.clone().map_or(SqlValue::Null, SqlValue::Text),
        Value::Bytes(v) => v.clone().map_or(SqlValue::Null, SqlValue::Blob),
        Value::ChronoDateTimeUtc(v) => {
            v.map_or(SqlValue::Null, |t| SqlValue::Text(t.to_rfc3339_opts(SecondsFormat::AutoSi, false)))
        }
        // sqlx's `Json` encodes as compact text (`crate::sqlite_writes`
        // writes JSON columns).
        Value::Json(v) => v.as_ref().map_or(SqlValue::Null, |j| SqlValue::Text(j.to_string())),
        _ => return Err(unsupported()),
    })
}

fn db_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("database read failed: {e}"))
}

/// One execution by id: the model's columns, in `Column::iter()` order.
/// Written out once rather than built by sea-query on every call.
static BY_ID: LazyLock<[String; 2]> = LazyLock::new(|| {
    let columns: Vec<String> = job_execution::Column::iter().map(|c| format!("\"{}\"", c.as_str())).collect();
    let sql = format!("SELECT {} FROM \"job_executions\" WHERE \"id\" = ?1", columns.join(", "));
    // What `Scope::visible` asks for a member; sqlx stores `true` as 1.
    let member = format!("{sql} AND (\"project_id\" = ?2 OR \"is_public\" = 1)");
    [sql, member]
});

/// A row of `job_executions` is decoded by [`crate::execution_row`], each
/// type as sqlx-sqlite stores it (the unit test compares every field with
/// sea-orm's reading).
impl Columns for Row<'_> {
    type Error = rusqlite::Error;
    fn count(&self) -> usize {
        self.as_ref().column_count()
    }
    fn not_a_job_row(why: String) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH), Some(why))
    }
    fn text(&self, at: usize) -> rusqlite::Result<String> {
        self.get(at)
    }
    fn text_or_null(&self, at: usize) -> rusqlite::Result<Option<String>> {
        self.get(at)
    }
    fn int(&self, at: usize) -> rusqlite::Result<i32> {
        self.get(at)
    }
    fn int_or_null(&self, at: usize) -> rusqlite::Result<Option<i32>> {
        self.get(at)
    }
    fn flag(&self, at: usize) -> rusqlite::Result<bool> {
        self.get(at)
    }
    fn json(&self, at: usize) -> rusqlite::Result<serde_json::Value> {
        json(self, at)
    }
    fn shown_extra(&self, at: usize) -> rusqlite::Result<serde_json::Value> {
        json_with(self, at, ShownExtra::parse)
    }
    fn time(&self, at: usize) -> rusqlite::Result<DateTime<Utc>> {
        time(self, at)
    }
    fn time_or_null(&self, at: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        time_or_null(self, at)
    }
}

fn conversion(at: usize, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(at, rusqlite::types::Type::Text, e.into())
}

fn json(row: &Row<'_>, at: usize) -> rusqlite::Result<serde_json::Value> {
    json_with(row, at, |text| serde_json::from_slice(text))
}

/// A stored JSON column, read by `parse` (NULL as `null`).
fn json_with(
    row: &Row<'_>,
    at: usize,
    parse: impl FnOnce(&[u8]) -> serde_json::Result<serde_json::Value>,
) -> rusqlite::Result<serde_json::Value> {
    match row.get_ref(at)? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => parse(bytes).map_err(|e| conversion(at, e)),
        ValueRef::Null => Ok(serde_json::Value::Null),
        other => Err(conversion(at, format!("not JSON: {other:?}"))),
    }
}

fn time_or_null(row: &Row<'_>, at: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get_ref(at)? {
        ValueRef::Null => Ok(None),
        value => stored_time(value, at).map(Some),
    }
}

fn time(row: &Row<'_>, at: usize) -> rusqlite::Result<DateTime<Utc>> {
    stored_time(row.get_ref(at)?, at)
}

/// A stored time (column `at`'s `value`), read as sqlx-sqlite reads one:
/// RFC 3339 (what it writes), else SQLite's own text formats.
pub(crate) fn stored_time(value: ValueRef<'_>, at: usize) -> rusqlite::Result<DateTime<Utc>> {
    let text = match value {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(|e| conversion(at, e))?,
        other => return Err(conversion(at, format!("not a time: {other:?}"))),
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%F %T%.f%:z", "%F %T%.fZ", "%FT%T%.fZ", "%FT%T%.f%:z"] {
        if let Ok(t) = DateTime::<FixedOffset>::parse_from_str(text, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    for format in ["%F %T%.f", "%FT%T%.f", "%F %R", "%FT%R"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    Err(conversion(at, format!("not a time: {text}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::TimeZone;
    use edp_migrations::{Migrator, MigratorTrait};
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, Database, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    };
    use serde_json::json;

    use super::*;
    use crate::model::Execution;

    pub(crate) fn row(id: &str, project: &str, public: bool, created: DateTime<Utc>) -> job_execution::Model {
        job_execution::Model {
            id: id.into(),
            project_id: project.into(),
            job_template_id: "t".into(),
            cluster_id: "c".into(),
            input_id: None,
            output_id: Some("o".into()),
            engine: "local".into(),
            status: "RUNNING".into(),
            info: json!({"status": "RUNNING", "nested": {"a": [1, 2.5, null, "é"]}, "echo": "--conf pw=s3cret"}),
            engine_job_id: Some("42".into()),
            return_code: Some(-9),
            job_configs: json!({"configs": {"k": "v"}, "args": ["x"]}),
            interface: json!([]),
            data_source_urls: json!({}),
            extra: json!({"callback_token": "secret", "masked": ["s3cret"],
                "policy": {"max_attempts": 3, "retry_delay_secs": 5, "attempt": 2},
                "request": {"job_configs": {"configs": {"password": "s3cret"}}}, "submitted": {"x": [1, {"y": null}]}}),
            is_public: public,
            is_protected: true,
            start_time: Some(created),
            end_time: None,
            next_action_at: Some(created + chrono::Duration::microseconds(1)),
            attempts: 3,
            cancel_deadline: None,
            delete_requested: false,
            flow_id: None,
            lease_owner: None,
            lease_token: Some("lt".into()),
            lease_expires_at: None,
            node_id: Some("n".into()),
            host_bound: true,
            submitted: true,
            created_at: created,
            updated_at: created,
        }
    }

    /// A migrated database in `dir`, without foreign keys: the rows name
    /// no real template or cluster.
    pub(crate) async fn database(dir: &Path) -> DatabaseConnection {
        let url = format!("sqlite://{}?mode=rwc", dir.join("edp.sqlite").display());
        let mut options = sea_orm::ConnectOptions::new(url);
        options.map_sqlx_sqlite_opts(|o| {
            o.foreign_keys(false).journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
        });
        let db = Database::connect(options).await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        db
    }

    /// What these connections read is what sea-orm reads, row for row,
    /// visibility and order included (times with and without fractions).
    #[tokio::test]
    async fn reads_the_rows_sea_orm_reads() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let whole = Utc.with_ymd_and_hms(2026, 12, 6, 3, 0, 0).unwrap();
        let rows = [
            row("a", "p1", false, whole),
            row("b", "p2", true, whole + chrono::Duration::microseconds(123_456)),
            row("c", "p2", false, whole + chrono::Duration::milliseconds(500)),
        ];
        for r in &rows {
            r.clone().into_active_model().reset_all().insert(&db).await.unwrap();
        }
        let reads = SqliteReads::of(&db).expect("an SQLite file");
        for r in &rows {
            assert_eq!(reads.execution(&r.id, &Scope::admin("x"), Extra::Whole).unwrap().as_ref(), Some(r));
            // Read only to be shown, it shows the same.
            let shown = reads.execution(&r.id, &Scope::admin("x"), Extra::Shown).unwrap().unwrap();
            let view = |row: job_execution::Model| serde_json::to_value(Execution::from(row)).unwrap();
            let shown = view(shown);
            assert_eq!(shown, view(r.clone()));
            assert_eq!((&shown["info"]["echo"], &shown["info"]["attempt"]), (&json!("--conf pw=***"), &json!(2)));
        }
        let member = Scope::member("p1");
        assert!(reads.execution("a", &member, Extra::Whole).unwrap().is_some());
        assert!(reads.execution("b", &member, Extra::Shown).unwrap().is_some(), "public");
        assert!(reads.execution("c", &member, Extra::Whole).unwrap().is_none(), "another project's");
        assert!(reads.execution("zz", &Scope::admin("x"), Extra::Whole).unwrap().is_none());

        let select = job_execution::Entity::find()
            .filter(member.visible(job_execution::Column::ProjectId, job_execution::Column::IsPublic))
            .filter(job_execution::Column::CreatedAt.gt(whole))
            .filter(job_execution::Column::Status.is_in(["RUNNING", "FAILED"]))
            .order_by_desc(job_execution::Column::CreatedAt);
        assert_eq!(reads.executions(select.clone(), Extra::Whole).unwrap(), select.all(&db).await.unwrap());
        let all = job_execution::Entity::find().order_by_asc(job_execution::Column::CreatedAt);
        assert_eq!(reads.executions(all.clone(), Extra::Whole).unwrap(), rows.to_vec());
        // A statement of more columns is refused, though its first ones decode.
        let more = all.column_as(sea_orm::sea_query::Expr::val(1), "more");
        let columns = format!("{} columns", *crate::execution_row::COLUMN_COUNT + 1);
        assert!(matches!(reads.executions(more, Extra::Shown), Err(Error::Internal(e)) if e.contains(&columns)));
    }

    /// A database in `dir` holding one job, "a"; its reads; and a
    /// connection of its own to the file, which writes and checkpoints.
    async fn one_job(dir: &Path) -> (DatabaseConnection, SqliteReads, Connection) {
        let db = database(dir).await;
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        row("a", "p", false, at).into_active_model().reset_all().insert(&db).await.unwrap();
        let reads = SqliteReads::of(&db).expect("an SQLite file");
        let other = Connection::open(dir.join("edp.sqlite")).unwrap();
        (db, reads, other)
    }

    /// `(frames in the log, frames copied)` after a passive checkpoint.
    fn checkpoint(conn: &Connection) -> (i64, i64) {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?))).unwrap()
    }

    /// A connection keeps its read transaction between reads, yet every
    /// read sees every commit made before it: by sqlx's pool, by another
    /// connection, and by another process (Python's own SQLite).
    #[tokio::test]
    async fn every_read_sees_every_commit_before_it_whoever_made_it() {
        use sea_orm::ConnectionTrait;
        let dir = tempfile::tempdir().unwrap();
        let (db, reads, other) = one_job(dir.path()).await;
        let status = || reads.execution("a", &Scope::admin("x"), Extra::Shown).unwrap().expect("stored").status;
        // A transaction kept by the last read, begun before the commit.
        let kept = |expected: &str| {
            checkpoint(&other);
            assert_eq!(status(), expected);
            assert_eq!(status(), expected);
            assert!(reads.idle.lock().iter().any(|c| c.kept.is_some()), "no transaction kept between reads");
        };

        // A new connection has seen no header before its first read.
        status();
        kept("RUNNING");
        for round in 0..20 {
            let pool = format!("POOL{round}");
            db.execute_unprepared(&format!("UPDATE job_executions SET status = '{pool}'")).await.unwrap();
            assert_eq!(status(), pool);
            kept(&pool);
            let conn = format!("CONN{round}");
            other.execute("UPDATE job_executions SET status = ?1", [&conn]).unwrap();
            assert_eq!(status(), conn);
            kept(&conn);
        }
        let script = "import sqlite3, sys\n\
            c = sqlite3.connect(sys.argv[1], timeout=10)\n\
            c.execute(\"UPDATE job_executions SET status = 'PROCESS'\")\n\
            c.commit()\n";
        let file = dir.path().join("edp.sqlite");
        let ran = std::process::Command::new("python3").arg("-c").arg(script).arg(&file).status().unwrap();
        assert!(ran.success());
        assert_eq!(status(), "PROCESS");
    }

    /// A kept transaction never stops a checkpoint of what was committed
    /// before it, nor the log from being started over; one that something
    /// was committed after is ended before the next checkpoint.
    #[tokio::test]
    async fn kept_transactions_hold_the_log_back_only_until_the_next_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (_db, reads, other) = one_job(dir.path()).await;
        let read = || reads.execution("a", &Scope::admin("x"), Extra::Shown).unwrap();
        let wal = || std::fs::metadata(dir.path().join("edp.sqlite-wal")).unwrap().len();
        let start_the_log_over =
            || -> i64 { other.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).unwrap() };

        // While the log holds frames not copied, nothing is kept.
        read();
        read();
        assert!(reads.idle.lock().iter().all(|c| c.kept.is_none()));
        let (frames, copied) = checkpoint(&other);
        assert_eq!(frames, copied);
        read();
        read();
        assert!(reads.idle.lock().iter().any(|c| c.kept.is_some()));
        assert_eq!(start_the_log_over(), 0, "a kept transaction stopped the log from starting over");
        assert_eq!(wal(), 0);

        // Kept on a checkpointed log, then something is committed.
        read();
        other.execute("UPDATE job_executions SET status = 'X'", []).unwrap();
        read();
        assert_eq!(checkpoint(&other).0, checkpoint(&other).1);
        read();
        assert!(reads.idle.lock().iter().any(|c| c.kept.is_some()));
        other.execute("UPDATE job_executions SET status = 'Y'", []).unwrap();
        let (frames, copied) = checkpoint(&other);
        assert!(copied < frames, "the kept transaction is read from the file: not copied over ({copied}/{frames})");
        reads.idle().end_behind();
        assert!(reads.idle.lock().iter().all(|c| c.kept.is_none()));
        let (frames, copied) = checkpoint(&other);
        assert_eq!(frames, copied);
        assert_eq!(start_the_log_over(), 0);
        assert_eq!(wal(), 0);
    }

    /// A stored `extra` of `null` (no row is written so, but one could be)
    /// shows as the whole of it does.
    #[tokio::test]
    async fn a_null_extra_shows_as_the_whole_does() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 3, 0, 0).unwrap();
        let row = job_execution::Model { extra: serde_json::Value::Null, ..row("n", "p", false, at) };
        row.clone().into_active_model().reset_all().insert(&db).await.unwrap();
        let reads = SqliteReads::of(&db).expect("an SQLite file");
        let read = |extra| reads.execution("n", &Scope::admin("x"), extra).unwrap().expect("stored");
        assert_eq!(read(Extra::Whole), row);
        let view = |row: job_execution::Model| serde_json::to_value(Execution::from(row)).unwrap();
        assert_eq!(view(read(Extra::Shown)), view(row));
    }

    /// `models` reads what sea-orm reads, for every entity a launch looks
    /// up: renamed columns, booleans, JSON (and NULL JSON), optional
    /// numbers, times with and without fractions.
    #[tokio::test]
    async fn models_are_what_sea_orm_reads() {
        use crate::entity::{cluster, data_source, flow, job_binary, job_template, job_template_binary};
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 3, 0, 0).unwrap();
        let later = at + chrono::Duration::microseconds(123_456);
        for (i, (limit, projects)) in [(None, None), (Some(2), Some(json!(["p1", "p2"])))].into_iter().enumerate() {
            let row = cluster::Model {
                id: format!("c{i}"),
                project_id: "p".into(),
                name: format!("n{i}"),
                description: "d".into(),
                plugin_name: "local".into(),
                plugin_version: "1".into(),
                cluster_configs: json!({"k": "v", "n": [1, 2.5]}),
                status: "Active".into(),
                status_description: (i == 1).then(|| "why".into()),
                info: json!({}),
                declared: i == 0,
                placement: "host".into(),
                projects,
                max_concurrent_jobs: limit,
                is_public: i == 1,
                is_protected: false,
                created_at: at,
                updated_at: later,
            };
            row.into_active_model().reset_all().insert(&db).await.unwrap();
            let row = data_source::Model {
                id: format!("d{i}"),
                project_id: "p".into(),
                name: format!("n{i}"),
                description: String::new(),
                kind: "file".into(),
                url: "file:///x".into(),
                credentials: (i == 1).then(|| json!({"user": "u"})),
                is_public: false,
                is_protected: i == 0,
                created_at: later,
                updated_at: at,
            };
            row.into_active_model().reset_all().insert(&db).await.unwrap();
            let row = job_binary::Model {
                id: format!("b{i}"),
                project_id: "p".into(),
                name: format!("n{i}.sh"),
                description: String::new(),
                url: "internal-db://x".into(),
                extra: (i == 0).then(|| json!({"user": "u"})),
                is_public: true,
                is_protected: false,
                created_at: at,
                updated_at: at,
            };
            row.into_active_model().reset_all().insert(&db).await.unwrap();
            let row = job_template::Model {
                id: format!("t{i}"),
                project_id: "p".into(),
                name: format!("n{i}"),
                description: String::new(),
                kind: "Shell".into(),
                interface: json!([{"name": "x"}]),
                is_public: false,
                is_protected: false,
                created_at: at,
                updated_at: later,
            };
            row.into_active_model().reset_all().insert(&db).await.unwrap();
            let row = job_template_binary::Model {
                job_template_id: "t0".into(),
                role: "main".into(),
                position: i as i32,
                job_binary_id: format!("b{i}"),
            };
            row.into_active_model().reset_all().insert(&db).await.unwrap();
            // A flow, as a scheduler pass reads the running ones.
            let row = flow::Model {
                id: format!("f{i}"),
                project_id: "p".into(),
                name: format!("f{i}"),
                status: "RUNNING".into(),
                use_existing: i == 0,
                force: json!(["a"]),
                edges: json!([{"from": "a", "to": "b"}]),
                cancel_requested: i == 1,
                is_public: false,
                is_protected: i == 1,
                created_at: at,
                updated_at: later,
                end_time: (i == 1).then_some(later),
                lease_owner: (i == 1).then(|| "n1".into()),
                lease_expires_at: (i == 1).then_some(at),
            };
            row.into_active_model().reset_all().insert(&db).await.unwrap();
        }
        let reads = SqliteReads::of(&db).expect("an SQLite file");
        let flows = flow::Entity::find().filter(flow::Column::Status.eq("RUNNING"));
        assert_eq!(reads.models(flows.clone()).unwrap(), flows.all(&db).await.unwrap());
        assert_eq!(reads.models(flow::Entity::find()).unwrap().len(), 2);
        let visible = Scope::member("other");
        let clusters = cluster::Entity::find()
            .filter(visible.visible(cluster::Column::ProjectId, cluster::Column::IsPublic))
            .filter(cluster::Column::Id.is_in(["c0", "c1"]));
        assert_eq!(reads.models(clusters.clone()).unwrap(), clusters.all(&db).await.unwrap());
        assert_eq!(reads.models(cluster::Entity::find()).unwrap(), cluster::Entity::find().all(&db).await.unwrap());
        assert_eq!(reads.models(cluster::Entity::find()).unwrap().len(), 2);
        assert_eq!(
            reads.models(data_source::Entity::find()).unwrap(),
            data_source::Entity::find().all(&db).await.unwrap()
        );
        assert_eq!(
            reads.models(job_binary::Entity::find()).unwrap(),
            job_binary::Entity::find().all(&db).await.unwrap()
        );
        let templates = job_template::Entity::find().filter(job_template::Column::Kind.eq("Shell"));
        assert_eq!(reads.models(templates.clone()).unwrap(), templates.all(&db).await.unwrap());
        let links = job_template_binary::Entity::find().order_by_desc(job_template_binary::Column::Position);
        assert_eq!(reads.models(links.clone()).unwrap(), links.clone().all(&db).await.unwrap());
        assert_eq!(reads.models(links).unwrap().len(), 2);
        // A template's binaries joined to their links, as a launch reads
        // them: the links' order, a column of the joined table.
        let row = job_template_binary::Model {
            job_template_id: "t0".into(),
            role: "lib".into(),
            position: 0,
            job_binary_id: "b1".into(),
        };
        row.into_active_model().reset_all().insert(&db).await.unwrap();
        let linked = crate::catalog::job_templates::linked("t0");
        let read: Vec<crate::catalog::job_templates::Linked> = reads.rows_as(linked.clone()).unwrap();
        assert_eq!(read, linked.into_model().all(&db).await.unwrap());
        let role = |role: &str| -> Vec<&str> {
            read.iter().filter(|l| l.link_role == role).map(|l| l.binary.id.as_str()).collect()
        };
        assert_eq!((role("main"), role("lib")), (vec!["b0", "b1"], vec!["b1"]));

        // An internal binary's metadata, its bytes replaced by none (as
        // `job_binaries::find_internal_meta` selects it).
        use crate::entity::job_binary_internal::{self as internal, Column as C};
        let row = internal::Model {
            id: "i".into(),
            project_id: "p".into(),
            name: "x.sh".into(),
            datasize: 3,
            data: b"abc".to_vec(),
            is_public: false,
            is_protected: true,
            created_at: at,
            updated_at: later,
        };
        row.into_active_model().reset_all().insert(&db).await.unwrap();
        let meta = internal::Entity::find()
            .select_only()
            .columns([
                C::Id,
                C::ProjectId,
                C::Name,
                C::Datasize,
                C::IsPublic,
                C::IsProtected,
                C::CreatedAt,
                C::UpdatedAt,
            ])
            .expr_as(sea_orm::sea_query::Expr::val(Vec::<u8>::new()), "data");
        assert_eq!(reads.models(meta.clone()).unwrap(), meta.all(&db).await.unwrap());
    }
}
