//! Who a request acts for. Sahara puts the project in the URL
//! (`/v1.1/{project}/...`, optionally `/v2/{project}/...`) and Keystone
//! vouches for the token; we map tokens to projects in the configuration.
//!
//! The rules (ARCHITECTURE.md, "Security model"):
//! - **Single-user mode** (no tokens configured): every request is the
//!   operator, an admin of the default project; a project in the URL names
//!   that one project, and any token sent (Sahara clients always send one)
//!   is ignored.
//! - **Tokens**: a known token acts for its project (as an admin, if its
//!   entry says so); an unknown token is 401. A request without a token is
//!   401, or, with `allow_anonymous`, acts for the default project only.
//!   A URL naming another project than the caller's is 403, but for an
//!   admin, who then acts in that project.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use edp_core::Scope;

use crate::config::TokenEntry;
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

/// How requests are authenticated, from the configuration.
#[derive(Clone, Debug)]
pub enum Auth {
    /// No tokens: one user, the operator.
    SingleUser { project: String },
    Tokens {
        tokens: BTreeMap<String, TokenEntry>,
        /// What a request without a token acts for, if anything.
        anonymous: Anonymous,
        default_project: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anonymous {
    Refused,
    /// A member of the default project.
    DefaultProject,
}

impl Auth {
    /// A short description for the start-up log (no token in it).
    pub fn describe(&self) -> String {
        match self {
            Self::SingleUser { project } => format!("single user (no tokens; project {project})"),
            Self::Tokens { tokens, anonymous, default_project } => {
                let admins = tokens.values().filter(|t| t.admin()).count();
                format!(
                    "{} token(s), {admins} admin; anonymous requests {}",
                    tokens.len(),
                    match anonymous {
                        Anonymous::Refused => "refused".to_string(),
                        Anonymous::DefaultProject => format!("act for project {default_project}"),
                    }
                )
            }
        }
    }

    /// The scope a request acts in: its token (or none) and the project its
    /// URL names (or none).
    fn scope(&self, token: Option<&str>, url_project: Option<&str>) -> Result<Scope, ApiError> {
        let (tokens, anonymous, default_project) = match self {
            Self::SingleUser { project } => return Ok(Scope::admin(project.clone())),
            Self::Tokens { tokens, anonymous, default_project } => (tokens, *anonymous, default_project),
        };
        let caller = match token {
            Some(token) => {
                let entry = tokens.get(token).ok_or_else(|| ApiError::unauthorized("unknown token"))?;
                if entry.admin() { Scope::admin(entry.project()) } else { Scope::member(entry.project()) }
            }
            None if anonymous == Anonymous::DefaultProject => Scope::member(default_project.clone()),
            None => return Err(ApiError::unauthorized("an X-Auth-Token header is required")),
        };
        match url_project {
            Some(project) if project != caller.project_id => {
                if caller.is_admin() {
                    Ok(Scope::admin(project))
                } else {
                    Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "FORBIDDEN",
                        format!("this request acts for project {}, not {project}", caller.project_id),
                    ))
                }
            }
            _ => Ok(caller),
        }
    }
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
        let url_project = parts.extensions.get::<UrlProject>().map(|p| p.0.as_str());
        // A header that is not text matches no token.
        let token = parts.headers.get("x-auth-token").map(|v| v.to_str().unwrap_or(""));
        state.auth.scope(token, url_project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenEntry;

    fn tokens(anonymous: Anonymous) -> Auth {
        let mut tokens = BTreeMap::new();
        tokens.insert("tok-a".to_string(), TokenEntry::Project("team-a".into()));
        tokens.insert("tok-ops".to_string(), TokenEntry::Role { project: "ops".into(), admin: true });
        Auth::Tokens { tokens, anonymous, default_project: "default".into() }
    }

    #[test]
    fn single_user_mode_is_the_operator_whatever_the_url_or_token() {
        let auth = Auth::SingleUser { project: "default".into() };
        for (token, url) in [(None, None), (Some("any"), Some("0123abc")), (None, Some("team-b"))] {
            assert_eq!(auth.scope(token, url).unwrap(), Scope::admin("default"));
        }
    }

    #[test]
    fn tokens_act_for_their_project_and_nothing_else() {
        let auth = tokens(Anonymous::DefaultProject);
        assert_eq!(auth.scope(Some("tok-a"), None).unwrap(), Scope::member("team-a"));
        assert_eq!(auth.scope(Some("tok-a"), Some("team-a")).unwrap(), Scope::member("team-a"));
        assert_eq!(auth.scope(Some("tok-a"), Some("team-b")).unwrap_err().status, StatusCode::FORBIDDEN);
        assert_eq!(auth.scope(Some("nope"), None).unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert_eq!(auth.scope(None, None).unwrap(), Scope::member("default"));
        assert_eq!(auth.scope(None, Some("team-a")).unwrap_err().status, StatusCode::FORBIDDEN);
        assert_eq!(auth.scope(Some("tok-ops"), None).unwrap(), Scope::admin("ops"));
        assert_eq!(auth.scope(Some("tok-ops"), Some("team-a")).unwrap(), Scope::admin("team-a"));
        let closed = tokens(Anonymous::Refused);
        assert_eq!(closed.scope(None, None).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }
}
