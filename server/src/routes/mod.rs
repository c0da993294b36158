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
mod ops;
mod templates;
pub(crate) mod v1;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use edp_core::model::Page;
use serde::Serialize;
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::startup::AppState;

/// The API's routes, and the OpenAPI document collected from them.
pub fn router(state: AppState) -> Router {
    let (router, openapi) = api().split_for_parts();
    crate::openapi::publish(&crate::openapi::complete(openapi));
    router
        .route("/v1.1", get(v11_without_project))
        // The dashboard: HTML and assets, not in the API's document.
        .merge(crate::ui::assets())
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

/// Every route of the API, each described by its handler's
/// `#[utoipa::path]`; `routes!` groups the methods of one path.
pub fn api() -> OpenApiRouter<AppState> {
    let v2 = OpenApiRouter::new()
        .routes(routes!(clusters::list, clusters::create))
        .routes(routes!(clusters::get, clusters::update, clusters::delete))
        .routes(routes!(data_sources::list, data_sources::create))
        .routes(routes!(data_sources::get, data_sources::update, data_sources::delete))
        .routes(routes!(binaries::list, binaries::create))
        .routes(routes!(binaries::get, binaries::update, binaries::delete))
        .routes(routes!(binaries::data))
        .routes(routes!(templates::list, templates::create))
        .routes(routes!(templates::config_hints))
        .routes(routes!(templates::get, templates::update, templates::delete))
        .routes(routes!(jobs::list, jobs::launch))
        .routes(routes!(jobs::dry_run))
        .routes(routes!(jobs::get, jobs::update, jobs::delete))
        .routes(routes!(jobs::logs))
        .routes(routes!(jobs::output))
        .routes(routes!(jobs::rerun))
        .routes(routes!(jobs::callback))
        .routes(routes!(templates::job_types))
        .routes(routes!(flows::list, flows::submit))
        .routes(routes!(flows::get, flows::update, flows::delete))
        .routes(routes!(flows::graph))
        .routes(routes!(engines::list))
        .routes(routes!(events::stream))
        .routes(routes!(engines::rescan))
        .routes(routes!(binaries::list_internals))
        .routes(routes!(binaries::get_internal, binaries::upload, binaries::delete_internal))
        .routes(routes!(binaries::internal_data))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("openstack-api-version"),
            HeaderValue::from_static("data-processing 2.0"),
        ));
    OpenApiRouter::new()
        .routes(routes!(root))
        // Only `/v2/` itself: auth.rs makes `/v2/{x}` (a project, or a typo
        // of a collection) into `/v2`, which stays a 404.
        .routes(routes!(version_v2))
        .routes(routes!(version_v1_1))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(crate::openapi::document))
        .nest("/v2", v2)
        .nest("/v1.1", v1::router())
}

/// A browser gets the dashboard; an API client Sahara's answer, 300 and
/// the versions.
#[utoipa::path(get, path = "/", tag = "versions",
    responses((status = 300, description = "The API versions (a browser gets the dashboard's page instead)", body = crate::openapi::Versions)))]
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

/// `GET /v2/`: one version, as the root's links promise.
#[utoipa::path(get, path = "/v2/", tag = "versions",
    responses((status = 200, description = "API v2", body = crate::openapi::VersionBody)))]
async fn version_v2() -> Response {
    ok("version", V2.document())
}

/// `GET /v1.1/`.
#[utoipa::path(get, path = "/v1.1/", tag = "versions",
    responses((status = 200, description = "API v1.1", body = crate::openapi::VersionBody)))]
async fn version_v1_1() -> Response {
    ok("version", V1_1.document())
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
    bug()
}

/// A 500 that tells nothing of edpd's insides (the log has them).
fn bug() -> Response {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "edpd hit a bug; see its log")
        .into_response()
}

/// `202 {key: object}`: Sahara's answer to create and update.
pub(crate) fn accepted<T: Serialize>(key: &str, object: T) -> Response {
    json_response(StatusCode::ACCEPTED, &wrap(key, object))
}

/// `200 {key: object}`.
pub(crate) fn ok<T: Serialize>(key: &str, object: T) -> Response {
    json_response(StatusCode::OK, &wrap(key, object))
}

/// `200 {key: [items], "markers": {"prev", "next"}}`, markers only when paged.
pub(crate) fn page<T: Serialize>(key: &str, page: Page<T>) -> Response {
    json_response(
        StatusCode::OK,
        &Wrapped { key, object: &page.items, markers: page.paged.then_some((&page.prev, &page.next)) },
    )
}

/// What a response of one object usually fits in: written into a buffer
/// of this size, a job (about 1.5 KiB) is not copied as it grows, as it was
/// from `axum::Json`'s 128 bytes (issue 16).
const BODY_CAPACITY: usize = 4096;

/// `body` as JSON; a value that cannot be written is edpd's bug, a 500.
fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut buf = Vec::with_capacity(BODY_CAPACITY);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => (status, [(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], buf)
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a response could not be written as JSON");
            bug()
        }
    }
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
