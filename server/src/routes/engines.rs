//! `GET /v2/engines`: what is loaded, and what was refused and why.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use serde_json::json;

use crate::startup::AppState;

pub async fn list(State(s): State<AppState>, _scope: Scope) -> Response {
    let engines = s.edp.engines();
    let loaded: Vec<_> = engines
        .loaded()
        .map(|e| {
            let mut v = serde_json::to_value(&e.description).unwrap_or_default();
            v["file"] = json!(e.file.display().to_string());
            v
        })
        .collect();
    let refused: Vec<_> =
        engines.refused().iter().map(|r| json!({"file": r.file.display().to_string(), "reason": r.reason})).collect();
    axum::Json(json!({"engines": loaded, "refused": refused})).into_response()
}
