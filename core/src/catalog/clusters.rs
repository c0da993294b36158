//! Clusters are registered, not provisioned: a name, the engine that runs
//! its jobs (`plugin_name`) and how to reach it (`cluster_configs`, checked
//! by the engine). A failed check registers the cluster with status `Error`
//! and the reason, so the user sees what to fix.

use edp_engine_api::abi::ErrorKind;
use edp_engine_api::host::CallError;
use edp_engine_api::wire::{ClusterSpec, Object};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde::Deserialize;
use serde_json::Value;

use crate::Edp;
use crate::catalog::{self, SetCommon, check_delete, check_update, ensure_unique, like, name_conflict};
use crate::entity::{cluster, job_execution};
use crate::error::{Error, Result};
use crate::host::Placement;
use crate::model::{Cluster, Page};
use crate::paging::{self, ListQuery};
use crate::scope::Scope;
use crate::status::Status;
use crate::{time, validate};

pub const ACTIVE: &str = "Active";
pub const ERROR: &str = "Error";

#[derive(utoipa::ToSchema, Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub plugin_name: String,
    #[serde(default)]
    pub plugin_version: Option<String>,
    #[serde(default)]
    pub cluster_configs: Object,
    /// Jobs running at once on it; more wait PENDING (absent: unlimited).
    #[serde(default)]
    pub max_concurrent_jobs: Option<u32>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(default)]
    pub is_protected: bool,
}

#[derive(utoipa::ToSchema, Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ClusterPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub cluster_configs: Option<Object>,
    /// A number sets the limit; `null` removes it; absent keeps it.
    #[serde(default, deserialize_with = "present")]
    pub max_concurrent_jobs: Option<Option<u32>>,
    pub is_public: Option<bool>,
    pub is_protected: Option<bool>,
    /// Run the engine's check again without changing anything.
    #[serde(default)]
    pub verify: bool,
}

#[derive(Debug, Default)]
pub struct ClusterFilter {
    pub name: Option<String>,
    pub plugin_name: Option<String>,
    pub plugin_version: Option<String>,
}

/// A field given, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// The most jobs a cluster may be allowed at once.
pub const MAX_CONCURRENT_JOBS: u32 = 100_000;

pub(crate) fn check_limit(limit: Option<u32>) -> Result<Option<i32>> {
    match limit {
        None => Ok(None),
        Some(n) if (1..=MAX_CONCURRENT_JOBS).contains(&n) => Ok(Some(n as i32)),
        Some(n) => Err(Error::Validation(format!(
            "max_concurrent_jobs must be from 1 to {MAX_CONCURRENT_JOBS} (leave it out for no limit), not {n}"
        ))),
    }
}

