//! Job templates, their config hints, and the job types engines offer.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::catalog::job_templates::{self, JobTemplatePatch, NewJobTemplate};
use edp_core::catalog::job_types::{self, JobTypeFilter};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{accepted, no_content, ok, page};
use crate::error::ApiResult;
use crate::extract::{Json, Query, QueryParams, list_query};
use crate::openapi::{JobTemplateBody, JobTemplateList, JobTypesBody};
use crate::startup::AppState;

#[utoipa::path(post, path = "/job-templates", tag = "job-templates", request_body = NewJobTemplate,
    responses((status = 202, description = "Created", body = JobTemplateBody)))]
pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewJobTemplate>) -> ApiResult<Response> {
    Ok(accepted("job_template", job_templates::create(&s.edp, &scope, new).await?))
}

list_query!(TemplateQuery {
    /// A job type (`Shell`, `Spark`, ...).
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Templates whose name contains this.
    name: Option<String>,
});

#[utoipa::path(get, path = "/job-templates", tag = "job-templates", params(TemplateQuery),
    responses((status = 200, description = "The templates the caller may see", body = JobTemplateList)))]
pub async fn list(State(s): State<AppState>, scope: Scope, Query(q): Query<TemplateQuery>) -> ApiResult<Response> {
    let query = q.list_query();
    Ok(page("job_templates", job_templates::list(&s.edp, &scope, q.kind, q.name, &query).await?))
}

#[utoipa::path(get, path = "/job-templates/{id}", tag = "job-templates", params(("id" = String, Path)),
    responses((status = 200, description = "The template", body = JobTemplateBody)))]
pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_template", job_templates::get(&s.edp, &scope, &id).await?))
}

#[utoipa::path(patch, path = "/job-templates/{id}", tag = "job-templates", params(("id" = String, Path)),
    request_body = JobTemplatePatch, responses((status = 202, description = "Changed", body = JobTemplateBody)))]
pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<JobTemplatePatch>,
) -> ApiResult<Response> {
    Ok(accepted("job_template", job_templates::update(&s.edp, &scope, &id, patch).await?))
}

#[utoipa::path(delete, path = "/job-templates/{id}", tag = "job-templates", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_templates::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/job-templates/config-hints/{job_type}", tag = "job-templates",
    params(("job_type" = String, Path, description = "`Shell`, `Spark`, `MapReduce`, ...")),
    responses((status = 200, description = "Sahara's config hints for the type", body = Object)))]
pub async fn config_hints(
    State(s): State<AppState>,
    _scope: Scope,
    Path(job_type): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(job_templates::config_hints(&s.edp, &job_type)?).into_response())
}

#[derive(Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct JobTypeQuery {
    /// Only these types (the key repeated for several).
    #[serde(rename = "type", default)]
    types: Vec<String>,
    /// Only this engine's.
    plugin_name: Option<String>,
    plugin_version: Option<String>,
    /// With each type's config hints.
    #[serde(default)]
    hints: bool,
}

impl QueryParams for JobTypeQuery {}

#[utoipa::path(get, path = "/job-types", tag = "job-templates", params(JobTypeQuery),
    responses((status = 200, description = "Job types and the engines that run them", body = JobTypesBody)))]
pub async fn job_types(State(s): State<AppState>, _scope: Scope, Query(q): Query<JobTypeQuery>) -> ApiResult<Response> {
    let filter =
        JobTypeFilter { types: q.types, plugin_name: q.plugin_name, plugin_version: q.plugin_version, hints: q.hints };
    Ok(ok("job_types", job_types::list(&s.edp, &filter)))
}
