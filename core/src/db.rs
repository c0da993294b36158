//! Connecting to the database and bringing its schema up to date.

use std::time::Duration;

use edp_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::error::Result;

/// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and runs
/// every pending migration. An SQLite file is created on first use.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(if url.starts_with("sqlite") { 8 } else { 16 });
    // WAL with synchronous=NORMAL: ~2.5x the commits of FULL, and a crash
    // can lose at most the last transactions, never corrupt the file.
    options.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .create_if_missing(true)
    });
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
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
    Ok(select.all(db).await?.into_iter().next())
}