pub async fn create(edp: &Edp, scope: &Scope, new: NewCluster) -> Result<Cluster> {
    validate::name("cluster", &new.name, 80)?;
    let limit = check_limit(new.max_concurrent_jobs)?;
    validate::description(&new.description)?;
    let engine = edp.engines().get(&new.plugin_name).ok_or_else(|| unknown_engine(edp, &new.plugin_name))?;
    let version = new.plugin_version.unwrap_or_else(|| engine.description.version.clone());
    ensure_unique::<cluster::Entity>(edp, scope, &new.name, None).await?;

    let id = uuid::Uuid::new_v4().to_string();
    // Before the check: checking a host cluster may already run programs
    // its configs name (spark-submit --version).
    let placement = placement(edp, &new.plugin_name, &id, &new.name, &new.cluster_configs).await?;
    admit(scope, placement)?;
    let (status, reason, info) = check(edp, &new.plugin_name, &id, &new.name, &new.cluster_configs).await?;
    let now = time::now();
    let row = cluster::ActiveModel {
        id: Set(id),
        project_id: Set(scope.project_id.clone()),
        name: Set(new.name.clone()),
        description: Set(new.description),
        plugin_name: Set(new.plugin_name),
        plugin_version: Set(version),
        cluster_configs: Set(Value::Object(new.cluster_configs)),
        status: Set(status),
        status_description: Set(reason),
        info: Set(info),
        declared: Set(false),
        placement: Set(placement.as_str().into()),
        projects: Set(None),
        max_concurrent_jobs: Set(limit),
        is_public: Set(new.is_public),
        is_protected: Set(new.is_protected),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(edp.db())
    .await
    .map_err(name_conflict("cluster", &new.name))?;
    crate::observe::cluster_checked(&row, "registered");
    Ok(view(edp, row))
}

/// Clusters declared in the configuration file: created or brought up to
/// date at every start, public, protected, with a stable id (a UUIDv5 of
/// the name) so executions keep pointing at them across restarts. A host
/// cluster serves `projects` (the operator's list).
pub async fn declare(
    edp: &Edp,
    owner: &str,
    name: &str,
    plugin_name: &str,
    configs: Object,
    projects: Vec<String>,
    max_concurrent_jobs: Option<u32>,
) -> Result<Cluster> {
    validate::name("cluster", name, 80)?;
    let limit = check_limit(max_concurrent_jobs)?;
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, format!("edp:cluster:{name}").as_bytes()).to_string();
    // An unknown placement counts as the host's: the stricter rule.
    let placement = placement(edp, plugin_name, &id, name, &configs).await.unwrap_or(Placement::Host);
    let (status, reason, info) = match edp.engines().get(plugin_name) {
        Some(_) => check(edp, plugin_name, &id, name, &configs)
            .await
            .unwrap_or_else(|e| (ERROR.into(), Some(e.to_string()), Value::Null)),
        None => (ERROR.into(), Some(unknown_engine(edp, plugin_name).to_string()), Value::Null),
    };
    let version = edp.engines().get(plugin_name).map(|e| e.description.version.clone()).unwrap_or_default();
    let now = time::now();
    let existing = crate::db::by_key(cluster::Entity::find_by_id(id.clone()), edp.db()).await?;
    let row = cluster::ActiveModel {
        id: Set(id),
        project_id: Set(owner.to_string()),
        name: Set(name.to_string()),
        description: Set("declared in the configuration file".into()),
        plugin_name: Set(plugin_name.to_string()),
        plugin_version: Set(version),
        cluster_configs: Set(Value::Object(configs)),
        status: Set(status),
        status_description: Set(reason),
        info: Set(info),
        declared: Set(true),
        placement: Set(placement.as_str().into()),
        projects: Set(Some(serde_json::json!(projects))),
        max_concurrent_jobs: Set(limit),
        is_public: Set(true),
        is_protected: Set(true),
        created_at: Set(existing.as_ref().map_or(now, |e| e.created_at)),
        updated_at: Set(now),
    };
    let row = match existing {
        Some(_) => row.update(edp.db()).await?,
        None => row.insert(edp.db()).await?,
    };
    crate::observe::cluster_checked(&row, "declared");
    Ok(view(edp, row))
}

pub async fn get(edp: &Edp, scope: &Scope, id: &str) -> Result<Cluster> {
    Ok(view(edp, find(edp, scope, id).await?))
}

pub async fn list(edp: &Edp, scope: &Scope, filter: ClusterFilter, query: &ListQuery) -> Result<Page<Cluster>> {
    let mut select =
        cluster::Entity::find().filter(scope.visible(cluster::Column::ProjectId, cluster::Column::IsPublic));
    if let Some(name) = &filter.name {
        select = select.filter(cluster::Column::Name.like(like(name)));
    }
    if let Some(plugin) = filter.plugin_name {
        select = select.filter(cluster::Column::PluginName.eq(plugin));
    }
    if let Some(version) = filter.plugin_version {
        select = select.filter(cluster::Column::PluginVersion.eq(version));
    }
    let sort = paging::sort(
        query.sort_by.as_deref(),
        &[
            ("id", cluster::Column::Id),
            ("name", cluster::Column::Name),
            ("created_at", cluster::Column::CreatedAt),
            ("status", cluster::Column::Status),
            ("plugin_name", cluster::Column::PluginName),
            ("plugin_version", cluster::Column::PluginVersion),
        ],
        cluster::Column::CreatedAt,
    )?;
    let page = paging::page(edp.db(), select, cluster::Column::Id, sort, query).await?;
    Ok(page.map(|r| view(edp, r)))
}

