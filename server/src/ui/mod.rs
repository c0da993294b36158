//! The dashboard edpd serves to browsers: one HTML shell at `/` and a few
//! assets under `/ui/`, all embedded in the binary. The pages are drawn by
//! our own script (`server/ui/app.js`) from the REST API and the event
//! stream, as any other dashboard would; nothing is fetched from elsewhere,
//! and the Content-Security-Policy says so to the browser too.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::startup::AppState;

mod negotiate;

pub use negotiate::wants_html;

/// An embedded file and its type.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const SHELL: &[u8] = include_bytes!("../../ui/index.html");

macro_rules! script {
    ($name:literal) => {
        Asset {
            name: $name,
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!(concat!("../../ui/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    script!("app.js"),
    script!("api.js"),
    script!("dom.js"),
    script!("jobs.js"),
    script!("flows.js"),
    script!("catalog.js"),
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../ui/app.css") },
    Asset { name: "icon.svg", content_type: "image/svg+xml", body: include_bytes!("../../ui/icon.svg") },
];

/// Scripts, styles, images and API calls from this origin only; no frames,
/// no plugins, no inline code.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub fn assets() -> Router<AppState> {
    Router::new().route("/ui/{file}", get(asset))
}

/// The page every view is drawn in.
pub fn shell() -> Response {
    respond("text/html; charset=utf-8", SHELL)
}

async fn asset(Path(file): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|a| a.name == file)
        .map(|a| respond(a.content_type, a.body))
        .ok_or_else(|| ApiError::not_found(format!("no dashboard asset '{file}'")))
}

fn respond(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Small files: always revalidated, so a new edpd shows its own UI.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    (headers, body).into_response()
}
