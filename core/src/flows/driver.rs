//! Advancing flows: a flow job starts when all its producers succeeded (or
//! were skipped because their outputs exist); a failed, killed or blocked
//! producer blocks its dependants; the flow ends when no job waits or runs.
//!
//! The scheduler calls [`advance_all`] on each pass; each flow advances in
//! a task of its own, one at a time per flow. A launch inserts the
//! execution and marks the flow job RUNNING in one transaction, so a
//! restart can neither lose a launch nor repeat it.

use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait};
use serde_json::Value;

use crate::Edp;
use crate::catalog::clusters;
use crate::entity::{cluster, data_source, flow, flow_job, job_execution};
use crate::error::Result;
use crate::manager::{self, NewJob};
use crate::scope::Scope;
use crate::status::Status;
use crate::time;

use super::api::JobConfigsStored;
use super::outputs::{self, Output};
use super::state::{FlowStatus, JobState};

pub(crate) async fn advance_all(edp: &Edp) -> Result<()> {
    let running = flow::Entity::find().filter(flow::Column::Status.eq(FlowStatus::Running.as_str()));
    let running = crate::reads::all(edp, running).await?;
    for row in running {
        if !claim(edp, &row.id).await? {
            continue;
        }
        let edp = edp.clone();
        tokio::spawn(async move {
            let id = row.id.clone();
            if let Err(e) = advance(&edp, row).await {
                tracing::error!(flow = %id, error = %e, "advancing a flow failed; will retry");
            }
            if let Err(e) = release(&edp, &id).await {
                tracing::warn!(flow = %id, error = %e, "could not give a flow's lease back; it expires");
            }
        });
    }
    Ok(())
}

/// Takes the flow's lease: one node advances a flow at a time (two would
/// launch its next job twice).
async fn claim(edp: &Edp, id: &str) -> Result<bool> {
    let now = time::now();
    let expires = edp.settings().lease_expires(now);
    let taken = flow::Entity::update_many()
        .col_expr(flow::Column::LeaseOwner, Expr::val(edp.settings().node_id.clone()))
        .col_expr(flow::Column::LeaseExpiresAt, Expr::val(expires))
        .filter(flow::Column::Id.eq(id))
        .filter(Condition::any().add(flow::Column::LeaseOwner.is_null()).add(flow::Column::LeaseExpiresAt.lt(now)))
        .exec(edp.db())
        .await?;
    Ok(taken.rows_affected == 1)
}