pub async fn update(edp: &Edp, scope: &Scope, id: &str, patch: ClusterPatch) -> Result<Cluster> {
    let row = find(edp, scope, id).await?;
    let limit = patch.max_concurrent_jobs.map(check_limit).transpose()?;
    let only_flags = patch.name.is_none()
        && patch.description.is_none()
        && patch.cluster_configs.is_none()
        && patch.max_concurrent_jobs.is_none()
        && !patch.verify;
    let unprotects = patch.is_protected == Some(false);
    check_update(scope, "cluster", &row.project_id, row.is_protected, only_flags || unprotects)?;
    if row.declared && (patch.name.is_some() || patch.cluster_configs.is_some() || limit.is_some()) {
        return Err(Error::UpdateFailed("a cluster declared in the configuration file is changed there".into()));
    }
    catalog::check_changes::<cluster::Entity>(edp, scope, id, patch.name.as_deref(), patch.description.as_deref(), 80)
        .await?;
    let mut active: cluster::ActiveModel = row.clone().into();
    let checked = patch.cluster_configs.is_some() || patch.verify;
    if checked {
        let configs =
            patch.cluster_configs.unwrap_or_else(|| row.cluster_configs.as_object().cloned().unwrap_or_default());
        let name = patch.name.as_deref().unwrap_or(&row.name);
        let placement = placement(edp, &row.plugin_name, &row.id, name, &configs).await?;
        admit(scope, placement)?;
        let (status, reason, info) = check(edp, &row.plugin_name, &row.id, name, &configs).await?;
        active.placement = Set(placement.as_str().into());
        active.cluster_configs = Set(Value::Object(configs));
        active.status = Set(status);
        active.status_description = Set(reason);
        active.info = Set(info);
    }
    if let Some(limit) = limit {
        active.max_concurrent_jobs = Set(limit);
    }
    active.set_common(patch.name.clone(), patch.description.clone(), patch.is_public, patch.is_protected);
    let row = active.update(edp.db()).await.map_err(name_conflict("cluster", patch.name.as_deref().unwrap_or("")))?;
    if checked {
        crate::observe::cluster_checked(&row, "checked again");
    }
    Ok(view(edp, row))
}

pub async fn delete(edp: &Edp, scope: &Scope, id: &str) -> Result<()> {
    let row = find(edp, scope, id).await?;
    check_delete(scope, "cluster", &row.project_id, row.is_protected)?;
    let running = job_execution::Entity::find()
        .filter(job_execution::Column::ClusterId.eq(id))
        .filter(job_execution::Column::Status.is_in(Status::ACTIVE.iter().map(|s| s.as_str())))
        .count(edp.db())
        .await?;
    if running > 0 {
        return Err(Error::DeletionFailed(format!(
            "cluster {id} has {running} job(s) not finished: cancel them first"
        )));
    }
    cluster::Entity::delete_by_id(id).exec(edp.db()).await?;
    Ok(())
}

/// (Active, Error) clusters of every project, for the start-up summary.
pub async fn count_by_status(edp: &Edp) -> Result<(u64, u64)> {
    let count =
        |status: &'static str| cluster::Entity::find().filter(cluster::Column::Status.eq(status)).count(edp.db());
    Ok((count(ACTIVE).await?, count(ERROR).await?))
}

/// The cluster row, if the scope may see it.
pub(crate) async fn find(edp: &Edp, scope: &Scope, id: &str) -> Result<cluster::Model> {
    catalog::find::<cluster::Entity>(edp, scope, id).await
}

