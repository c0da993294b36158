//! Where the API's reads go: job executions (every GET, list page and
//! `find`, and a hinted job's row), the catalog's lookups
//! (`catalog::find`, a template's binaries), and a scheduler pass's
//! (due clusters, the next due time, a cluster's limit, running flows).
//!
//! - On an SQLite file, [`crate::sqlite_reads`]: rusqlite connections on
//!   the calling thread, without sqlx's thread hand-offs.
//! - On Postgres, [`crate::pg_direct`]: sqlx connections outside sqlx's
//!   pool, without its round trip as each connection goes back. A job read
//!   by id is batched with those beside it ([`crate::pg_by_id`]); job rows
//!   are decoded by position ([`crate::pg_rows`]).
//! - Otherwise (an in-memory SQLite database, in tests), sea-orm.
//!
//! Each gives what sea-orm's `select.all(db)` on `Edp::db` would, at that
//! moment: the reads see every commit made before they began. Writes,
//! and reads inside a transaction, stay on sea-orm.
//!
//! sea-orm's futures are boxed: they are kilobytes, and every SQLite
//! read's future (and its request's, which holds it) would otherwise be
//! as large.

use std::sync::Arc;

use sea_orm::{
    DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryTrait as _, Select,
};
use serde::de::DeserializeOwned;

use crate::Edp;
use crate::db::Conn;
use crate::entity::job_execution;
use crate::error::Result;
use crate::pg_by_id::ByIdReads;
use crate::pg_direct::{PgDirect, Purpose};
use crate::scope::Scope;
use crate::sqlite_reads::SqliteReads;

/// How much of a row's `extra` a read builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extra {
    /// All of it: for rows the caller acts on.
    Whole,
    /// Only what showing the row reads ([`crate::model::ShownExtra`]): for
    /// rows turned straight into [`crate::model::Execution`]s, never acted
    /// on. On an SQLite file and on Postgres; sea-orm reads the whole.
    Shown,
}

/// The read path of a database.
pub(crate) enum Reads {
    SqliteFile(SqliteReads),
    Postgres { direct: Arc<PgDirect>, by_id: ByIdReads },
    Orm,
}

impl Reads {
    pub(crate) fn of(db: &DatabaseConnection) -> Self {
        if let Some(reads) = SqliteReads::of(db) {
            Self::SqliteFile(reads)
        } else if let Some(reads) = PgDirect::of(db, Purpose::Reads) {
            let direct = Arc::new(reads);
            Self::Postgres { by_id: ByIdReads::new(direct.clone()), direct }
        } else {
            Self::Orm
        }
    }

    /// Where sea-orm reads (all but an SQLite file): the reads' own
    /// connections on Postgres, else `db`, edpd's pool.
    fn orm<'a>(&'a self, db: &'a DatabaseConnection) -> Conn<'a> {
        match self {
            Self::Postgres { direct, .. } => Conn::Direct(direct),
            Self::SqliteFile(_) | Self::Orm => Conn::Pool(db),
        }
    }
}

/// `select.all(db)` on `edp`'s database.
pub(crate) async fn all<E>(edp: &Edp, select: Select<E>) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: DeserializeOwned,
{
    match edp.reads() {
        Reads::SqliteFile(reads) => reads.models(select),
        orm => Ok(Box::pin(select.all(&orm.orm(edp.db()))).await?),
    }
}

/// `select.into_model::<M>().all(db)` on `edp`'s database.
pub(crate) async fn all_as<E, M>(edp: &Edp, select: Select<E>) -> Result<Vec<M>>
where
    E: EntityTrait,
    M: DeserializeOwned + FromQueryResult + Send + Sync,
{
    match edp.reads() {
        Reads::SqliteFile(reads) => reads.rows_as(select),
        orm => Ok(Box::pin(select.into_model::<M>().all(&orm.orm(edp.db()))).await?),
    }
}

/// The first row `select` gives into `M`, if any: for a statement that
/// gives one row anyway (an aggregate, a lookup by key), without `one`'s
/// bound `LIMIT ?`, which SQLite planned again at every execution (as
/// [`crate::db::single`]).
pub(crate) async fn first_as<E, M>(edp: &Edp, select: Select<E>) -> Result<Option<M>>
where
    E: EntityTrait,
    M: DeserializeOwned + FromQueryResult + Send + Sync,
{
    Ok(all_as(edp, select).await?.into_iter().next())
}

/// The rows of a query no `Select` makes (a `WITH` query), into `M`, its
/// columns named as `E`'s (see [`SqliteReads::built_as`]).
pub(crate) async fn query_as<E, M>(edp: &Edp, query: &impl sea_orm::StatementBuilder) -> Result<Vec<M>>
where
    E: EntityTrait,
    M: DeserializeOwned + FromQueryResult + Send + Sync,
{
    match edp.reads() {
        Reads::SqliteFile(reads) => reads.built_as::<E, M>(&DbBackend::Sqlite.build(query)),
        orm => {
            let conn = orm.orm(edp.db());
            let statement = sea_orm::ConnectionTrait::get_database_backend(&conn).build(query);
            Ok(Box::pin(M::find_by_statement(statement).all(&conn)).await?)
        }
    }
}

/// The row a query selects by its primary key, if any: [`all`]'s first
/// (as [`crate::db::by_key`], without a bound `LIMIT`).
pub(crate) async fn by_key<E>(edp: &Edp, select: Select<E>) -> Result<Option<E::Model>>
where
    E: EntityTrait,
    E::Model: DeserializeOwned,
{
    Ok(all(edp, select).await?.into_iter().next())
}

/// The execution `id`, if `scope` sees it.
pub(crate) async fn execution(
    edp: &Edp,
    id: &str,
    scope: &Scope,
    extra: Extra,
) -> Result<Option<job_execution::Model>> {
    match edp.reads() {
        Reads::SqliteFile(reads) => reads.execution(id, scope, extra),
        Reads::Postgres { by_id, .. } => {
            Ok(by_id.execution(id, extra).await?.filter(|row| scope.sees(&row.project_id, row.is_public)))
        }
        orm => {
            let select = job_execution::Entity::find_by_id(id)
                .filter(scope.visible(job_execution::Column::ProjectId, job_execution::Column::IsPublic));
            Box::pin(crate::db::by_key(select, &orm.orm(edp.db()))).await
        }
    }
}

/// Pages of executions, as `extra` says.
pub(crate) struct Executions<'a>(pub(crate) &'a Edp, pub(crate) Extra);

impl crate::paging::Rows<job_execution::Entity> for Executions<'_> {
    async fn all(&self, select: Select<job_execution::Entity>) -> Result<Vec<job_execution::Model>> {
        match self.0.reads() {
            Reads::SqliteFile(reads) => reads.executions(select, self.1),
            Reads::Postgres { direct, .. } => {
                let rows = direct.rows(&select.build(DbBackend::Postgres)).await?;
                Ok(rows.iter().map(|row| crate::pg_rows::execution(row, self.1)).collect::<Result<_, DbErr>>()?)
            }
            orm => Ok(Box::pin(select.all(&orm.orm(self.0.db()))).await?),
        }
    }
}
