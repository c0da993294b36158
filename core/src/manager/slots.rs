//! A cluster's `max_concurrent_jobs`: jobs over the limit wait PENDING, in
//! submission order, with `info.reason` saying so.
//!
//! The limit is enforced where launches are claimed, in the database, so it
//! holds across restarts and across every edpd on one database: a job
//! holds a slot from the claim of its launch (`submitted`) until it ends,
//! and a launch is claimed only into a free slot. On Postgres the count and
//! the claims of one cluster are one transaction that first locks the
//! cluster's row, so two nodes take turns and never both fill the last slot.
//! On SQLite only one edpd runs and its passes are sequential; launches are
//! never claimed anywhere else (`lease::claim_one` refuses them).

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    Set, Statement, TransactionTrait,
};
use serde_json::{Value, json};

use crate::Edp;
use crate::entity::{cluster, job_execution};
use crate::error::Result;
use crate::status::Status;
use crate::time;

use super::lease::{self, Claimed, Work};
use super::rows;

/// Claims a cluster's due cancels and launches, at most `limit` (its free
/// engine-call slots), and no more launches than its job limit has room
/// for; marks the launches left waiting.
pub(crate) async fn claim_actions(edp: &Edp, cluster_id: &str, limit: u64) -> Result<Vec<Claimed>> {
    let Some((name, max)) = limit_of(edp, cluster_id).await? else {
        return lease::claim_due(edp, cluster_id, Work::Actions, limit).await;
    };
    let (running, launches, mut claimed) = if edp.db().get_database_backend() == DatabaseBackend::Postgres {
        let txn = edp.db().begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT id FROM clusters WHERE id = $1 FOR UPDATE",
            [cluster_id.into()],
        ))
        .await?;
        let claimed = claim_within(&txn, edp, cluster_id, max, limit).await?;
        txn.commit().await?;
        claimed
    } else {
        // SQLite: one edpd, passes in turn; a transaction that reads and then
        // writes could only fail against the API's concurrent inserts.
        claim_within(edp.db(), edp, cluster_id, max, limit).await?
    };
    let now_running = running + launches.len() as u64;
    claimed.extend(launches);
    mark_waiting(edp, cluster_id, &name, now_running).await?;
    Ok(claimed)
}

/// Counts the slots held, then claims cancels and as many launches as fit.
async fn claim_within(
    db: &impl ConnectionTrait,
    edp: &Edp,
    cluster_id: &str,
    max: i32,
    limit: u64,
) -> Result<(u64, Vec<Claimed>, Vec<Claimed>)> {
    let running = occupied(db, cluster_id).await?;
    let cancels = lease::claim_due_on(db, edp, cluster_id, Work::Cancels, limit).await?;
    let room = (max as u64).saturating_sub(running).min(limit.saturating_sub(cancels.len() as u64));
    let launches = lease::claim_due_on(db, edp, cluster_id, Work::Launches, room).await?;
    Ok((running, launches, cancels))
}

/// The cluster's name and job limit, if it has one.
async fn limit_of(edp: &Edp, cluster_id: &str) -> Result<Option<(String, i32)>> {
    let row: Option<(String, Option<i32>)> = cluster::Entity::find_by_id(cluster_id)
        .select_only()
        .column(cluster::Column::Name)
        .column(cluster::Column::MaxConcurrentJobs)
        .into_tuple()
        .one(edp.db())
        .await?;
    Ok(row.and_then(|(name, max)| max.map(|m| (name, m))))
}

/// Jobs holding a slot: a launch was begun and they have not ended.
async fn occupied(db: &impl ConnectionTrait, cluster_id: &str) -> Result<u64> {
    use job_execution::Column as C;
    Ok(job_execution::Entity::find()
        .filter(C::ClusterId.eq(cluster_id))
        .filter(C::Submitted.eq(true))
        .filter(C::Status.is_in(Status::ACTIVE.map(Status::as_str)))
        .count(db)
        .await?)
}

/// Sets `info.reason` on the due launches still waiting, where it says
/// something else; only unclaimed, unlaunched rows are written.
async fn mark_waiting(edp: &Edp, cluster_id: &str, name: &str, running: u64) -> Result<()> {
    use job_execution::Column as C;
    let now = time::now();
    let reason = format!("waiting for a slot on cluster {name} ({running} running)");
    let waiting = Condition::all()
        .add(C::ClusterId.eq(cluster_id))
        .add(C::Status.eq(Status::Pending.as_str()))
        .add(C::Submitted.eq(false))
        .add(C::NextActionAt.lte(now))
        .add(C::LeaseOwner.is_null());
    let rows: Vec<(String, Value)> = job_execution::Entity::find()
        .select_only()
        .column(C::Id)
        .column(C::Info)
        .filter(waiting.clone())
        .limit(500)
        .into_tuple()
        .all(edp.db())
        .await?;
    let stale: Vec<String> = rows
        .into_iter()
        .filter(|(_, info)| info.get("reason").and_then(Value::as_str) != Some(reason.as_str()))
        .map(|(id, _)| id)
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    let mut changes = rows::blank();
    changes.info = Set(json!({"status": Status::Pending.as_str(), "reason": reason}));
    job_execution::Entity::update_many().set(changes).filter(C::Id.is_in(stale)).filter(waiting).exec(edp.db()).await?;
    Ok(())
}