/// Re-runs the engine's check on a cluster in `Error` (the backend may be
/// back) and records the outcome. Returns the row as it is now.
pub(crate) async fn recheck(edp: &Edp, row: cluster::Model) -> Result<cluster::Model> {
    let configs = row.cluster_configs.as_object().cloned().unwrap_or_default();
    let placement = placement(edp, &row.plugin_name, &row.id, &row.name, &configs).await.unwrap_or(Placement::Host);
    let (status, reason, info) = check(edp, &row.plugin_name, &row.id, &row.name, &configs).await?;
    let mut active: cluster::ActiveModel = row.into();
    active.placement = Set(placement.as_str().into());
    active.status = Set(status);
    active.status_description = Set(reason);
    active.info = Set(info);
    active.updated_at = Set(time::now());
    let row = active.update(edp.db()).await?;
    crate::observe::cluster_checked(&row, "checked again at launch");
    Ok(row)
}

pub(crate) fn spec(row: &cluster::Model) -> ClusterSpec {
    ClusterSpec {
        id: row.id.clone(),
        name: row.name.clone(),
        configs: row.cluster_configs.as_object().cloned().unwrap_or_default(),
    }
}

/// Where the cluster's jobs would run, by its engine, from its configs
/// alone (nothing is run to find out).
async fn placement(edp: &Edp, engine_id: &str, id: &str, name: &str, configs: &Object) -> Result<Placement> {
    let client = edp.engines().client(engine_id).ok_or_else(|| unknown_engine(edp, engine_id))?;
    let spec = ClusterSpec { id: id.to_string(), name: name.to_string(), configs: configs.clone() };
    match client.placement(&spec, edp.settings().call_timeout).await {
        Ok(placement) => Ok(placement),
        Err(CallError::Engine { kind, message }) if kind == ErrorKind::INVALID_INPUT => {
            Err(Error::Validation(format!("cluster_configs: {message}")))
        }
        // Not knowing, assume the stricter: the host.
        Err(e) => {
            tracing::warn!(engine = engine_id, cluster = name, error = %e, "placement unknown; taken as the host");
            Ok(Placement::Host)
        }
    }
}

/// Registering (or re-pointing) a cluster that runs jobs on edpd's host is
/// for admins: such a cluster runs what its configs name as edpd's user.
fn admit(scope: &Scope, placement: Placement) -> Result<()> {
    if placement == Placement::Host && !scope.is_admin() {
        return Err(Error::Forbidden(
            "this cluster would run jobs as processes on edpd's host: only an admin may register it (a token with \
             admin = true in [auth] tokens), or the operator may declare it in [clusters.<name>]"
                .into(),
        ));
    }
    Ok(())
}

/// The engine's verdict: (status, reason, info). Bad configs are the user's
/// to fix now (400); an unreachable backend registers the cluster in `Error`.
async fn check(
    edp: &Edp,
    engine_id: &str,
    id: &str,
    name: &str,
    configs: &Object,
) -> Result<(String, Option<String>, Value)> {
    let client = edp.engines().client(engine_id).ok_or_else(|| unknown_engine(edp, engine_id))?;
    let spec = ClusterSpec { id: id.to_string(), name: name.to_string(), configs: configs.clone() };
    match client.check_cluster(&spec, edp.settings().call_timeout).await {
        Ok(check) if check.ok => Ok((ACTIVE.into(), None, Value::Object(check.info))),
        Ok(check) => Ok((
            ERROR.into(),
            Some(check.reason.unwrap_or_else(|| "the engine's check failed".into())),
            Value::Object(check.info),
        )),
        Err(CallError::Engine { kind, message }) if kind == ErrorKind::INVALID_INPUT => {
            Err(Error::Validation(format!("cluster_configs: {message}")))
        }
        Err(e) => Ok((ERROR.into(), Some(e.to_string()), Value::Null)),
    }
}

fn view(edp: &Edp, row: cluster::Model) -> Cluster {
    let secrets = edp.engines().secret_configs(&row.plugin_name);
    Cluster::from_row(row, &secrets)
}

fn unknown_engine(edp: &Edp, id: &str) -> Error {
    let loaded: Vec<String> = edp.engines().loaded().map(|e| e.description.id.clone()).collect();
    Error::InvalidReference(format!(
        "engine '{id}' is not loaded (loaded: {}); see GET /v2/engines",
        if loaded.is_empty() { "none".to_string() } else { loaded.join(", ") }
    ))
}