async fn release(edp: &Edp, id: &str) -> Result<()> {
    flow::Entity::update_many()
        .col_expr(flow::Column::LeaseOwner, Expr::val(Option::<String>::None))
        .col_expr(flow::Column::LeaseExpiresAt, Expr::val(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(flow::Column::Id.eq(id))
        .filter(flow::Column::LeaseOwner.eq(edp.settings().node_id.clone()))
        .exec(edp.db())
        .await?;
    Ok(())
}

async fn advance(edp: &Edp, flow_row: flow::Model) -> Result<()> {
    let scope = Scope::member(flow_row.project_id.clone());
    let mut jobs = flow_job::Entity::find()
        .filter(flow_job::Column::FlowId.eq(flow_row.id.clone()))
        .order_by_asc(flow_job::Column::Position)
        .all(edp.db())
        .await?;
    let ids: Vec<String> = jobs.iter().filter_map(|j| j.execution_id.clone()).collect();
    let executions: HashMap<String, job_execution::Model> = job_execution::Entity::find()
        .filter(job_execution::Column::Id.is_in(ids.clone()))
        .all(edp.db())
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let force: Vec<String> = serde_json::from_value(flow_row.force.clone()).unwrap_or_default();

    // A change can unblock or block later jobs: go round until nothing moves.
    let mut moved = true;
    let mut touched = false;
    while moved {
        moved = false;
        for i in 0..jobs.len() {
            let job = &jobs[i];
            let next = match JobState::parse(&job.state) {
                // Launched in this pass: not loaded above, and still running.
                JobState::Running if job.execution_id.as_ref().is_some_and(|id| !ids.contains(id)) => None,
                JobState::Running => ended(job, &executions),
                JobState::Waiting => {
                    let states: BTreeMap<&str, JobState> =
                        jobs.iter().map(|j| (j.key.as_str(), JobState::parse(&j.state))).collect();
                    let producers: Vec<(&str, JobState)> = keys(&job.depends_on)
                        .iter()
                        .map(|k| (*k, states.get(k).copied().unwrap_or(JobState::Waiting)))
                        .collect();
                    decide(edp, &scope, &flow_row, job, &producers, &force).await?
                }
                _ => None,
            };
            if let Some((state, reason, execution_id)) = next {
                let job = &mut jobs[i];
                let changed = job.state != state.stored() || job.reason.as_deref() != Some(reason.as_str());
                if !changed {
                    continue;
                }
                touched = true;
                // A launch already wrote its row in the launch transaction.
                if execution_id.is_none() {
                    let mut active: flow_job::ActiveModel = job.clone().into();
                    active.state = Set(state.stored().into());
                    active.reason = Set(Some(reason.clone()));
                    active.update(edp.db()).await?;
                }
                job.state = state.stored().into();
                job.reason = Some(reason);
                if execution_id.is_some() {
                    job.execution_id = execution_id;
                }
                moved = moved || state != JobState::Waiting;
            }
        }
    }

    // A job's new state is a change of its flow, for the event stream.
    if touched {
        flow::Entity::update_many()
            .col_expr(flow::Column::UpdatedAt, sea_orm::sea_query::Expr::value(time::now()))
            .filter(flow::Column::Id.eq(flow_row.id.clone()))
            .exec(edp.db())
            .await?;
    }

    if flow_row.cancel_requested {
        for job in jobs.iter().filter(|j| JobState::parse(&j.state) == JobState::Running) {
            if let Some(id) = &job.execution_id
                && let Err(e) = manager::cancel_for_flow(edp, &scope, id).await
            {
                tracing::warn!(flow = %flow_row.id, execution = %id, error = %e, "could not cancel a flow's job");
            }
        }
    }

    let states: Vec<JobState> = jobs.iter().map(|j| JobState::parse(&j.state)).collect();
    if states.iter().all(|s| s.is_done()) {
        let status = if flow_row.cancel_requested {
            FlowStatus::Killed
        } else if states.iter().any(|s| s.blocks()) {
            FlowStatus::Failed
        } else {
            FlowStatus::Succeeded
        };
        let mut active: flow::ActiveModel = flow_row.into();
        active.status = Set(status.as_str().into());
        active.end_time = Set(Some(time::now()));
        active.updated_at = Set(time::now());
        active.update(edp.db()).await?;
    }
    Ok(())
}

type Next = Option<(JobState, String, Option<String>)>;

/// A running job whose execution ended.
fn ended(job: &flow_job::Model, executions: &HashMap<String, job_execution::Model>) -> Next {
    let Some(execution) = job.execution_id.as_ref().and_then(|id| executions.get(id)) else {
        return Some((JobState::Failed, "its execution was deleted".into(), None));
    };
    let status = Status::parse(&execution.status)?;
    if !status.is_terminal() {
        return None;
    }
    let state = match status {
        Status::Succeeded => JobState::Succeeded,
        Status::Killed => JobState::Killed,
        _ => JobState::Failed,
    };
    let mut reason = job.reason.clone().unwrap_or_default();
    if let Some(why) = execution.info.get("reason").and_then(Value::as_str) {
        reason = format!("{reason}; ended {status}: {why}");
    }
    Some((state, reason, None))
}

/// What a waiting job does now: stay, be skipped, or launch.
async fn decide(
    edp: &Edp,
    scope: &Scope,
    flow_row: &flow::Model,
    job: &flow_job::Model,
    producers: &[(&str, JobState)],
    force: &[String],
) -> Result<Next> {
    if flow_row.cancel_requested {
        return Ok(Some((JobState::SkippedCancelled, "the flow was cancelled before this job started".into(), None)));
    }
    if let Some((key, state)) = producers.iter().find(|(_, s)| s.blocks()) {
        let what = if *state == JobState::SkippedUpstream { "was skipped" } else { state.shown() };
        let reason = format!("producer '{key}' {}", what.to_ascii_lowercase());
        return Ok(Some((JobState::SkippedUpstream, reason, None)));
    }
    let waiting: Vec<&str> = producers.iter().filter(|(_, s)| !s.satisfies()).map(|(k, _)| *k).collect();
    if !waiting.is_empty() {
        return Ok(Some((JobState::Waiting, format!("waiting for {}", waiting.join(", ")), None)));
    }

    let mut reason = if producers.is_empty() {
        "ran: it has no producers".to_string()
    } else {
        let done: Vec<&str> = producers.iter().map(|(k, _)| *k).collect();
        format!("ran: its producers are done ({})", done.join(", "))
    };
    // Outputs only stand for the job if what they were made from did not
    // change: a producer that ran in this flow makes them stale.
    let reran: Vec<&str> = producers.iter().filter(|(_, s)| *s == JobState::Succeeded).map(|(k, _)| *k).collect();
    if flow_row.use_existing && !reran.is_empty() {
        reason = format!("ran: {} ran again in this flow, so its output is stale", reran.join(", "));
    } else if flow_row.use_existing {
        match existing_outputs(edp, scope, job).await? {
            Existing::All(urls) if !force.contains(&job.key) => {
                return Ok(Some((JobState::SkippedExisting, format!("output exists: {}", urls.join(", ")), None)));
            }
            Existing::All(urls) => reason = format!("ran: forced, although its output exists ({})", urls.join(", ")),
            Existing::Missing(urls) => reason = format!("ran: output missing ({})", urls.join(", ")),
            Existing::Unknown(why) => reason = format!("ran: could not tell whether its output exists ({why})"),
            Existing::NoOutputs => reason = format!("{reason}; it declares no outputs to look for"),
        }
    }
    match launch(edp, scope, flow_row, job, &reason).await {
        Ok(execution_id) => Ok(Some((JobState::Running, reason, Some(execution_id)))),
        Err(e) => Ok(Some((JobState::Failed, format!("could not launch: {e}"), None))),
    }
}

enum Existing {
    All(Vec<String>),
    Missing(Vec<String>),
    Unknown(String),
    NoOutputs,
}

async fn existing_outputs(edp: &Edp, scope: &Scope, job: &flow_job::Model) -> Result<Existing> {
    let ids = keys(&job.outputs);
    if ids.is_empty() {
        return Ok(Existing::NoOutputs);
    }
    let cluster = crate::db::by_key(cluster::Entity::find_by_id(job.cluster_id.clone()), edp.db()).await?;
    let Some(cluster) = cluster else { return Ok(Existing::Unknown(format!("cluster {} is gone", job.cluster_id))) };
    let sources = data_source::Entity::find()
        .filter(data_source::Column::Id.is_in(ids.iter().map(|s| s.to_string())))
        .filter(scope.visible(data_source::Column::ProjectId, data_source::Column::IsPublic))
        .all(edp.db())
        .await?;
    let (mut present, mut missing) = (Vec::new(), Vec::new());
    for ds in &sources {
        match outputs::check(edp, &cluster.plugin_name, &clusters::spec(&cluster), &ds.kind, &ds.url).await {
            Output::Exists => present.push(ds.url.clone()),
            Output::Missing => missing.push(ds.url.clone()),
            Output::Unknown(why) => return Ok(Existing::Unknown(why)),
        }
    }
    if sources.len() < ids.len() {
        return Ok(Existing::Unknown("an output data source is gone".into()));
    }
    Ok(if missing.is_empty() { Existing::All(present) } else { Existing::Missing(missing) })
}

/// Creates the job's execution and marks the flow job RUNNING, together.
async fn launch(
    edp: &Edp,
    scope: &Scope,
    flow_row: &flow::Model,
    job: &flow_job::Model,
    reason: &str,
) -> Result<String> {
    let stored: JobConfigsStored = serde_json::from_value(job.job_configs.clone()).unwrap_or_default();
    let (inputs, outputs) = (keys(&job.inputs), keys(&job.outputs));
    let single = |ids: &[&str]| (ids.len() == 1).then(|| ids[0].to_string());
    let new = NewJob {
        job_template_id: job.job_template_id.clone(),
        cluster_id: job.cluster_id.clone(),
        input_id: single(&inputs),
        output_id: single(&outputs),
        job_configs: stored.job_configs,
        interface: stored.interface,
        is_public: flow_row.is_public,
        is_protected: false,
    };
    let prepared = manager::prepare(edp, scope, new).await?;
    let execution_id = prepared.id().to_string();
    let txn = edp.db().begin().await?;
    prepared.row(scope, Some(&flow_row.id)).insert(&txn).await?;
    // Only a job still waiting: the flow's lease makes this node the only
    // one advancing it, and this keeps a launch single even if that lease
    // lapsed.
    let marked = flow_job::Entity::update_many()
        .col_expr(flow_job::Column::State, Expr::val(JobState::Running.stored()))
        .col_expr(flow_job::Column::Reason, Expr::val(reason.to_string()))
        .col_expr(flow_job::Column::ExecutionId, Expr::val(execution_id.clone()))
        .filter(flow_job::Column::FlowId.eq(job.flow_id.clone()))
        .filter(flow_job::Column::Key.eq(job.key.clone()))
        .filter(flow_job::Column::State.eq(job.state.clone()))
        .exec(&txn)
        .await?;
    if marked.rows_affected != 1 {
        txn.rollback().await?;
        return Err(crate::error::Error::Internal(format!("flow job {} changed while it was launched", job.key)));
    }
    txn.commit().await?;
    edp.jobs().wake();
    Ok(execution_id)
}

fn keys(list: &Value) -> Vec<&str> {
    list.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}
