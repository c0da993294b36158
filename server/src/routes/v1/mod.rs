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
mod shape;

use axum::Router;
use axum::routing::{get, post};

use crate::startup::AppState;

/// The v1.1 routes, to be nested under `/v1.1`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clusters", get(clusters::list).post(clusters::create))
        .route("/clusters/{id}", get(clusters::get).patch(clusters::update).delete(clusters::delete))
        .route("/data-sources", get(data_sources::list).post(data_sources::create))
        .route("/data-sources/{id}", get(data_sources::get).put(data_sources::update).delete(data_sources::delete))
        .route("/job-binaries", get(binaries::list).post(binaries::create))
        .route("/job-binaries/{id}", get(binaries::get).put(binaries::update).delete(binaries::delete))
        .route("/job-binaries/{id}/data", get(binaries::data))
        .route("/job-binary-internals", get(binaries::list_internals))
        .route(
            "/job-binary-internals/{key}",
            get(binaries::get_internal)
                .put(binaries::upload)
                .patch(binaries::update_internal)
                .delete(binaries::delete_internal),
        )
        .route("/job-binary-internals/{id}/data", get(binaries::internal_data))
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route("/jobs/config-hints/{job_type}", get(jobs::config_hints))
        .route("/jobs/{id}", get(jobs::get).patch(jobs::update).delete(jobs::delete))
        .route("/jobs/{id}/execute", post(jobs::execute))
        .route("/job-executions", get(executions::list))
        .route("/job-executions/{id}", get(executions::get).patch(executions::update).delete(executions::delete))
        .route("/job-executions/{id}/refresh-status", get(executions::refresh))
        .route("/job-executions/{id}/cancel", get(executions::cancel))
        .route("/job-types", get(job_types::list))
}
