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
}

impl ApiError {
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        Self { status, name, message: message.into() }
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
            E::NameAlreadyExists { .. } => StatusCode::CONFLICT,
            E::DataTooBig(_) => StatusCode::PAYLOAD_TOO_LARGE,
            E::EngineUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
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
                let reference = uuid::Uuid::new_v4();
                tracing::error!(error = %e, %reference, "request failed");
                format!("edpd failed to answer; its log has the details under {reference}")
            }
            other => other.to_string(),
        };
        Self::new(status, e.name(), message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error_code": self.status.as_u16(),
            "error_name": self.name,
            "error_message": self.message,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
