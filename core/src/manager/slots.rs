//! A cluster's `max_concurrent_jobs` and `[auth] max_concurrent_jobs_per_project`:
//! jobs over a limit wait PENDING, in submission order, with `info.reason`
//! saying so.
//!
//! The limit is enforced where launches are claimed, in the database, so it
//! holds across restarts and across every edpd on one database: a job
//! holds a slot from the claim of its launch (`submitted`) until it ends,
//! and a launch is claimed only into a free slot. On Postgres the count and
//! the claims of one cluster are one transaction that first locks the
//! cluster's row (all claims under limits take one lock when projects are
//! limited, since a project's jobs span clusters), so two nodes take turns
//! and never both fill the last slot.
//! On SQLite only one edpd runs and its passes are sequential; launches are
//! never claimed anywhere else (`lease::claim_one` refuses them).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    QueryTrait, Statement, TransactionTrait,
};
use serde_json::{Value, json};

use crate::Edp;
use crate::entity::{cluster, job_execution};
use crate::error::Result;
use crate::status::Status;
use crate::time;

use super::lease::{self, Claimed, Work};

/// What a cluster's claims took, and whether they may have left due rows
/// behind (for want of slots or under a limit): a backlog, which a freed
/// slot should wake a pass for.
pub(crate) struct Claims {
    pub claimed: Vec<Claimed>,
    pub left_due: bool,
}

/// When this node last told a cluster's queue why it waits, and what.
/// Telling reads the queue's head (up to [`LOOKAHEAD`] rows), which was
/// most of a pass's work where a limited cluster's jobs end quickly (a pass
/// for each): the same reason is told again at most once a second, which
/// is how soon a job queued meanwhile is told it.
#[derive(Default)]
pub(crate) struct Telling(Mutex<Option<(String, Instant)>>);

/// How often the queue's head is told the same reason again.
const TELL_AGAIN: Duration = Duration::from_secs(1);

impl Telling {
    /// Whether to tell `reason` now (and so noted).
    fn now(&self, reason: &str) -> bool {
        let mut last = self.0.lock().expect("telling");
        let again = last.as_ref().is_none_or(|(told, at)| told != reason || at.elapsed() >= TELL_AGAIN);
        if again {
            *last = Some((reason.to_string(), Instant::now()));
        }
        again
    }
}

/// Claims a cluster's due cancels and launches, at most `limit` (its free
/// engine-call slots), and no more launches than its job limit and their
/// projects' limit have room for; marks the launches left waiting.
pub(crate) async fn claim_actions(edp: &Edp, cluster_id: &str, limit: u64, telling: &Telling) -> Result<Claims> {
    let cluster = limit_of(edp, cluster_id).await?;
    let per_project = edp.settings().project_job_limit;
    if cluster.as_ref().is_none_or(|(_, max)| max.is_none()) && per_project.is_none() {
        let claimed = lease::claim_cancels_then_launches(edp, cluster_id, limit).await?;
        let left_due = lease::took_all(claimed.len(), limit);
        return Ok(Claims { claimed, left_due });
    }
    let name = cluster.as_ref().map_or_else(|| cluster_id.to_string(), |(name, _)| name.clone());
    let limits = Limits { cluster: cluster.and_then(|(_, max)| max), per_project, name };
    let (claims, waiting) = if edp.db().get_database_backend() == DatabaseBackend::Postgres {
        let txn = edp.db().begin().await?;
        // Claims under a limit take turns across nodes: per cluster, or all
        // at once when projects are limited across clusters.
        let lock = if limits.per_project.is_some() {
            Statement::from_string(DatabaseBackend::Postgres, "SELECT pg_advisory_xact_lock(4242006)")
        } else {
            Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT id FROM clusters WHERE id = $1 FOR UPDATE",
                [cluster_id.into()],
            )
        };
        txn.execute_raw(lock).await?;
        let claimed = claim_within(&txn, edp, cluster_id, &limits, limit).await?;
        txn.commit().await?;
        claimed
    } else {
        // SQLite: one edpd, passes in turn; a transaction that reads and then
        // writes could only fail against the API's concurrent inserts.
        claim_within(&edp.db_for(crate::db::Commit::Flushed), edp, cluster_id, &limits, limit).await?
    };
    mark_waiting(edp, waiting, telling).await?;
    Ok(claims)
}

struct Limits {
    /// The cluster's name, for reasons.
    name: String,
    cluster: Option<i32>,
    per_project: Option<u32>,
}

/// The due launches a pass left waiting, and why.
enum Waiting {
    /// None: it took fewer than it had room for.
    Nobody,
    /// A cluster's queue (no project limit): its head, after the launches
    /// claimed, all for one reason.
    Queue { cluster_id: String, reason: String },
    /// Launches read one by one (projects limited), each with its reason.
    Each(Vec<Told>),
}

