//! v1.1 "jobs": job templates, launched with `POST /jobs/{id}/execute`.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::catalog::job_templates::{self, JobTemplatePatch, NewJobTemplate};
use edp_core::manager::{JobConfigs, NewJob};
use edp_engine_api::wire::Object;
use serde::Deserialize;

use super::shape;
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::openapi::{V1ExecutionBody, V1JobBody, V1JobList};
use crate::routes::templates::TemplateQuery;
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

#[utoipa::path(post, path = "/jobs", tag = "v1.1", request_body = NewJobTemplate,
    responses((status = 202, description = "A job template, created", body = V1JobBody)))]
pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewJobTemplate>) -> ApiResult<Response> {
    Ok(accepted("job", shape::job(job_templates::create(&s.edp, &scope, new).await?)))
}

#[utoipa::path(get, path = "/jobs", tag = "v1.1", params(TemplateQuery),
    responses((status = 200, description = "The job templates the caller may see", body = V1JobList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<TemplateQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    let found = job_templates::list(&s.edp, &scope, q.kind, q.name, &query).await?;
    Ok(page("jobs", found.map(shape::job)))
}

#[utoipa::path(get, path = "/jobs/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 200, description = "The job template", body = V1JobBody)))]
pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job", shape::job(job_templates::get(&s.edp, &scope, &id).await?)))
}

#[utoipa::path(patch, path = "/jobs/{id}", tag = "v1.1", params(("id" = String, Path)), request_body = JobTemplatePatch,
    responses((status = 202, description = "Changed", body = V1JobBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<JobTemplatePatch>,
) -> ApiResult<Response> {
    Ok(accepted("job", shape::job(job_templates::update(&s.edp, &scope, &id, patch).await?)))
}

#[utoipa::path(delete, path = "/jobs/{id}", tag = "v1.1", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_templates::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/jobs/config-hints/{job_type}", tag = "v1.1",
    params(("job_type" = String, Path, description = "`Shell`, `Spark`, `MapReduce`, ...")),
    responses((status = 200, description = "Sahara's config hints for the type", body = Object)))]
pub async fn config_hints(
    State(s): State<AppState>,
    _scope: Scope,
    Path(job_type): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(job_templates::config_hints(&s.edp, &job_type)?).into_response())
}

/// v1.1's launch body: v2's, less the template, which is in the path.
#[derive(Deserialize, Debug, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Execute {
    cluster_id: String,
    #[serde(default)]
    input_id: Option<String>,
    #[serde(default)]
    output_id: Option<String>,
    #[serde(default)]
    job_configs: JobConfigs,
    #[serde(default)]
    interface: Option<Object>,
    #[serde(default)]
    is_public: bool,
    #[serde(default)]
    is_protected: bool,
}

impl Execute {
    fn of_template(self, job_template_id: String) -> NewJob {
        NewJob {
            job_template_id,
            cluster_id: self.cluster_id,
            input_id: self.input_id,
            output_id: self.output_id,
            job_configs: self.job_configs,
            interface: self.interface,
            is_public: self.is_public,
            is_protected: self.is_protected,
        }
    }
}

/// With an `Idempotency-Key`, as v2's submit (the keys are the same).
#[utoipa::path(post, path = "/jobs/{id}/execute", tag = "v1.1",
    params(("id" = String, Path, description = "The job template"),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key and job from the same project within 24 h answers the first job")),
    request_body = Execute, responses((status = 202, description = "Launched", body = V1ExecutionBody)))]
pub async fn execute(
    State(s): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Execute>,
) -> ApiResult<Response> {
    // The template is in the path here, so an unknown one is a 404 (as any
    // id in a path), where v2 answers INVALID_REFERENCE for one in a body.
    job_templates::get(&s.edp, &scope, &id).await?;
    let execution = crate::routes::jobs::submit(&s.edp, &scope, &headers, body.of_template(id)).await?;
    Ok(accepted("job_execution", shape::execution(execution)))
}
