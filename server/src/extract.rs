//! Request extractors whose every rejection is a Sahara error: JSON bodies
//! (whatever the Content-Type, as curl users send form types by default),
//! and query strings checked against what each endpoint accepts.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::startup::AppState;

/// A JSON body, parsed into `T`; unknown fields are refused by `T`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = body(req, state.limits.json).await?;
        if bytes.is_empty() {
            return Err(ApiError::validation("the request needs a JSON body"));
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::validation(format!("malformed request body: {e}")))?;
        // Postgres stores no NUL in text or JSON: refused here, for every
        // field and on every database alike.
        if let Some(place) = nul_in(&value, "") {
            return Err(ApiError::validation(format!(
                "{place} contains a NUL character (\\u0000), which edpd does not store"
            )));
        }
        serde_json::from_value(value)
            .map(Json)
            .map_err(|e| ApiError::validation(format!("malformed request body: {e}")))
    }
}

/// Where in `value` a string (or a key) holds a NUL, as a JSON path.
fn nul_in(value: &Value, path: &str) -> Option<String> {
    let here = || if path.is_empty() { "the request body".to_string() } else { path.to_string() };
    match value {
        Value::String(s) if s.contains('\0') => Some(here()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_in(v, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let at = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            if k.contains('\0') { Some(here()) } else { nul_in(v, &at) }
        }),
        _ => None,
    }
}

/// Refuses, before routing, a URL whose path or query holds bytes no
/// database stores as text: a NUL (`%00`) or percent-encoded bytes that are
/// not UTF-8. Every route gets the same 400, on SQLite and Postgres alike.
pub async fn refuse_unstorable_urls(req: Request, next: Next) -> Response {
    let uri = req.uri();
    let problem = [("path", Some(uri.path())), ("query string", uri.query())].into_iter().find_map(|(part, text)| {
        let raw = text?;
        let decoded = percent_encoding::percent_decode_str(raw).collect::<Vec<u8>>();
        if decoded.contains(&0) {
            Some(format!("the URL's {part} contains a NUL character (%00)"))
        } else if std::str::from_utf8(&decoded).is_err() {
            Some(format!("the URL's {part} is not valid UTF-8 once percent-decoded"))
        } else {
            None
        }
    });
    match problem {
        Some(problem) => ApiError::bad_params(problem).into_response(),
        None => next.run(req).await,
    }
}

/// How much more than the limit is read and thrown away before refusing.
const DRAIN_CAP: u64 = 64 * 1024 * 1024;

/// The raw body, at most `limit` bytes. A larger one is read to its end
/// (within [`DRAIN_CAP`]) and discarded before the 413 is sent: a client
/// still sending would otherwise see a reset connection, not the answer.
pub async fn body(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let too_big = |size: String| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "DATA_TOO_BIG",
            format!("the request body is {size}; this endpoint takes at most {limit} bytes"),
        )
    };
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared
        && length > limit as u64 + DRAIN_CAP
    {
        return Err(too_big(format!("{length} bytes")));
    }
    let mut stream = req.into_body().into_data_stream();
    let mut kept = BytesMut::new();
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::validation(format!("could not read the request body: {e}")))?;
        total += chunk.len() as u64;
        if total <= limit as u64 {
            kept.extend_from_slice(&chunk);
        } else if total > limit as u64 + DRAIN_CAP {
            break;
        }
    }
    if total > limit as u64 {
        return Err(too_big(format!("over {total} bytes")));
    }
    Ok(kept.freeze())
}

/// The query string as pairs, in order (a key may repeat).
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(Params)
            .map_err(|e| ApiError::bad_params(format!("malformed query string: {e}")))
    }
}

impl Params {
    /// Sahara v2 refuses parameters an endpoint does not know.
    pub fn allow(&self, known: &[&str]) -> Result<&Self, ApiError> {
        match self.0.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            Some((k, _)) => Err(ApiError::bad_params(format!(
                "unknown query parameter '{k}' (this endpoint takes: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))),
            None => Ok(self),
        }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }

    pub fn flag(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key).map(|v| v.to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if v == "true" || v == "1" || v == "yes" => Ok(true),
            Some(v) if v == "false" || v == "0" || v == "no" => Ok(false),
            Some(v) => Err(ApiError::bad_params(format!("{key} must be true or false, not '{v}'"))),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::bad_params(format!("{key} must be a non-negative integer, not '{v}'")))
            })
            .transpose()
    }

    /// `limit`, `marker`, `sort_by`.
    pub fn list_query(&self) -> Result<edp_core::paging::ListQuery, ApiError> {
        Ok(edp_core::paging::ListQuery {
            limit: self.number("limit")?,
            marker: self.get("marker"),
            sort_by: self.get("sort_by"),
        })
    }
}

pub const PAGING: [&str; 3] = ["limit", "marker", "sort_by"];
