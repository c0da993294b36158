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
use std::any::TypeId;
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::IntoParams;

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

/// What a query string may hold: a struct whose fields, through
/// `IntoParams`, are both what the OpenAPI document says an endpoint takes
/// and what [`Query`] accepts (one place for both).
pub trait QueryParams: IntoParams + DeserializeOwned + Send + 'static {
    /// Keys the struct does not name are refused (Sahara v2's
    /// INVALID_PARAMS_ON_REQUEST), unless this says they are ignored.
    const OTHERS_IGNORED: bool = false;
}

/// A query string read into `T`. Each key is read as its parameter's schema
/// says: integers (non-negative), flags (`true`/`false`, also `1`/`0`,
/// `yes`/`no`), lists (the key repeated: every value, in order) and text; a
/// key given twice for anything but a list counts once, with its last value.
pub struct Query<T>(pub T);

impl<T: QueryParams, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::bad_params(format!("malformed query string: {e}")))?;
        read::<T>(&pairs).map(Query)
    }
}

/// How a parameter's values are read, from its schema's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Flag,
    List,
}

impl Kind {
    fn of(parameter: &utoipa::openapi::path::Parameter) -> Self {
        let schema = parameter.schema.as_ref().and_then(|s| serde_json::to_value(s).ok()).unwrap_or_default();
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        match types.into_iter().find(|t| *t != "null") {
            Some("integer") => Self::Integer,
            Some("boolean") => Self::Flag,
            Some("array") => Self::List,
            _ => Self::Text,
        }
    }
}

/// Each query type's parameters (name, kind), worked out once.
type Parameters = Arc<Vec<(String, Kind)>>;

fn parameters<T: QueryParams>() -> Parameters {
    static KNOWN: RwLock<BTreeMap<TypeId, Parameters>> = RwLock::new(BTreeMap::new());
    let id = TypeId::of::<T>();
    if let Some(known) = KNOWN.read().unwrap_or_else(PoisonError::into_inner).get(&id) {
        return known.clone();
    }
    let found: Parameters = Arc::new(
        T::into_params(|| Some(utoipa::openapi::path::ParameterIn::Query))
            .iter()
            .map(|p| (p.name.clone(), Kind::of(p)))
            .collect(),
    );
    KNOWN.write().unwrap_or_else(PoisonError::into_inner).insert(id, found.clone());
    found
}

fn read<T: QueryParams>(pairs: &[(String, String)]) -> Result<T, ApiError> {
    let known = parameters::<T>();
    if !T::OTHERS_IGNORED
        && let Some((key, _)) = pairs.iter().find(|(k, _)| !known.iter().any(|(name, _)| name == k))
    {
        let names: Vec<&str> = known.iter().map(|(name, _)| name.as_str()).collect();
        return Err(ApiError::bad_params(format!(
            "unknown query parameter '{key}' (this endpoint takes: {})",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        )));
    }
    let mut object = Map::new();
    for (name, kind) in known.iter() {
        let values: Vec<&str> = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
        let Some(&last) = values.last() else { continue };
        let value =
            match kind {
                Kind::List => Value::Array(values.iter().map(|v| Value::String(v.to_string())).collect()),
                Kind::Integer => Value::from(last.parse::<u64>().map_err(|_| {
                    ApiError::bad_params(format!("{name} must be a non-negative integer, not '{last}'"))
                })?),
                Kind::Flag => Value::Bool(flag(name, last)?),
                Kind::Text => Value::String(last.to_string()),
            };
        object.insert(name.clone(), value);
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| ApiError::bad_params(format!("malformed query string: {e}")))
}

fn flag(key: &str, value: &str) -> Result<bool, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::bad_params(format!("{key} must be true or false, not '{value}'"))),
    }
}

/// An endpoint that takes no query parameter at all.
#[derive(serde::Deserialize, IntoParams, Debug)]
#[into_params(parameter_in = Query)]
pub struct NoQuery {}

impl QueryParams for NoQuery {}

/// A list endpoint's query: Sahara's paging (`limit`, `marker`, `sort_by`)
/// and the endpoint's own filters.
macro_rules! list_query {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(serde::Deserialize, utoipa::IntoParams, Debug, Default)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// At most this many items; the answer then has `markers`.
            pub limit: Option<u64>,
            /// The id of the item before the page wanted (`markers.next` of
            /// the previous page).
            pub marker: Option<String>,
            /// The field to sort by; `-field` sorts descending.
            pub sort_by: Option<String>,
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $crate::extract::QueryParams for $name {}

        impl $name {
            pub fn list_query(&self) -> edp_core::paging::ListQuery {
                edp_core::paging::ListQuery {
                    limit: self.limit,
                    marker: self.marker.clone(),
                    sort_by: self.sort_by.clone(),
                }
            }
        }
    };
}
pub(crate) use list_query;
