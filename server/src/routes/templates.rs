use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::catalog::job_templates::{self, JobTemplatePatch, NewJobTemplate};
use edp_core::catalog::job_types::{self, JobTypeFilter};

use super::{accepted, no_content, ok, page};
use crate::error::ApiResult;
use crate::extract::{Json, PAGING, Params};
use crate::startup::AppState;

pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewJobTemplate>) -> ApiResult<Response> {
    Ok(accepted("job_template", job_templates::create(&s.edp, &scope, new).await?))
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["type", "name"]].concat())?;
    let found =
        job_templates::list(&s.edp, &scope, params.get("type"), params.get("name"), &params.list_query()?).await?;
    Ok(page("job_templates", found))
}

pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job_template", job_templates::get(&s.edp, &scope, &id).await?))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<JobTemplatePatch>,
) -> ApiResult<Response> {
    Ok(accepted("job_template", job_templates::update(&s.edp, &scope, &id, patch).await?))
}

pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    job_templates::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

pub async fn config_hints(
    State(s): State<AppState>,
    _scope: Scope,
    Path(job_type): Path<String>,
) -> ApiResult<Response> {
    Ok(axum::Json(job_templates::config_hints(&s.edp, &job_type)?).into_response())
}

pub async fn job_types(State(s): State<AppState>, _scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&["type", "plugin_name", "plugin_version", "hints"])?;
    let filter = JobTypeFilter {
        types: params.all("type"),
        plugin_name: params.get("plugin_name"),
        plugin_version: params.get("plugin_version"),
        hints: params.flag("hints")?,
    };
    Ok(ok("job_types", job_types::list(&s.edp, &filter)))
}
