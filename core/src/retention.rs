//! Retention: finished jobs and flows older than `[retention]
//! finished_jobs_days` are purged in the background, in small batches, so
//! the database and the engines' work directories do not grow without
//! bound.
//!
//! A job is purged as a DELETE would: under its lease (a node claims it,
//! so no step runs on it meanwhile and two nodes never purge one row), by
//! the node that may work on it (a host-bound job's files are on its own
//! node), the engine's `delete_job` freeing its files (every attempt's).
//! Flows go first; a job of a flow goes only once its flow is gone, so a
//! flow never shows a job that no longer exists.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::task::JoinHandle;

use crate::Edp;
use crate::entity::{flow, job_execution};
use crate::error::Result;
use crate::status::Status;

/// `[retention]`.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// How long after its end a finished job or flow is kept; `None`: for ever.
    pub keep: Option<Duration>,
    pub interval: Duration,
    pub batch: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self { keep: Some(Duration::from_secs(90 * 86_400)), interval: Duration::from_secs(600), batch: 100 }
    }
}

/// What one purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub jobs: u64,
    pub flows: u64,
}

/// Starts the background purge (nothing when everything is kept).
pub fn spawn(edp: Edp) -> Option<JoinHandle<()>> {
    let settings = edp.settings().retention;
    settings.keep?;
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(settings.interval).await;
            match purge(&edp).await {
                Ok(p) if p != Purged::default() => {
                    tracing::info!(jobs = p.jobs, flows = p.flows, "purged finished jobs and flows past retention")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "retention purge failed; will try again"),
            }
        }
    }))
}

/// Purges, batch by batch, what ended before the retention's cut-off.
pub async fn purge(edp: &Edp) -> Result<Purged> {
    crate::idempotency::purge_expired(edp).await?;
    let Some(keep) = edp.settings().retention.keep else { return Ok(Purged::default()) };
    let cutoff = crate::time::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(36_500));
    let mut purged = Purged::default();
    loop {
        let flows = purge_flows(edp, cutoff).await?;
        let jobs = purge_jobs(edp, cutoff).await?;
        purged.flows += flows;
        purged.jobs += jobs;
        if flows == 0 && jobs == 0 {
            return Ok(purged);
        }
        // Batches leave room for the scheduler's statements.
        tokio::task::yield_now().await;
    }
}

async fn purge_flows(edp: &Edp, cutoff: DateTime<Utc>) -> Result<u64> {
    use crate::events::deletions::{FlowOwner, delete_flow};
    let running = crate::flows::FlowStatus::Running.as_str();
    let rows: Vec<(String, String, bool)> = flow::Entity::find()
        .select_only()
        .columns(FlowOwner::COLUMNS)
        .filter(flow::Column::Status.ne(running))
        .filter(flow::Column::EndTime.lt(cutoff))
        .order_by_asc(flow::Column::EndTime)
        .limit(edp.settings().retention.batch)
        .into_tuple()
        .all(edp.db())
        .await?;
    let mut purged = 0;
    for (id, project_id, is_public) in rows {
        // Conditional again (`delete_flow` keeps a running flow): a flow is
        // never re-opened, but stay exact.
        if delete_flow(edp, &FlowOwner { id, project_id, is_public }).await? {
            purged += 1;
        }
    }
    Ok(purged)
}

async fn purge_jobs(edp: &Edp, cutoff: DateTime<Utc>) -> Result<u64> {
    use job_execution::Column as C;
    let finished: Vec<&str> = Status::ALL.into_iter().filter(|s| s.is_terminal()).map(Status::as_str).collect();
    let flow_gone = Condition::any()
        .add(C::FlowId.is_null())
        .add(C::FlowId.not_in_subquery(Query::select().column(flow::Column::Id).from(flow::Entity).to_owned()));
    let ids: Vec<String> = job_execution::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::Status.is_in(finished))
        .filter(C::EndTime.lt(cutoff))
        .filter(C::NextActionAt.is_null())
        .filter(flow_gone)
        .filter(Condition::any().add(C::HostBound.eq(false)).add(C::NodeId.eq(edp.settings().node_id.as_str())))
        .filter(Condition::any().add(C::LeaseOwner.is_null()).add(C::LeaseExpiresAt.lt(crate::time::now())))
        .order_by_asc(C::EndTime)
        .limit(edp.settings().retention.batch)
        .into_tuple()
        .all(edp.db())
        .await?;
    let mut purged = 0;
    for id in ids {
        if crate::manager::purge(edp, &id).await? {
            purged += 1;
        }
    }
    Ok(purged)
}
