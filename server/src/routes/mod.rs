//! The routes: Sahara v2 under `/v2` (and `/v2/{project}`), Sahara v1.1
//! under `/v1.1/{project}` (a translation onto the same core calls, in
//! `v1/`), and edp's extensions.

mod binaries;
mod clusters;
mod data_sources;
mod engines;
mod events;
mod flows;
mod jobs;
mod templates;
mod v1;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use edp_core::model::Page;
use serde::Serialize;
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::startup::AppState;

pub fn router(state: AppState) -> Router {
    let internals = || {
        Router::new()
            .route("/job-binary-internals", get(binaries::list_internals))
            .route(
                "/job-binary-internals/{key}",
                get(binaries::get_internal).put(binaries::upload).delete(binaries::delete_internal),
            )
            .route("/job-binary-internals/{id}/data", get(binaries::internal_data))
    };
    let v2 = Router::new()
        .route("/clusters", get(clusters::list).post(clusters::create))
        .route("/clusters/{id}", get(clusters::get).patch(clusters::update).delete(clusters::delete))
        .route("/data-sources", get(data_sources::list).post(data_sources::create))
        .route("/data-sources/{id}", get(data_sources::get).patch(data_sources::update).delete(data_sources::delete))
        .route("/job-binaries", get(binaries::list).post(binaries::create))
        .route("/job-binaries/{id}", get(binaries::get).patch(binaries::update).delete(binaries::delete))
        .route("/job-binaries/{id}/data", get(binaries::data))
        .route("/job-templates", get(templates::list).post(templates::create))
        .route("/job-templates/config-hints/{job_type}", get(templates::config_hints))
        .route("/job-templates/{id}", get(templates::get).patch(templates::update).delete(templates::delete))
        .route("/jobs", get(jobs::list).post(jobs::launch))
        .route("/jobs/dry-run", post(jobs::dry_run))
        .route("/jobs/{id}", get(jobs::get).patch(jobs::update).delete(jobs::delete))
        .route("/jobs/{id}/logs", get(jobs::logs))
        .route("/jobs/{id}/output", get(jobs::output))
        .route("/jobs/{id}/callback", get(jobs::callback).post(jobs::callback).put(jobs::callback))
        .route("/job-types", get(templates::job_types))
        .route("/flows", get(flows::list).post(flows::submit))
        .route("/flows/{id}", get(flows::get).patch(flows::update).delete(flows::delete))
        .route("/flows/{id}/graph", get(flows::graph))
        .route("/engines", get(engines::list))
        .route("/events", get(events::stream))
        .route("/engines/rescan", post(engines::rescan))
        .merge(internals())
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("openstack-api-version"),
            HeaderValue::from_static("data-processing 2.0"),
        ));
    Router::new()
        .route("/", get(root))
        // Only `/v2/` itself: auth.rs makes `/v2/{x}` (a project, or a typo
        // of a collection) into `/v2`, which stays a 404.
        .route("/v2/", get(|| version(V2)))
        .route("/v1.1/", get(|| version(V1_1)))
        .route("/v1.1", get(v11_without_project))
        .merge(crate::ui::assets())
        .nest("/v2", v2)
        .nest("/v1.1", v1::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The span names the path, never the query: a callback's token is
        // in its query string.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .layer(CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// A browser gets the dashboard; an API client Sahara's answer, 300 and
/// the versions.
async fn root(headers: HeaderMap) -> Response {
    if crate::ui::wants_html(&headers) {
        return crate::ui::shell();
    }
    let versions: Vec<Value> = [V1_1, V2].iter().map(ApiVersion::document).collect();
    (StatusCode::MULTIPLE_CHOICES, axum::Json(json!({ "versions": versions }))).into_response()
}

struct ApiVersion {
    id: &'static str,
    status: &'static str,
    range: Option<(&'static str, &'static str)>,
}

const V1_1: ApiVersion = ApiVersion { id: "v1.1", status: "SUPPORTED", range: None };
const V2: ApiVersion = ApiVersion { id: "v2", status: "CURRENT", range: Some(("2.0", "2.0")) };

impl ApiVersion {
    fn document(&self) -> Value {
        let mut doc =
            json!({"id": self.id, "status": self.status, "links": [{"rel": "self", "href": format!("/{}/", self.id)}]});
        if let Some((min, max)) = self.range {
            doc["min_version"] = json!(min);
            doc["max_version"] = json!(max);
        }
        doc
    }
}

/// `GET /v2/`, `GET /v1.1/`: one version, as the root's links promise.
async fn version(v: ApiVersion) -> Response {
    ok("version", v.document())
}

/// Every first segment after `/v1.1/` is a project, so `/v1.1/clusters` (an
/// endpoint without its project) arrives here as project `clusters` with
/// nothing after it: say what is missing rather than answer a document.
async fn v11_without_project() -> ApiError {
    ApiError::not_found("v1.1 paths name the project first: /v1.1/{project_id}/clusters, ...; its version is /v1.1/")
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "this resource does not take that method")
}

fn panicked(_: Box<dyn std::any::Any + Send>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "edpd hit a bug; see its log")
        .into_response()
}

/// `202 {key: object}`: Sahara's answer to create and update.
pub(crate) fn accepted<T: Serialize>(key: &str, object: T) -> Response {
    (StatusCode::ACCEPTED, axum::Json(wrap(key, object))).into_response()
}

/// `200 {key: object}`.
pub(crate) fn ok<T: Serialize>(key: &str, object: T) -> Response {
    axum::Json(wrap(key, object)).into_response()
}

/// `200 {key: [items], "markers": {"prev", "next"}}`, markers only when paged.
pub(crate) fn page<T: Serialize>(key: &str, page: Page<T>) -> Response {
    axum::Json(Wrapped { key, object: &page.items, markers: page.paged.then_some((&page.prev, &page.next)) })
        .into_response()
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn wrap<T: Serialize>(key: &str, object: T) -> Wrapped<'_, T> {
    Wrapped { key, object, markers: None }
}

/// `{key: object}` (and a page's markers), serialised in one pass: no
/// `serde_json::Value` of the whole answer built first (issue 16: that
/// copy was a fifth of what serving a job cost).
struct Wrapped<'a, T> {
    key: &'a str,
    object: T,
    markers: Option<(&'a Option<String>, &'a Option<String>)>,
}

impl<T: Serialize> Serialize for Wrapped<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(self.key, &self.object)?;
        if let Some((prev, next)) = self.markers {
            map.serialize_entry("markers", &json!({"prev": prev, "next": next}))?;
        }
        map.end()
    }
}
