//! Deletions as events. A deleted row takes its `updated_at` with it, so
//! each deletion of a job or a flow leaves a row in `deletions`, written in
//! the transaction that deletes, and the stream finds deletions by
//! `deleted_at` as it finds changes by `updated_at`.
//!
//! - Every deletion of a job execution or a flow goes through [`delete_job`]
//!   or [`delete_flow`]: a DELETE, a cancel-then-delete, a retention purge.
//! - A deletion is kept [`KEEP`]; each deletion forgets the ones older than
//!   that, so the table holds about an hour of deletions and needs no task
//!   of its own. One more row, of kind [`FORGOTTEN`], holds the time of
//!   the newest deletion forgotten: a replay from before it is a `reset`,
//!   since deletions it would need are gone. A replay from earlier still,
//!   with nothing forgotten since, is whole: a dashboard idle for hours
//!   resumes without reloading.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DeleteMany, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::Kind;
use crate::Edp;
use crate::entity::{deletion, flow, job_execution};
use crate::error::Result;
use crate::scope::Scope;
use crate::time;

/// How long a deletion is kept for replays.
pub const KEEP: Duration = Duration::from_secs(3_600);

/// The kind of the one row that says until when deletions were forgotten.
const FORGOTTEN: &str = "forgotten";

/// Deletes the job's row, if it is still there, and records the deletion.
/// Returns whether this call deleted it.
pub(crate) async fn delete_job(edp: &Edp, row: &job_execution::Model) -> Result<bool> {
    let delete = job_execution::Entity::delete_many().filter(job_execution::Column::Id.eq(row.id.as_str()));
    delete_recorded(
        edp,
        Deleted { kind: Kind::Job, id: &row.id, project_id: &row.project_id, is_public: row.is_public },
        delete,
    )
    .await
}

/// What a flow's deletion needs of its row (a purge reads no more).
pub(crate) struct FlowOwner {
    pub id: String,
    pub project_id: String,
    pub is_public: bool,
}

impl FlowOwner {
    /// The columns, in order, a purge reads into one.
    pub(crate) const COLUMNS: [flow::Column; 3] = [flow::Column::Id, flow::Column::ProjectId, flow::Column::IsPublic];
}

impl From<&flow::Model> for FlowOwner {
    fn from(row: &flow::Model) -> Self {
        Self { id: row.id.clone(), project_id: row.project_id.clone(), is_public: row.is_public }
    }
}

/// Deletes the flow's row if it is still there and not running, and records
/// the deletion. Returns whether this call deleted it.
pub(crate) async fn delete_flow(edp: &Edp, flow: &FlowOwner) -> Result<bool> {
    let delete = flow::Entity::delete_many()
        .filter(flow::Column::Id.eq(flow.id.as_str()))
        .filter(flow::Column::Status.ne(crate::flows::FlowStatus::Running.as_str()));
    delete_recorded(
        edp,
        Deleted { kind: Kind::Flow, id: &flow.id, project_id: &flow.project_id, is_public: flow.is_public },
        delete,
    )
    .await
}

/// What a deletion record says of the object.
struct Deleted<'a> {
    kind: Kind,
    id: &'a str,
    project_id: &'a str,
    is_public: bool,
}

