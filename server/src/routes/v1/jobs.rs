//! v1.1 "jobs": job templates, launched with `POST /jobs/{id}/execute`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::catalog::job_templates::{self, JobTemplatePatch, NewJobTemplate};
use edp_core::manager::{self, JobConfigs, NewJob};
use edp_engine_api::wire::Object;
use serde::Deserialize;

use super::shape;
use crate::error::ApiResult;
use crate::extract::{Json, PAGING, Params};
use crate::routes::{accepted, no_content, ok, page};
use crate::startup::AppState;

pub async fn create(State(s): State<AppState>, scope: Scope, Json(new): Json<NewJobTemplate>) -> ApiResult<Response> {
    Ok(accepted("job", shape::job(job_templates::create(&s.edp, &scope, new).await?)))
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["type", "name"]].concat())?;
    let found =
        job_templates::list(&s.edp, &scope, params.get("type"), params.get("name"), &params.list_query()?).await?;
    Ok(page("jobs", found.map(shape::job)))
}

pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("job", shape::job(job_templates::get(&s.edp, &scope, &id).await?)))
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<JobTemplatePatch>,
) -> ApiResult<Response> {
    Ok(accepted("job", shape::job(job_templates::update(&s.edp, &scope, &id, patch).await?)))
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

/// v1.1's launch body: v2's, less the template, which is in the path.
#[derive(Deserialize, Debug)]
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

pub async fn execute(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(body): Json<Execute>,
) -> ApiResult<Response> {
    // The template is in the path here, so an unknown one is a 404 (as any
    // id in a path), where v2 answers INVALID_REFERENCE for one in a body.
    job_templates::get(&s.edp, &scope, &id).await?;
    let execution = manager::launch_job(&s.edp, &scope, body.of_template(id)).await?;
    Ok(accepted("job_execution", shape::execution(execution)))
}
