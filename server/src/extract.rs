//! Request extractors whose every rejection is a Sahara error: JSON bodies
//! (whatever the Content-Type, as curl users send form types by default),
//! and query strings checked against what each endpoint accepts.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;

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
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| ApiError::validation(format!("malformed request body: {e}")))
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
