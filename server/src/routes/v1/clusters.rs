//! v1.1 clusters: v2's, with the plugin version named `hadoop_version`.

use axum::extract::{Path, State};
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::clusters::{self, ClusterFilter, ClusterPatch};
use edp_engine_api::wire::Object;
use serde::Deserialize;

use super::shape;
use crate::error::ApiResult;
use crate::extract::{Json, Query, list_query};
use crate::openapi::{V1ClusterBody, V1ClusterList};
use crate::routes::clusters::ShowQuery;
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

/// v1.1's registration body: core's, with v1.1's name for the version.
#[derive(Deserialize, Debug, utoipa::ToSchema)]
#[schema(as = V1NewCluster)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    name: String,
    #[serde(default)]
    description: String,
    plugin_name: String,
    #[serde(default)]
    hadoop_version: Option<String>,
    /// The engine's connection settings (`GET /v2/engines` has their schema).
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

#[utoipa::path(post, path = "/clusters", tag = "v1.1", request_body = NewCluster,
    responses((status = 202, description = "Registered", body = V1ClusterBody)))]
pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewCluster>) -> ApiResult<Response> {
    Ok(accepted("cluster", shape::cluster(clusters::create(&s.edp, &scope, new.into()).await?)))
}

list_query!(ClusterQuery {
    /// Clusters whose name contains this.
    name: Option<String>,
    plugin_name: Option<String>,
    hadoop_version: Option<String>,
});

#[utoipa::path(get, path = "/clusters", tag = "v1.1", params(ClusterQuery),
    responses((status = 200, description = "The clusters the caller may see", body = V1ClusterList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<ClusterQuery>) -> ApiResult<Response> {
    let query = shape::list_query(q.list_query(), shape::CLUSTER_SORTS);
    let filter = ClusterFilter { name: q.name, plugin_name: q.plugin_name, plugin_version: q.hadoop_version };
    Ok(page("clusters", clusters::list(&s.edp, &scope, filter, &query).await?.map(shape::cluster)))
}

/// `show_progress` (python-saharaclient always sends it) has nothing to
/// show: a registered cluster is never provisioned.
#[utoipa::path(get, path = "/clusters/{id}", tag = "v1.1", params(("id" = String, Path), ShowQuery),
    responses((status = 200, description = "The cluster", body = V1ClusterBody)))]
pub async fn get(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Query(_): Query<ShowQuery>,
) -> ApiResult<Response> {
    Ok(ok("cluster", shape::cluster(clusters::get(&s.edp, &scope, &id).await?)))
}

#[utoipa::path(patch, path = "/clusters/{id}", tag = "v1.1", params(("id" = String, Path)), request_body = ClusterPatch,
    responses((status = 202, description = "Changed", body = V1ClusterBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<ClusterPatch>,
) -> ApiResult<Response> {
    Ok(accepted("cluster", shape::cluster(clusters::update(&s.edp, &scope, &id, patch).await?)))
}

#[utoipa::path(delete, path = "/clusters/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    clusters::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}
