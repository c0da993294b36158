//! What the API asks of flows.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Edp;
use crate::catalog::{check_delete, clusters, data_sources, job_templates};
use crate::entity::{data_source, flow, flow_job, job_execution};
use crate::error::{Error, Result, not_found_as};
use crate::manager::JobConfigs;
use crate::model::Page;
use crate::paging::{self, ListQuery};
use crate::scope::Scope;
use crate::{time, validate};

use super::graph::{self, Edge, Location, Node};
use super::state::{FlowStatus, JobState};

#[derive(utoipa::ToSchema, Deserialize, serde::Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewFlow {
    pub name: String,
    pub jobs: Vec<NewFlowJob>,
    /// Skip jobs whose outputs already exist.
    #[serde(default)]
    pub use_existing: bool,
    /// Keys of jobs to run even when their outputs exist.
    #[serde(default)]
    pub force: Vec<String>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub is_protected: bool,
}

#[derive(utoipa::ToSchema, Deserialize, serde::Serialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewFlowJob {
    pub key: String,
    pub job_template_id: String,
    pub cluster_id: String,
    /// Data source ids the job reads.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Data source ids the job writes.
    #[serde(default)]
    pub outputs: Vec<String>,
    #[serde(default)]
    pub job_configs: JobConfigs,
    #[serde(default)]
    pub interface: Option<serde_json::Map<String, Value>>,
}

/// A flow as users see it.
#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct Flow {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub status: String,
    pub use_existing: bool,
    pub force: Value,
    pub jobs: Vec<FlowJob>,
    /// The inferred dependencies: `to` reads `via`, which `from` writes.
    pub edges: Value,
    pub is_public: bool,
    pub is_protected: bool,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time")]
    #[schema(value_type = String, example = "2026-12-06T12:00:00")]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "crate::time::option")]
    #[schema(value_type = Option<String>, example = "2026-12-06T12:00:00")]
    pub end_time: Option<DateTime<Utc>>,
}

#[derive(utoipa::ToSchema, Serialize, Debug)]
pub struct FlowJob {
    pub key: String,
    pub job_template_id: String,
    pub cluster_id: String,
    pub inputs: Value,
    pub outputs: Value,
    pub depends_on: Value,
    /// WAITING, RUNNING, SUCCEEDED, FAILED, KILLED or SKIPPED.
    pub state: String,
    /// Why it waited, ran or was skipped.
    pub reason: Option<String>,
    /// Its execution (`/v2/jobs/{id}`), once launched.
    pub execution_id: Option<String>,
    /// When its execution started and ended, to the microsecond (RFC 3339).
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
}