/// A due launch left waiting, and why.
struct Told {
    id: String,
    info: Value,
    reason: String,
}

/// How many due launches are looked at per pass beyond the free slots: to
/// pick past projects at their limit, and to tell those waiting why.
const LOOKAHEAD: u64 = 500;

/// Counts the slots held, then claims cancels and the launches that fit,
/// in queue order.
async fn claim_within(
    db: &impl lease::ClaimOn,
    edp: &Edp,
    cluster_id: &str,
    limits: &Limits,
    limit: u64,
) -> Result<(Claims, Waiting)> {
    use job_execution::Column as C;
    let mut claimed = lease::claim_due_on(db, edp, cluster_id, Work::Cancels, limit).await?;
    let cancels_left = lease::took_all(claimed.len(), limit);
    let running = occupied(db, Condition::all().add(C::ClusterId.eq(cluster_id))).await?;
    let mut room = limit.saturating_sub(claimed.len() as u64);
    if let Some(max) = limits.cluster {
        room = Ord::min(room, (max as u64).saturating_sub(running));
    }
    if limits.per_project.is_none() {
        // The queue's head, in the order of its index: the claim reads the
        // rows it takes, not the queue behind them.
        let launches = lease::claim_due_on(db, edp, cluster_id, Work::Launches, room).await?;
        let queued = lease::took_all(launches.len(), room);
        let total = running + launches.len() as u64;
        claimed.extend(launches);
        let reason = format!("waiting for a slot on cluster {} ({total} running)", limits.name);
        let waiting =
            if queued { Waiting::Queue { cluster_id: cluster_id.to_string(), reason } } else { Waiting::Nobody };
        return Ok((Claims { claimed, left_due: cancels_left || queued }, waiting));
    }
    let candidates: Vec<(String, String, Value)> =
        lease::queue(cluster_id, Work::Launches, &edp.settings().node_id, time::now())
            .columns([C::ProjectId, C::Info])
            .limit(room + LOOKAHEAD)
            .into_tuple()
            .all(db)
            .await?;
    // Any not picked below, or more beyond the look-ahead, wait.
    let mut left_due = cancels_left || lease::took_all(candidates.len(), room + LOOKAHEAD);
    let projects: Vec<String> = candidates.iter().map(|c| c.1.clone()).collect();
    let counts: Vec<(String, i64)> = held_by_projects(projects).into_tuple().all(db).await?;
    let mut by_project: HashMap<String, u64> = counts.into_iter().map(|(p, n)| (p, n as u64)).collect();
    let (mut picked, mut waiting) = (Vec::new(), Vec::new());
    let mut full = Vec::new();
    for (id, project, info) in candidates {
        let held = by_project.get(&project).copied().unwrap_or(0);
        if let Some(max) = limits.per_project.filter(|&max| held >= u64::from(max)) {
            let reason = format!("waiting for a slot of project {project} ({held} running, at most {max})");
            waiting.push(Told { id, info, reason });
        } else if (picked.len() as u64) < room {
            picked.push(id);
            *by_project.entry(project).or_default() += 1;
        } else {
            full.push((id, info));
        }
    }
    left_due |= !(waiting.is_empty() && full.is_empty());
    // The count as it is once the picked ones run.
    let total = running + picked.len() as u64;
    // Behind a cluster's limit (not merely its busy engine-call slots).
    for (id, info) in full.into_iter().filter(|_| limits.cluster.is_some()) {
        let reason = format!("waiting for a slot on cluster {} ({total} running)", limits.name);
        waiting.push(Told { id, info, reason });
    }
    claimed.extend(lease::claim_ids_on(db, edp, picked).await?);
    Ok((Claims { claimed, left_due }, Waiting::Each(waiting)))
}

/// The cluster's name and job limit.
async fn limit_of(edp: &Edp, cluster_id: &str) -> Result<Option<(String, Option<i32>)>> {
    let limit = cluster::Entity::find_by_id(cluster_id)
        .select_only()
        .column(cluster::Column::Name)
        .column(cluster::Column::MaxConcurrentJobs);
    let limit: Option<Limit> = crate::reads::first_as(edp, limit).await?;
    Ok(limit.map(|limit| (limit.name, limit.max_concurrent_jobs)))
}

#[derive(serde::Deserialize, sea_orm::FromQueryResult)]
struct Limit {
    name: String,
    max_concurrent_jobs: Option<i32>,
}

