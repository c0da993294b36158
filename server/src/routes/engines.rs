//! `GET /v2/engines`: what is loaded, what was refused and why, and which
//! loaded engines' files changed (a restart loads them). `POST
//! /v2/engines/rescan` looks at the plugin directory now and answers the
//! same; any caller may ask, as scanning a directory the operator fills
//! changes nothing a caller controls.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use edp_core::Scope;
use edp_core::engines::EngineSet;
use serde_json::json;

use crate::openapi::EngineListing;
use crate::startup::AppState;

#[utoipa::path(get, path = "/engines", tag = "engines",
    responses((status = 200, description = "Engines loaded, plugins refused, engines whose file changed", body = EngineListing)))]
pub async fn list(State(s): State<AppState>, _scope: Scope) -> Response {
    listing(&s.edp.engines().snapshot())
}

#[utoipa::path(post, path = "/engines/rescan", tag = "engines",
    responses((status = 200, description = "The plugin directory scanned now; the listing as it left it", body = EngineListing)))]
pub async fn rescan(State(s): State<AppState>, _scope: Scope) -> Response {
    listing(&s.edp.engines().rescan().await)
}

fn listing(engines: &Arc<EngineSet>) -> Response {
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
    let restart_needed: Vec<_> = engines
        .restart_needed()
        .iter()
        .map(|r| json!({"engine": r.engine, "file": r.file.display().to_string(), "reason": r.reason}))
        .collect();
    axum::Json(json!({"engines": loaded, "refused": refused, "restart_needed": restart_needed})).into_response()
}