pub async fn submit(edp: &Edp, scope: &Scope, new: NewFlow) -> Result<Flow> {
    validate::name("flow", &new.name, 80)?;
    if new.jobs.is_empty() {
        return Err(Error::Validation("a flow needs at least one job".into()));
    }
    let mut keys = HashSet::new();
    for job in &new.jobs {
        validate::name("flow job key", &job.key, 80)?;
        if !keys.insert(job.key.as_str()) {
            return Err(Error::Validation(format!("two jobs have the key '{}'", job.key)));
        }
    }
    if let Some(unknown) = new.force.iter().find(|k| !keys.contains(k.as_str())) {
        return Err(Error::Validation(format!("force names '{unknown}', which is not a job of this flow")));
    }

    // Every reference must resolve now, not when the job's turn comes.
    let mut sources: HashMap<String, data_source::Model> = HashMap::new();
    for job in &new.jobs {
        let template = job_templates::find(edp, scope, &job.job_template_id).await.map_err(not_found_as(|| {
            Error::InvalidReference(format!("job '{}': job template {} not found", job.key, job.job_template_id))
        }))?;
        let cluster = clusters::find(edp, scope, &job.cluster_id).await.map_err(not_found_as(|| {
            Error::InvalidReference(format!("job '{}': cluster {} not found", job.key, job.cluster_id))
        }))?;
        crate::host::check_cluster(scope, &cluster)?;
        let runs =
            edp.engines().get(&cluster.plugin_name).is_some_and(|e| e.description.job_types.contains(&template.kind));
        if !runs {
            return Err(Error::InvalidReference(format!(
                "job '{}': cluster {} doesn't support job type '{}'",
                job.key, cluster.id, template.kind
            )));
        }
        for id in job.inputs.iter().chain(&job.outputs) {
            if !sources.contains_key(id) {
                let ds = data_sources::find(edp, scope, id).await.map_err(not_found_as(|| {
                    Error::InvalidReference(format!("job '{}': data source {id} not found", job.key))
                }))?;
                sources.insert(id.clone(), ds);
            }
        }
    }
    let location = |id: &String| -> Result<(&str, Location)> {
        let ds = &sources[id];
        Ok((ds.id.as_str(), Location::parse(&ds.kind, &ds.url)?))
    };
    let nodes: Vec<Node<'_>> = new
        .jobs
        .iter()
        .map(|job| {
            Ok(Node {
                key: &job.key,
                inputs: job.inputs.iter().map(location).collect::<Result<_>>()?,
                outputs: job.outputs.iter().map(location).collect::<Result<_>>()?,
            })
        })
        .collect::<Result<_>>()?;
    let edges = graph::infer(&nodes)?;

    let now = time::now();
    let id = uuid::Uuid::new_v4().to_string();
    let txn = edp.db().begin().await?;
    flow::ActiveModel {
        id: Set(id.clone()),
        project_id: Set(scope.project_id.clone()),
        name: Set(new.name),
        status: Set(FlowStatus::Running.as_str().into()),
        use_existing: Set(new.use_existing),
        force: Set(json!(new.force)),
        edges: Set(serde_json::to_value(&edges).unwrap_or_default()),
        cancel_requested: Set(false),
        is_public: Set(new.is_public),
        is_protected: Set(new.is_protected),
        created_at: Set(now),
        updated_at: Set(now),
        end_time: Set(None),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
    }
    .insert(&txn)
    .await?;
    for (position, job) in new.jobs.into_iter().enumerate() {
        let depends_on: Vec<&str> = edges.iter().filter(|e| e.to == job.key).map(|e| e.from.as_str()).collect();
        let job_configs = serde_json::to_value(JobConfigsStored::from(&job)).unwrap_or_default();
        flow_job::ActiveModel {
            flow_id: Set(id.clone()),
            key: Set(job.key),
            position: Set(position as i32),
            job_template_id: Set(job.job_template_id),
            cluster_id: Set(job.cluster_id),
            inputs: Set(json!(job.inputs)),
            outputs: Set(json!(job.outputs)),
            job_configs: Set(job_configs),
            depends_on: Set(json!(depends_on)),
            state: Set(JobState::Waiting.stored().into()),
            reason: Set(None),
            execution_id: Set(None),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    edp.jobs().wake();
    get(edp, scope, &id).await
}

/// What a flow job launches with, as stored.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct JobConfigsStored {
    pub job_configs: JobConfigs,
    pub interface: Option<serde_json::Map<String, Value>>,
}

impl From<&NewFlowJob> for JobConfigsStored {
    fn from(job: &NewFlowJob) -> Self {
        Self { job_configs: job.job_configs.clone(), interface: job.interface.clone() }
    }
}

pub async fn get(edp: &Edp, scope: &Scope, id: &str) -> Result<Flow> {
    let row = find(edp, scope, id).await?;
    view(edp, row).await
}

pub async fn list(edp: &Edp, scope: &Scope, status: Option<String>, query: &ListQuery) -> Result<Page<Flow>> {
    let mut select = flow::Entity::find().filter(scope.visible(flow::Column::ProjectId, flow::Column::IsPublic));
    if let Some(status) = status {
        select = select.filter(flow::Column::Status.eq(status.to_ascii_uppercase()));
    }
    let sort = paging::sort(
        query.sort_by.as_deref(),
        &[
            ("id", flow::Column::Id),
            ("name", flow::Column::Name),
            ("status", flow::Column::Status),
            ("created_at", flow::Column::CreatedAt),
        ],
        flow::Column::CreatedAt,
    )?;
    let page = paging::page(edp.db(), select, flow::Column::Id, sort, query).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for row in page.items {
        items.push(view(edp, row).await?);
    }
    Ok(Page { items, prev: page.prev, next: page.next, paged: page.paged })
}

/// Cancels the flow's running jobs and skips the ones not started.
pub async fn cancel(edp: &Edp, scope: &Scope, id: &str) -> Result<Flow> {
    let row = find(edp, scope, id).await?;
    if !scope.owns(&row.project_id) {
        return Err(Error::CancelingFailed("the flow belongs to another project".into()));
    }
    if row.is_protected {
        return Err(Error::CancelingFailed("the flow is protected: set is_protected to false first".into()));
    }
    if row.status == FlowStatus::Running.as_str() && !row.cancel_requested {
        let mut active: flow::ActiveModel = row.into();
        active.cancel_requested = Set(true);
        active.updated_at = Set(time::now());
        active.update(edp.db()).await?;
        edp.jobs().wake();
    }
    get(edp, scope, id).await
}

/// A finished flow goes; its jobs' executions stay, as ordinary jobs.
pub async fn delete(edp: &Edp, scope: &Scope, id: &str) -> Result<()> {
    let row = find(edp, scope, id).await?;
    check_delete(scope, "flow", &row.project_id, row.is_protected)?;
    if row.status == FlowStatus::Running.as_str() {
        return Err(Error::DeletionFailed(format!("flow {id} is still running: cancel it first")));
    }
    crate::events::deletions::delete_flow(edp, &(&row).into()).await?;
    Ok(())
}

/// The graph as JSON: nodes with their states, edges with the data they carry.
pub async fn graph_json(edp: &Edp, scope: &Scope, id: &str) -> Result<Value> {
    let flow = get(edp, scope, id).await?;
    let nodes: Vec<Value> =
        flow.jobs.iter().map(|j| json!({"key": j.key, "state": j.state, "reason": j.reason})).collect();
    Ok(json!({"flow_id": flow.id, "nodes": nodes, "edges": flow.edges}))
}

/// The graph in Graphviz's dot language.
pub async fn graph_dot(edp: &Edp, scope: &Scope, id: &str) -> Result<String> {
    let flow = get(edp, scope, id).await?;
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut dot = format!("digraph {} {{\n  rankdir=LR;\n", quote(&flow.name));
    for job in &flow.jobs {
        let colour = match job.state.as_str() {
            "SUCCEEDED" => "palegreen",
            "FAILED" | "KILLED" => "lightpink",
            "RUNNING" => "lightblue",
            "SKIPPED" => "lightgrey",
            _ => "white",
        };
        let label = quote(&format!("{}\n{}", job.key, job.state)).replace('\n', "\\n");
        dot.push_str(&format!("  {} [label={label}, style=filled, fillcolor={colour}];\n", quote(&job.key)));
    }
    let edges: Vec<Edge> = serde_json::from_value(flow.edges.clone()).unwrap_or_default();
    // Edges are labelled with what flows along them: the data source's name.
    let names: BTreeMap<String, String> = data_source::Entity::find()
        .filter(data_source::Column::Id.is_in(edges.iter().map(|e| e.via.clone())))
        .all(edp.db())
        .await?
        .into_iter()
        .map(|ds| (ds.id, ds.name))
        .collect();
    for e in &edges {
        let label = names.get(&e.via).unwrap_or(&e.via);
        dot.push_str(&format!("  {} -> {} [label={}];\n", quote(&e.from), quote(&e.to), quote(label)));
    }
    dot.push_str("}\n");
    Ok(dot)
}

pub(crate) async fn find(edp: &Edp, scope: &Scope, id: &str) -> Result<flow::Model> {
    crate::db::by_key(
        flow::Entity::find_by_id(id).filter(scope.visible(flow::Column::ProjectId, flow::Column::IsPublic)),
        edp.db(),
    )
    .await?
    .ok_or_else(|| Error::not_found("flow", id))
}

async fn view(edp: &Edp, row: flow::Model) -> Result<Flow> {
    let jobs = flow_job::Entity::find()
        .filter(flow_job::Column::FlowId.eq(row.id.clone()))
        .order_by_asc(flow_job::Column::Position)
        .all(edp.db())
        .await?;
    let ids: Vec<String> = jobs.iter().filter_map(|j| j.execution_id.clone()).collect();
    let executions: BTreeMap<String, job_execution::Model> = job_execution::Entity::find()
        .filter(job_execution::Column::Id.is_in(ids))
        .all(edp.db())
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    let precise = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true));
    let jobs = jobs
        .into_iter()
        .map(|j| {
            let execution = j.execution_id.as_ref().and_then(|id| executions.get(id));
            FlowJob {
                state: JobState::parse(&j.state).shown().to_string(),
                started_at: precise(execution.and_then(|e| e.start_time)),
                ended_at: precise(execution.and_then(|e| e.end_time)),
                key: j.key,
                job_template_id: j.job_template_id,
                cluster_id: j.cluster_id,
                inputs: j.inputs,
                outputs: j.outputs,
                depends_on: j.depends_on,
                reason: j.reason,
                execution_id: j.execution_id,
            }
        })
        .collect();
    Ok(Flow {
        id: row.id,
        project_id: row.project_id,
        name: row.name,
        status: row.status,
        use_existing: row.use_existing,
        force: row.force,
        jobs,
        edges: row.edges,
        is_public: row.is_public,
        is_protected: row.is_protected,
        created_at: row.created_at,
        updated_at: row.updated_at,
        end_time: row.end_time,
    })
}
