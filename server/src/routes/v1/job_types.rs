//! v1.1 job types: v2's list, filtered by v1.1's parameter names.

use axum::extract::State;
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::job_types::{self, JobTypeFilter};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Query, QueryParams};
use crate::openapi::JobTypesBody;
use crate::routes::ok;
use crate::startup::AppState;
use serde::Deserialize;
use utoipa::IntoParams;

/// `type` (repeatable), `plugin`, `version` and `hints`, as Sahara v1.1;
/// also `plugin_version`, which `openstack dataprocessing job type list
/// --plugin-version` sends (Sahara ignored it).
#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct JobTypeQuery {
    /// Only these types (the key repeated for several).
    #[serde(rename = "type", default)]
    types: Vec<String>,
    /// Only this engine's.
    plugin: Option<String>,
    version: Option<String>,
    /// The same as `version`.
    plugin_version: Option<String>,
    /// With each type's config hints.
    #[serde(default)]
    hints: bool,
}

impl QueryParams for JobTypeQuery {}

#[utoipa::path(get, path = "/job-types", tag = "v1.1", params(JobTypeQuery),
    responses((status = 200, description = "Job types and the engines that run them", body = JobTypesBody)))]
pub async fn list(State(s): State<AppState>, _scope: Scope, Query(q): Query<JobTypeQuery>) -> ApiResult<Response> {
    let plugin_version = match (q.version, q.plugin_version) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_params(format!("version '{a}' and plugin_version '{b}' disagree")));
        }
        (version, plugin_version) => version.or(plugin_version),
    };
    let filter = JobTypeFilter { types: q.types, plugin_name: q.plugin, plugin_version, hints: q.hints };
    Ok(ok("job_types", job_types::list(&s.edp, &filter)))
}
