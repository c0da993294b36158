//! What an operator watches: each event of a job's or a cluster's life is
//! one log line (at info, or warn when someone should look) **and** a
//! counter, from one function here, so the two never disagree. The job
//! manager calls these in one line where the event happens; what is
//! counted at scrape time instead (jobs by status, how overdue the
//! oldest due work is, the database pool) is read from the database by [`refresh_gauges`], since
//! several edpd may share it.
//!
//! Lines carry the execution id, the engine and the cluster id, never a
//! job's configs, arguments or anything from `extra`. Metric labels are
//! engine ids, statuses and the ids of declared or public clusters (never
//! names, projects, or a private cluster's id): see ARCHITECTURE.md,
//! "Security model".

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;

use crate::Edp;
use crate::entity::{cluster, job_execution};
use crate::error::Result;
use crate::status::Status;

/// The metric names, for the exporter's descriptions and the tests.
pub mod names {
    pub const LAUNCHES: &str = "edp_job_launches_total";
    pub const FAILURES: &str = "edp_job_failures_total";
    pub const CANCELS: &str = "edp_job_cancels_total";
    pub const RETRIES: &str = "edp_job_launch_retries_total";
    /// Failed attempts followed by another (`edp.job.max_attempts`).
    pub const JOB_RETRIES: &str = "edp_job_retries_total";
    pub const ENDED: &str = "edp_jobs_ended_total";
    pub const CLUSTER_CHECKS: &str = "edp_cluster_checks_total";
    pub const JOBS: &str = "edp_jobs";
    pub const CLUSTERS: &str = "edp_clusters";
    pub const SCHEDULER_LAG: &str = "edp_scheduler_lag_seconds";
    pub const OVERDUE: &str = "edp_scheduler_overdue_seconds";
    pub const DB_POOL: &str = "edp_db_pool_connections";
    pub const DB_POOL_MAX: &str = "edp_db_pool_max_connections";
    pub const ENGINES: &str = "edp_engines_loaded";
    pub const REFUSED: &str = "edp_plugins_refused";
    /// Recorded by `edp_engine_api::host::EngineClient` for every call.
    pub const ENGINE_CALL: &str = edp_engine_api::host::ENGINE_CALL_SECONDS;
}

/// A scheduler pass claimed a cluster's due work, the oldest of it due
/// since `oldest`: how late it was picked up.
pub(crate) fn picked_up(oldest: chrono::DateTime<chrono::Utc>) {
    let late = (crate::time::now() - oldest).num_microseconds().unwrap_or(i64::MAX).max(0);
    metrics::histogram!(names::SCHEDULER_LAG).record(late as f64 / 1e6);
}

/// The engine accepted the job (`run_job` answered). A job that the engine
/// reports finished at once has ended too.
pub(crate) fn job_launched(row: &job_execution::Model, engine_job_id: &str, status: Status) {
    tracing::info!(
        execution = %row.id, engine = %row.engine, cluster = %row.cluster_id, engine_job_id, status = %status,
        "job launched"
    );
    metrics::counter!(names::LAUNCHES, "engine" => row.engine.clone()).increment(1);
    if status.is_terminal() {
        job_ended(row, status, None);
    }
}

/// A launch failed in a way worth trying again (the engine or its backend
/// was busy or away).
pub(crate) fn launch_retried(row: &job_execution::Model, attempt: i32, error: &dyn std::fmt::Display) {
    tracing::warn!(
        execution = %row.id, engine = %row.engine, cluster = %row.cluster_id, attempt, error = %error,
        "job launch failed; will retry"
    );
    metrics::counter!(names::RETRIES, "engine" => row.engine.clone()).increment(1);
}

/// The job reached a final status (written).
pub(crate) fn job_ended(row: &job_execution::Model, status: Status, reason: Option<&str>) {
    let (execution, engine, cluster) = (&row.id, &row.engine, &row.cluster_id);
    match (status, reason) {
        (Status::Succeeded, _) => tracing::info!(%execution, %engine, %cluster, status = %status, "job ended"),
        (_, Some(reason)) => tracing::info!(%execution, %engine, %cluster, status = %status, reason, "job ended"),
        (_, None) => tracing::info!(%execution, %engine, %cluster, status = %status, "job ended"),
    }
    metrics::counter!(names::ENDED, "engine" => engine.clone(), "status" => status.as_str()).increment(1);
    if status == Status::Failed {
        metrics::counter!(names::FAILURES, "engine" => engine.clone()).increment(1);
    }
}

/// An attempt failed and another follows (`reason` says when).
pub(crate) fn job_retried(row: &job_execution::Model, reason: &str) {
    tracing::info!(execution = %row.id, engine = %row.engine, cluster = %row.cluster_id, reason, "job retried");
    metrics::counter!(names::JOB_RETRIES, "engine" => row.engine.clone()).increment(1);
}

