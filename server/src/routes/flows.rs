//! Flows: several jobs submitted as one, ordered by the data they share.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::flows::{self, NewFlow};
use edp_core::idempotency::{self, Kind, Outcome};
use serde::Deserialize;

use super::{accepted, no_content, ok, page};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, PAGING, Params};
use crate::startup::AppState;

/// With an `Idempotency-Key`, a repeated submit answers the first flow.
pub async fn submit(
    State(s): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
    Json(new): Json<NewFlow>,
) -> ApiResult<Response> {
    let Some(key) = super::jobs::idempotency_key(&headers)? else {
        return Ok(accepted("flow", flows::submit(&s.edp, &scope, new).await?));
    };
    let body = serde_json::to_value(&new).map_err(|e| ApiError::validation(e.to_string()))?;
    let submitted = idempotency::once(&s.edp, &scope.project_id, Kind::Flow, &key, &body, || async {
        let flow = flows::submit(&s.edp, &scope, new).await?;
        let id = flow.id.clone();
        Ok((flow, id))
    })
    .await?;
    Ok(match submitted {
        Outcome::Made(flow) => accepted("flow", flow),
        Outcome::Earlier(id) => accepted("flow", flows::get(&s.edp, &scope, &id).await?),
    })
}

pub async fn list(State(s): State<AppState>, scope: Scope, params: Params) -> ApiResult<Response> {
    params.allow(&[&PAGING[..], &["status"]].concat())?;
    Ok(page("flows", flows::list(&s.edp, &scope, params.get("status"), &params.list_query()?).await?))
}

pub async fn get(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(ok("flow", flows::get(&s.edp, &scope, &id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowPatch {
    info: FlowAction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowAction {
    /// `cancel`, as for jobs.
    status: String,
}

pub async fn update(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    Json(patch): Json<FlowPatch>,
) -> ApiResult<Response> {
    if !patch.info.status.eq_ignore_ascii_case("cancel") {
        return Err(ApiError::validation(format!("info.status '{}' is not an action: use cancel", patch.info.status)));
    }
    Ok(accepted("flow", flows::cancel(&s.edp, &scope, &id).await?))
}

pub async fn delete(State(s): State<AppState>, scope: Scope, Path(id): Path<String>) -> ApiResult<Response> {
    flows::delete(&s.edp, &scope, &id).await?;
    Ok(no_content())
}

/// `?format=dot` for Graphviz; JSON otherwise.
pub async fn graph(
    State(s): State<AppState>,
    scope: Scope,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.allow(&["format"])?;
    match params.get("format").as_deref() {
        None | Some("json") => Ok(ok("graph", flows::graph_json(&s.edp, &scope, &id).await?)),
        Some("dot") => {
            let dot = flows::graph_dot(&s.edp, &scope, &id).await?;
            Ok(([(header::CONTENT_TYPE, "text/vnd.graphviz; charset=utf-8")], dot).into_response())
        }
        Some(other) => Err(ApiError::bad_params(format!("format '{other}' is not known: use json or dot"))),
    }
}