/// `delete`, and the record of it when it deleted a row, in one transaction.
async fn delete_recorded<E: EntityTrait>(edp: &Edp, deleted: Deleted<'_>, delete: DeleteMany<E>) -> Result<bool> {
    let now = time::now();
    let txn = edp.db().begin().await?;
    if delete.exec(&txn).await?.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(false);
    }
    let record = deletion::ActiveModel {
        kind: Set(deleted.kind.as_str().to_string()),
        object_id: Set(deleted.id.to_string()),
        project_id: Set(deleted.project_id.to_string()),
        is_public: Set(deleted.is_public),
        deleted_at: Set(now),
    };
    deletion::Entity::insert(record)
        .on_conflict(
            OnConflict::columns([deletion::Column::Kind, deletion::Column::ObjectId])
                .update_columns([deletion::Column::ProjectId, deletion::Column::IsPublic, deletion::Column::DeletedAt])
                .to_owned(),
        )
        .exec(&txn)
        .await?;
    forget_expired(&txn, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Forgets the deletions older than [`KEEP`], saying until when.
async fn forget_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<()> {
    let cutoff = now - chrono::Duration::from_std(KEEP).unwrap_or_default();
    let expired = deletion::Entity::find().filter(deletion::Column::DeletedAt.lt(cutoff)).filter(kept());
    let Some(newest) = super::newest(expired, deletion::Column::DeletedAt, db).await? else { return Ok(()) };
    let mark = deletion::ActiveModel {
        kind: Set(FORGOTTEN.to_string()),
        object_id: Set(String::new()),
        project_id: Set(String::new()),
        is_public: Set(false),
        deleted_at: Set(newest),
    };
    deletion::Entity::insert(mark)
        .on_conflict(
            OnConflict::columns([deletion::Column::Kind, deletion::Column::ObjectId])
                .update_column(deletion::Column::DeletedAt)
                .to_owned(),
        )
        .exec(db)
        .await?;
    deletion::Entity::delete_many().filter(deletion::Column::DeletedAt.lte(newest)).filter(kept()).exec(db).await?;
    Ok(())
}

/// The rows that are deletions, not the [`FORGOTTEN`] mark.
fn kept() -> sea_orm::sea_query::SimpleExpr {
    deletion::Column::Kind.ne(FORGOTTEN)
}

/// Whether a replay from `since` may miss deletions already forgotten.
pub(super) async fn forgotten_since(db: &impl ConnectionTrait, since: DateTime<Utc>) -> Result<bool> {
    let mark = crate::db::by_key(deletion::Entity::find_by_id((FORGOTTEN.to_string(), String::new())), db).await?;
    Ok(mark.is_some_and(|mark| since <= mark.deleted_at))
}

/// The deletions made at or after `since`, that `scope` may see (all of
/// them for `None`), oldest first, at most `limit`.
pub(super) async fn since(
    db: &impl ConnectionTrait,
    since: DateTime<Utc>,
    scope: Option<&Scope>,
    limit: Option<u64>,
) -> Result<Vec<deletion::Model>> {
    let mut select = deletion::Entity::find()
        .filter(deletion::Column::DeletedAt.gte(since))
        .filter(kept())
        .order_by_asc(deletion::Column::DeletedAt);
    if let Some(scope) = scope {
        select = select.filter(scope.visible(deletion::Column::ProjectId, deletion::Column::IsPublic));
    }
    Ok(select.limit(limit).all(db).await?)
}

/// The newest deletion's time.
pub(super) async fn latest(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>> {
    super::newest(deletion::Entity::find().filter(kept()), deletion::Column::DeletedAt, db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn record(db: &impl ConnectionTrait, kind: &str, id: &str, deleted_at: DateTime<Utc>) {
        let row = deletion::ActiveModel {
            kind: Set(kind.into()),
            object_id: Set(id.into()),
            project_id: Set("p".into()),
            is_public: Set(false),
            deleted_at: Set(deleted_at),
        };
        deletion::Entity::insert(row).exec(db).await.expect("insert");
    }

    #[tokio::test]
    async fn expired_deletions_are_forgotten_and_replays_from_before_them_are_told() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("edp.sqlite").display()))
            .await
            .unwrap();
        let now = time::now();
        let keep = chrono::Duration::from_std(KEEP).unwrap();
        let second = chrono::Duration::seconds(1);
        let long_ago = now - keep * 3;
        record(&db, "job", "old", now - keep * 2).await;
        record(&db, "flow", "expired", now - keep - second).await;
        record(&db, "job", "recent", now - second).await;
        assert!(!forgotten_since(&db, long_ago).await.unwrap(), "nothing forgotten: any replay is whole");

        forget_expired(&db, now).await.unwrap();
        let left: Vec<String> =
            since(&db, long_ago, None, None).await.unwrap().into_iter().map(|d| d.object_id).collect();
        assert_eq!(left, ["recent"]);
        assert_eq!(latest(&db).await.unwrap(), Some(now - second));
        assert!(forgotten_since(&db, long_ago).await.unwrap());
        assert!(forgotten_since(&db, now - keep - second).await.unwrap(), "the newest forgotten is forgotten");
        let after = now - keep - second + chrono::Duration::microseconds(1);
        assert!(!forgotten_since(&db, after).await.unwrap());

        // Nothing more to forget: the mark stays where it was.
        forget_expired(&db, now + second).await.unwrap();
        assert!(!forgotten_since(&db, after).await.unwrap());
        assert_eq!(since(&db, long_ago, None, None).await.unwrap().len(), 1);
    }
}
