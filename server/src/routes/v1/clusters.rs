//! v1.1 clusters: v2's, with the plugin version named `hadoop_version`.

use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::clusters::{self, ClusterFilter, ClusterPatch};
use edp_engine_api::wire::Object;
use serde::Deserialize;

use super::shape;
use crate::error::ApiResult;
use crate::extract::{Json, PAGING, Params};
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

/// v1.1's registration body: core's, with v1.1's name for the version.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    name: String,
    #[serde(default)]
    description: String,
    plugin_name: String,
    #[serde(default)]
    hadoop_version: Option<String>,
    #[serde(default)]
    cluster_configs: Object,
    #[serde(default)]
    is_public: bool,
    #[serde(default)]
    is_protected: bool,
}

impl From<NewCluster> for clusters::NewCluster {
    fn from(new: NewCluster) -> Self {
        Self {
            name: new.name,
            description: new.description,
            plugin_name: new.plugin_name,
            plugin_version: new.hadoop_version,
            cluster_configs: new.cluster_configs,
            max_concurrent_jobs: None,
            is_public: new.is_public,
            is_protected: new.is_protected,
        }
    }
}

pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewCluster>) -> ApiResult<Response> {
    Ok(accepted("cluster", shape::cluster(clusters::create(&s.edp, &scope, new.into()).await?)))
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["name", "plugin_name", "hadoop_version"]].concat())?;
    let filter = ClusterFilter {
        name: params.get("name"),
        plugin_name: params.get("plugin_name"),
        plugin_version: params.get("hadoop_version"),
    };
    let query = shape::list_query(&params, shape::CLUSTER_SORTS)?;
    Ok(page("clusters", clusters::list(&s.edp, &scope, filter, &query).await?.map(shape::cluster)))
}

/// `show_progress` (python-saharaclient always sends it) has nothing to
/// show: a registered cluster is never provisioned.
pub async fn get(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.allow(&["show_progress"])?;
    params.flag("show_progress")?;
    Ok(ok("cluster", shape::cluster(clusters::get(&s.edp, &scope, &id).await?)))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<ClusterPatch>,
) -> ApiResult<Response> {
    Ok(accepted("cluster", shape::cluster(clusters::update(&s.edp, &scope, &id, patch).await?)))
}

pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    clusters::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
