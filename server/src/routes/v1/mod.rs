//! Sahara's API v1.1, which the `openstack dataprocessing` commands use by
//! default: a translation of v1.1's paths, verbs, names and shapes to and
//! from core's, which v2 calls too. No rule lives here; every check is
//! core's, so the two versions cannot disagree. The project is always in
//! the URL (`/v1.1/{project}/...`), lifted out before routing (auth.rs).
//!
//! | v1.1 | core (v2) |
//! |---|---|
//! | `/jobs` (`job`, `jobs`) | job templates |
//! | `POST /jobs/{id}/execute` | `POST /v2/jobs` with `job_template_id` |
//! | `/job-executions` (`job_execution(s)`, `job_id`, `oozie_job_id`) | jobs |
//! | `GET /job-executions/{id}/refresh-status`, `/cancel` | `?refresh_status=true`, `PATCH` cancel |
//! | `PUT /data-sources/{id}`, `PUT /job-binaries/{id}` | `PATCH` |
//! | `tenant_id`, cluster `hadoop_version` | `project_id`, `plugin_version` |

mod binaries;
mod clusters;
mod data_sources;
mod executions;
mod job_types;
mod jobs;
pub(crate) mod shape;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::startup::AppState;

/// The v1.1 routes, to be nested under `/v1.1`, each described by its
/// handler's `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(clusters::list, clusters::create))
        .routes(routes!(clusters::get, clusters::update, clusters::delete))
        .routes(routes!(data_sources::list, data_sources::create))
        .routes(routes!(data_sources::get, data_sources::update, data_sources::delete))
        .routes(routes!(binaries::list, binaries::create))
        .routes(routes!(binaries::get, binaries::update, binaries::delete))
        .routes(routes!(binaries::data))
        .routes(routes!(binaries::list_internals))
        .routes(routes!(binaries::get_internal, binaries::upload, binaries::update_internal, binaries::delete_internal))
        .routes(routes!(binaries::internal_data))
        .routes(routes!(jobs::list, jobs::create))
        .routes(routes!(jobs::config_hints))
        .routes(routes!(jobs::get, jobs::update, jobs::delete))
        .routes(routes!(jobs::execute))
        .routes(routes!(executions::list))
        .routes(routes!(executions::get, executions::update, executions::delete))
        .routes(routes!(executions::refresh))
        .routes(routes!(executions::cancel))
        .routes(routes!(job_types::list))
}