/// How many slots each of `projects` holds (`project_id`, `n`), from
/// `(submitted, status, project_id)`: the launches that wait are not read.
fn held_by_projects(projects: Vec<String>) -> sea_orm::Select<job_execution::Entity> {
    use job_execution::Column as C;
    holding(Condition::all().add(C::ProjectId.is_in(projects)))
        .select_only()
        .column(C::ProjectId)
        .column_as(Expr::col(C::Id).count(), "n")
        .group_by(C::ProjectId)
}

/// How many jobs hold a slot.
async fn occupied(db: &impl ConnectionTrait, which: Condition) -> Result<u64> {
    Ok(holding(which).count(db).await?)
}

/// Jobs holding a slot: a launch was begun and they have not ended. (Read
/// from `(cluster_id, submitted, status)` for a cluster's: the launches
/// that wait are not submitted, and not read.)
fn holding(which: Condition) -> sea_orm::Select<job_execution::Entity> {
    use job_execution::Column as C;
    // Literals, as the claims' statuses (`lease::literal`): bound, Postgres'
    // generic plan may read the statuses' index, the queue with them.
    job_execution::Entity::find()
        .filter(which)
        .filter(Expr::col(C::Submitted).eq(Expr::Constant(true.into())))
        .filter(lease::status_in(Status::ACTIVE))
}

/// Sets `info.reason` on due launches left waiting, where it says something
/// else; only rows still unclaimed and unlaunched are written. A queue's
/// head is told in the database (its rows are not read here), and the same
/// reason at most once every [`TELL_AGAIN`]; launches read one by one are
/// told where their info, read with them, says otherwise.
async fn mark_waiting(edp: &Edp, waiting: Waiting, telling: &Telling) -> Result<()> {
    use job_execution::Column as C;
    match waiting {
        Waiting::Nobody => Ok(()),
        Waiting::Queue { reason, .. } if !telling.now(&reason) => Ok(()),
        Waiting::Queue { cluster_id, reason } => {
            let head = lease::queue(&cluster_id, Work::Launches, &edp.settings().node_id, time::now())
                .limit(LOOKAHEAD)
                .into_query();
            tell(edp, reason, Condition::all().add(C::Id.in_subquery(head))).await
        }
        Waiting::Each(waiting) => {
            let mut by_reason: HashMap<String, Vec<String>> = HashMap::new();
            for w in waiting {
                if w.info.get("reason").and_then(Value::as_str) != Some(w.reason.as_str()) {
                    by_reason.entry(w.reason).or_default().push(w.id);
                }
            }
            for (reason, ids) in by_reason {
                tell(edp, reason, Condition::all().add(C::Id.is_in(ids))).await?;
            }
            Ok(())
        }
    }
}

/// Writes `reason` into the `which` rows still waiting (PENDING, not
/// submitted, unclaimed) whose info does not say it already (the info is
/// the whole of it): one statement.
async fn tell(edp: &Edp, reason: String, which: Condition) -> Result<()> {
    use job_execution::Column as C;
    let info = json!({"status": Status::Pending.as_str(), "reason": reason});
    job_execution::Entity::update_many()
        .col_expr(C::Info, Expr::val(info.clone()))
        .col_expr(C::UpdatedAt, Expr::val(time::now()))
        .filter(which)
        .filter(lease::status_in([Status::Pending]))
        .filter(C::Submitted.eq(false))
        .filter(C::LeaseOwner.is_null())
        .filter(C::Info.ne(info))
        .exec(edp.db())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster's and a project's slots are counted, and a queue's waiting
    /// launches marked, without reading the whole queue (BENCHMARKS.md, "A
    /// queue's depth").
    #[tokio::test]
    async fn the_slots_held_and_the_queues_head_are_read_from_their_indexes() {
        use job_execution::Column as C;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("edp.sqlite").display());
        let db = crate::db::connect(&url).await.unwrap();
        let held = holding(Condition::all().add(C::ClusterId.eq("c"))).into_query();
        let plan = crate::db::sqlite_plan(&db, &held).await;
        let slots = "idx_job_executions_cluster_slots (cluster_id=? AND submitted=? AND status=?)";
        assert!(plan.contains(slots), "{plan}");
        let plan = crate::db::sqlite_plan(&db, &held_by_projects(vec!["p".into(), "q".into()]).into_query()).await;
        let projects = "idx_job_executions_project_slots (submitted=? AND status=? AND project_id=?)";
        assert!(plan.contains(projects), "{plan}");
        let head = lease::queue("c", Work::Launches, "n1", time::now()).limit(LOOKAHEAD).into_query();
        let plan = crate::db::sqlite_plan(&db, &head).await;
        assert!(plan.contains("idx_job_executions_due_by_status") && !plan.contains("TEMP B-TREE"), "{plan}");
    }
}