/// A cancel was asked for (the job is TOBEKILLED; [`job_ended`] follows
/// when the engine confirms). `delete`: a DELETE of a running job.
pub(crate) fn job_cancelled(row: &job_execution::Model, delete: bool) {
    let what = if delete { "job cancelled for deletion" } else { "job cancelled" };
    tracing::info!(execution = %row.id, engine = %row.engine, cluster = %row.cluster_id, "{what}");
    metrics::counter!(names::CANCELS, "engine" => row.engine.clone()).increment(1);
}

/// The engine did not confirm a kill by the deadline: the job goes back to
/// the status it last reported.
pub(crate) fn cancel_unconfirmed(row: &job_execution::Model, reason: &str) {
    tracing::warn!(execution = %row.id, engine = %row.engine, cluster = %row.cluster_id, reason, "job cancel not confirmed");
}

/// What a write of `changes` would end the job with, if it ends it: read
/// before the write, reported with [`ended`] once the write happened.
pub(crate) struct Ending {
    status: Status,
    reason: Option<String>,
}

pub(crate) fn ending(changes: &job_execution::ActiveModel) -> Option<Ending> {
    let ActiveValue::Set(status) = &changes.status else { return None };
    // A failed attempt followed by another is written back to PENDING, and
    // only that write takes a job from a launch back to PENDING (with
    // `submitted` cleared): reported as a retry.
    let retried = matches!(changes.submitted, ActiveValue::Set(false));
    let status = Status::parse(status).filter(|s| s.is_terminal() || (*s == Status::Pending && retried))?;
    let reason = match &changes.info {
        ActiveValue::Set(info) => info.get("reason").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    Some(Ending { status, reason })
}

/// Reports an [`Ending`] read with [`ending`], once its write succeeded.
pub(crate) fn ended(row: &job_execution::Model, ending: Option<Ending>) {
    match ending {
        Some(Ending { status: Status::Pending, reason }) => job_retried(row, reason.as_deref().unwrap_or_default()),
        Some(Ending { status, reason }) => job_ended(row, status, reason.as_deref()),
        None => {}
    }
}

/// A cluster was registered, declared or checked again: at info when it is
/// usable, at warn with the reason when it is in `Error`.
pub(crate) fn cluster_checked(row: &cluster::Model, how: &'static str) {
    let (cluster, name, engine) = (&row.id, &row.name, &row.plugin_name);
    if row.status == crate::catalog::clusters::ACTIVE {
        tracing::info!(%cluster, %name, %engine, project = %row.project_id, "cluster {how}");
    } else {
        let reason = row.status_description.as_deref().unwrap_or("");
        tracing::warn!(%cluster, %name, %engine, project = %row.project_id, status = %row.status, reason, "cluster {how}, in Error");
    }
    metrics::counter!(names::CLUSTER_CHECKS, "engine" => engine.clone(), "status" => row.status.clone()).increment(1);
}

/// The `cluster_id` label of jobs on clusters that are neither declared
/// nor public.
pub const PRIVATE: &str = "private";

#[derive(FromQueryResult)]
struct JobCount {
    engine: String,
    cluster_id: String,
    status: String,
    count: i64,
}

#[derive(FromQueryResult)]
struct ClusterCount {
    plugin_name: String,
    status: String,
    count: i64,
}

/// Label sets of the scrape-time gauges set before, so that one whose
/// count fell to nothing reads 0 rather than its last value.
static SEEN: Mutex<Option<HashSet<GaugeKey>>> = Mutex::new(None);

/// A gauge's name (first, with an empty value) and its labels.
type GaugeKey = Vec<(&'static str, String)>;

/// Sets the gauges read from the database and the engines: jobs by engine,
/// cluster and status (one `GROUP BY`), clusters by engine and status, how
/// long the most overdue execution has waited unclaimed (by any node), the
/// connection pool, engines loaded and plugins refused. Called at scrape.
pub async fn refresh_gauges(edp: &Edp) -> Result<()> {
    let jobs = job_execution::Entity::find()
        .select_only()
        .column(job_execution::Column::Engine)
        .column(job_execution::Column::ClusterId)
        .column(job_execution::Column::Status)
        .column_as(job_execution::Column::Id.count(), "count")
        .group_by(job_execution::Column::Engine)
        .group_by(job_execution::Column::ClusterId)
        .group_by(job_execution::Column::Status)
        .into_model::<JobCount>()
        .all(edp.db())
        .await?;
    let clusters = cluster::Entity::find()
        .select_only()
        .column(cluster::Column::PluginName)
        .column(cluster::Column::Status)
        .column_as(cluster::Column::Id.count(), "count")
        .group_by(cluster::Column::PluginName)
        .group_by(cluster::Column::Status)
        .into_model::<ClusterCount>()
        .all(edp.db())
        .await?;
    let now = crate::time::now();
    let oldest_due = job_execution::Entity::find()
        .filter(job_execution::Column::NextActionAt.lte(now))
        .order_by_asc(job_execution::Column::NextActionAt)
        .limit(1)
        .all(edp.db())
        .await?
        .into_iter()
        .next()
        .and_then(|row| row.next_action_at);

    // A project's private cluster is not named, even by its id: its jobs
    // are counted under `cluster_id="private"` (ARCHITECTURE.md, "Security
    // model"). Declared and public clusters are everyone's to see.
    let shown: HashSet<String> = cluster::Entity::find()
        .select_only()
        .column(cluster::Column::Id)
        .filter(
            sea_orm::Condition::any().add(cluster::Column::Declared.eq(true)).add(cluster::Column::IsPublic.eq(true)),
        )
        .into_tuple::<String>()
        .all(edp.db())
        .await?
        .into_iter()
        .collect();
    let mut by_labels: std::collections::BTreeMap<(String, String, String), i64> = Default::default();
    for c in jobs {
        let cluster_id = if shown.contains(&c.cluster_id) { c.cluster_id } else { PRIVATE.to_string() };
        *by_labels.entry((c.engine, cluster_id, c.status)).or_default() += c.count;
    }
    let mut now_set = HashSet::new();
    for ((engine, cluster_id, status), count) in by_labels {
        let labels = vec![("engine", engine), ("cluster_id", cluster_id), ("status", status)];
        metrics::gauge!(names::JOBS, labels_of(&labels)).set(count as f64);
        now_set.insert(key(names::JOBS, labels));
    }
    for c in clusters {
        let labels = vec![("engine", c.plugin_name), ("status", c.status)];
        metrics::gauge!(names::CLUSTERS, labels_of(&labels)).set(c.count as f64);
        now_set.insert(key(names::CLUSTERS, labels));
    }
    {
        let mut seen = SEEN.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = seen.get_or_insert_with(HashSet::new);
        for gone in seen.difference(&now_set) {
            let (name, labels) = (gone[0].0, &gone[1..]);
            metrics::gauge!(name, labels_of(labels)).set(0.0);
        }
        seen.extend(now_set);
    }

    let overdue = oldest_due.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
    metrics::gauge!(names::OVERDUE).set(overdue);

    let (size, idle, max) = pools(edp);
    metrics::gauge!(names::DB_POOL, "state" => "in_use").set((size as usize).saturating_sub(idle) as f64);
    metrics::gauge!(names::DB_POOL, "state" => "idle").set(idle as f64);
    metrics::gauge!(names::DB_POOL_MAX).set(max as f64);

    let engines = edp.engines().snapshot();
    metrics::gauge!(names::ENGINES).set(engines.loaded().count() as f64);
    metrics::gauge!(names::REFUSED).set(engines.refused().len() as f64);
    Ok(())
}

/// A gauge's identity in [`SEEN`]: its name first, then its labels.
fn key(name: &'static str, labels: Vec<(&'static str, String)>) -> GaugeKey {
    let mut key = vec![(name, String::new())];
    key.extend(labels);
    key
}

fn labels_of(labels: &[(&'static str, String)]) -> Vec<metrics::Label> {
    labels.iter().map(|(k, v)| metrics::Label::new(*k, v.clone())).collect()
}

/// Every connection of this edpd: sqlx's pool (as [`pool`] counts it), and
/// on Postgres the reads' and the writes' own.
fn pools(edp: &Edp) -> (u32, usize, u32) {
    let reads = match edp.reads() {
        crate::reads::Reads::Postgres { direct, .. } => Some(direct.counts()),
        crate::reads::Reads::SqliteFile(_) | crate::reads::Reads::Orm => None,
    };
    let writes = edp.direct_writes().map(crate::pg_direct::PgDirect::counts);
    std::iter::once(pool(edp.db()))
        .chain(reads)
        .chain(writes)
        .fold((0, 0, 0), |sum, p| (sum.0 + p.0, sum.1 + p.1, sum.2 + p.2))
}

/// (connections open, idle, most allowed).
fn pool(db: &sea_orm::DatabaseConnection) -> (u32, usize, u32) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle(), pool.options().get_max_connections())
        }
        sea_orm::DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle(), pool.options().get_max_connections())
        }
        _ => (0, 0, 0),
    }
}

/// Whether the database answers (`/readyz`).
pub async fn database_reachable(edp: &Edp) -> std::result::Result<(), String> {
    edp.db().ping().await.map_err(|e| e.to_string())
}
