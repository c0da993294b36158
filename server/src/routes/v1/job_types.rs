//! v1.1 job types: v2's list, filtered by v1.1's parameter names.

use axum::extract::State;
use axum::response::Response;
use edp_core::Scope;
use edp_core::catalog::job_types::{self, JobTypeFilter};

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::routes::ok;
use crate::startup::AppState;

/// `type` (repeatable), `plugin`, `version` and `hints`, as Sahara v1.1;
/// also `plugin_version`, which `openstack dataprocessing job type list
/// --plugin-version` sends (Sahara ignored it).
pub async fn list(State(s): State<AppState>, _scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&["type", "plugin", "version", "plugin_version", "hints"])?;
    let plugin_version = match (params.get("version"), params.get("plugin_version")) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_params(format!("version '{a}' and plugin_version '{b}' disagree")));
        }
        (version, plugin_version) => version.or(plugin_version),
    };
    let filter = JobTypeFilter {
        types: params.all("type"),
        plugin_name: params.get("plugin"),
        plugin_version,
        hints: params.flag("hints")?,
    };
    Ok(ok("job_types", job_types::list(&s.edp, &filter)))
}
