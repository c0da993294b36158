//! Who a request acts for. Sahara puts the project in the URL
//! (`/v1.1/{project}/...`, optionally `/v2/{project}/...`) and Keystone
//! vouches for the token; we map tokens to projects in the configuration.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Request};
use axum::http::Uri;
use axum::http::request::Parts;
use edp_core::Scope;

use crate::error::ApiError;
use crate::startup::AppState;

/// The v2 collections: a first segment after `/v2/` that is not one of
/// these is a project id.
const V2_COLLECTIONS: &[&str] = &[
    "clusters",
    "data-sources",
    "engines",
    "events",
    "flows",
    "job-binaries",
    "job-binary-internals",
    "job-templates",
    "job-types",
    "jobs",
];

#[derive(Clone, Debug)]
pub struct Auth {
    pub default_project: String,
    pub tokens: BTreeMap<String, String>,
    pub anonymous: bool,
}

/// The project named in the URL, taken out before routing.
#[derive(Clone, Debug)]
struct UrlProject(String);

/// Moves a project id out of the path (`/v2/{p}/jobs` → `/v2/jobs`) into
/// the request's extensions, so one set of routes serves both forms.
pub async fn lift_project(mut req: Request) -> Request {
    let path = req.uri().path();
    let mut segments = path.trim_start_matches('/').splitn(3, '/');
    let (version, second, rest) = (segments.next(), segments.next(), segments.next());
    let project = match (version, second) {
        (Some("v1.1"), Some(p)) if !p.is_empty() => Some(p.to_string()),
        (Some("v2"), Some(p)) if !p.is_empty() && !V2_COLLECTIONS.contains(&p) => Some(p.to_string()),
        _ => None,
    };
    if let (Some(project), Some(version)) = (project, version) {
        let new_path = format!("/{version}/{}", rest.unwrap_or(""));
        let new_path = new_path.trim_end_matches('/').to_string();
        let pq = match req.uri().query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
                req.extensions_mut().insert(UrlProject(project));
            }
        }
    }
    req
}

impl FromRequestParts<AppState> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let auth = &state.auth;
        let url_project = parts.extensions.get::<UrlProject>().map(|p| p.0.clone());
        let token = parts.headers.get("x-auth-token").and_then(|v| v.to_str().ok());
        let project = match token.and_then(|t| auth.tokens.get(t)) {
            Some(project) => {
                if url_project.as_ref().is_some_and(|p| p != project) {
                    return Err(ApiError::unauthorized("the token does not belong to the project in the URL"));
                }
                project.clone()
            }
            None if auth.anonymous => url_project.unwrap_or_else(|| auth.default_project.clone()),
            None if token.is_some() => return Err(ApiError::unauthorized("unknown token")),
            None => return Err(ApiError::unauthorized("an X-Auth-Token header is required")),
        };
        Ok(Scope::new(project))
    }
}
