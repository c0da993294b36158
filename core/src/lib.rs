//! edp's domain, independent of HTTP: the Sahara EDP objects
//! ([`catalog`]), executions and the job manager ([`manager`]), the engines
//! loaded from plugins ([`engines`]), persistence ([`db`]).

pub mod catalog;
pub mod db;
pub mod engines;
mod entity;
pub mod error;
pub mod events;
mod execution_row;
pub mod flows;
pub mod host;
pub mod idempotency;
mod interface;
mod job_types;
pub mod manager;
pub mod model;
pub mod observe;
pub mod paging;
mod pg_by_id;
mod pg_direct;
mod pg_rows;
mod reads;
pub mod redact;
pub mod retention;
pub mod scope;
pub mod settings;
mod sqlite_checkpoints;
mod sqlite_reads;
mod sqlite_row;
mod sqlite_writes;
pub mod status;
pub mod time;
mod validate;
mod wal_index;

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::mpsc::UnboundedSender;

pub use engines::Engines;
pub use error::{Error, Result};
pub use scope::{Role, Scope};
pub use settings::Settings;

/// The service's state, cheap to clone: the database, the engines, the
/// settings and the job manager's coordination.
#[derive(Clone)]
pub struct Edp(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    /// Where the job manager's single-statement writes go.
    writes: Writes,
    /// Where the API's reads go (executions, catalog lookups).
    reads: reads::Reads,
    /// The write-ahead log's checkpoints, on an SQLite file.
    _checkpoints: Option<sqlite_checkpoints::Checkpointer>,
    engines: Engines,
    settings: Settings,
    jobs: manager::State,
    hints: UnboundedSender<String>,
}

/// Where the job manager's single-statement writes go (`Edp::db_for`).
enum Writes {
    /// Connections of their own, one set each way of committing
    /// (`db::Commit`). Boxed: their connection options are large.
    Postgres { flushed: Box<pg_direct::PgDirect>, unflushed: Box<pg_direct::PgDirect> },
    /// A thread of their own, committing them in groups (SQLite has one
    /// way of committing).
    SqliteFile(sqlite_writes::SqliteWrites),
    /// sqlx's pool (an in-memory SQLite database, in tests).
    Pool,
}

impl Writes {
    fn of(db: &DatabaseConnection) -> Self {
        let flushed = pg_direct::PgDirect::of(db, pg_direct::Purpose::FlushedWrites);
        let unflushed = pg_direct::PgDirect::of(db, pg_direct::Purpose::UnflushedWrites);
        if let (Some(flushed), Some(unflushed)) = (flushed, unflushed) {
            Self::Postgres { flushed: Box::new(flushed), unflushed: Box::new(unflushed) }
        } else if let Some(writes) = sqlite_writes::SqliteWrites::of(db) {
            Self::SqliteFile(writes)
        } else {
            Self::Pool
        }
    }
}

impl Edp {
    /// `hints` is the sending half of the channel given to
    /// [`manager::spawn`]: an execution id sent there is polled at once.
    pub fn new(db: DatabaseConnection, engines: Engines, settings: Settings, hints: UnboundedSender<String>) -> Self {
        let reads = reads::Reads::of(&db);
        let _checkpoints = match &reads {
            reads::Reads::SqliteFile(reads) => {
                sqlite_checkpoints::Checkpointer::start(reads.path().to_path_buf(), reads.idle())
                    .inspect_err(|e| tracing::error!(error = %e, "cannot start checkpointing the database's log"))
                    .ok()
            }
            reads::Reads::Postgres { .. } | reads::Reads::Orm => None,
        };
        let writes = Writes::of(&db);
        Self(Arc::new(Inner {
            db,
            writes,
            reads,
            _checkpoints,
            engines,
            settings,
            jobs: manager::State::default(),
            hints,
        }))
    }

    /// Makes an execution due now: its engine said it changed.
    pub fn poke(&self, execution_id: &str) {
        // The receiver lives as long as the scheduler; after shutdown a
        // poke has nobody to tell.
        let _ = self.0.hints.send(execution_id.to_string());
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.0.db
    }

    /// Where a write committed `commit`'s way goes.
    /// Not inside a transaction: those stay on [`Self::db`].
    pub(crate) fn db_for(&self, commit: db::Commit) -> db::Conn<'_> {
        match (&self.0.writes, commit) {
            (Writes::Postgres { flushed, .. }, db::Commit::Flushed) => db::Conn::Direct(flushed),
            (Writes::Postgres { unflushed, .. }, db::Commit::Unflushed) => db::Conn::Direct(unflushed),
            (Writes::SqliteFile(writes), _) => db::Conn::SqliteWrites(writes, &self.0.db),
            (Writes::Pool, _) => db::Conn::Pool(&self.0.db),
        }
    }

    /// The writes' own Postgres connections, where they have them.
    pub(crate) fn direct_writes(&self) -> impl Iterator<Item = &pg_direct::PgDirect> {
        match &self.0.writes {
            Writes::Postgres { flushed, unflushed } => vec![&**flushed, &**unflushed],
            Writes::SqliteFile(_) | Writes::Pool => vec![],
        }
        .into_iter()
    }

    pub(crate) fn reads(&self) -> &reads::Reads {
        &self.0.reads
    }

    pub fn engines(&self) -> &Engines {
        &self.0.engines
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub(crate) fn jobs(&self) -> &manager::State {
        &self.0.jobs
    }
}
