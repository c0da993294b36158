//! Every error leaves as Sahara's shape:
//! `{"error_code": <status>, "error_name": "<NAME>", "error_message": "..."}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub name: &'static str,
    pub message: String,
    /// Where the answer is instead (a `Location` header): a host-bound
    /// job's logs and files are served by the node it runs on.
    pub location: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        Self { status, name, message: message.into(), location: None }
    }

    /// A core error for a request to `uri`: a job that runs on another,
    /// reachable node is a 307 to the same path on that node (clients keep
    /// their `X-Auth-Token` across it).
    pub fn to_node(e: edp_core::Error, uri: &axum::http::Uri) -> Self {
        if let edp_core::Error::OnNode { url: Some(base), .. } = &e {
            let path = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
            let location = format!("{}{path}", base.trim_end_matches('/'));
            let mut error = Self::new(StatusCode::TEMPORARY_REDIRECT, e.name(), e.to_string());
            error.location = Some(location);
            return error;
        }
        e.into()
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn bad_params(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMS_ON_REQUEST", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }
}

impl From<edp_core::Error> for ApiError {
    fn from(e: edp_core::Error) -> Self {
        use edp_core::Error as E;
        let status = match &e {
            E::NotFound { .. } => StatusCode::NOT_FOUND,
            E::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            E::NameAlreadyExists { .. } | E::Conflict(_) => StatusCode::CONFLICT,
            E::DataTooBig(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::EngineUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            // Handlers that serve a job's node-local data turn a reachable
            // node into a redirect (`ApiError::to_node`).
            E::OnNode { .. } => StatusCode::SERVICE_UNAVAILABLE,
            E::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Database(_) | E::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            E::Validation(_)
            | E::InvalidReference(_)
            | E::InvalidData(_)
            | E::DeletionFailed(_)
            | E::UpdateFailed(_)
            | E::CancelingFailed(_) => StatusCode::BAD_REQUEST,
        };
        let message = match &e {
            // Database errors can quote values, internal ones paths: users
            // get the gist, the log gets the rest.
            E::Database(_) | E::Internal(_) => {
                format!("edpd failed to answer; its log has the details under {}", logged(&e))
            }
            E::DatabaseUnavailable(_) => {
                format!("the database does not answer; try again (edpd's log has the details under {})", logged(&e))
            }
            other => other.to_string(),
        };
        Self::new(status, e.name(), message)
    }
}

/// Logs an error whose details the response does not show; the reference
/// the response gives for it.
fn logged(e: &edp_core::Error) -> uuid::Uuid {
    let reference = uuid::Uuid::new_v4();
    tracing::error!(error = %e, %reference, "request failed");
    reference
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error_code": self.status.as_u16(),
            "error_name": self.name,
            "error_message": self.message,
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(location) = self.location.and_then(|l| axum::http::HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(axum::http::header::LOCATION, location);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
