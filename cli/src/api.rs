//! The HTTP client of edpd's API: one place that adds the token, maps
//! transport failures and Sahara's `{error_code, error_name, error_message}`
//! answers to [`Failure`]s, and unwraps JSON. Bodies stay `serde_json::Value`:
//! `--json` prints what the server said, and the commands read the few
//! fields they need.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use crate::config::Settings;
use crate::error::{Failure, Result};

/// Plain calls; uploads and follows have their own limits.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A followed log gets a keep-alive comment every 15 s; silence much longer
/// than that means the connection is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// Where `base` came from, for "cannot reach edpd".
    origin: String,
    token: Option<String>,
}

impl Client {
    pub fn new(settings: &Settings) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("edp-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::Protocol(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: settings.url.clone(),
            origin: settings.url_source.clone(),
            token: settings.token.clone(),
        })
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.send(self.request(Method::GET, path).query(query).timeout(CALL_TIMEOUT)).await
    }

    /// A `GET` whose answer is text, not JSON (a Graphviz graph).
    pub async fn get_text(&self, path: &str, query: &[(&str, String)]) -> Result<String> {
        let request = self.request(Method::GET, path).query(query).timeout(CALL_TIMEOUT);
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(refusal(status, &bytes));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.request(Method::POST, path).json(body).timeout(CALL_TIMEOUT)).await
    }

    /// A `POST` with an `Idempotency-Key`: edpd answers a repeat with what
    /// the first one made.
    pub async fn post_once(&self, path: &str, body: &Value, key: &str) -> Result<Value> {
        let request = self.request(Method::POST, path).header("Idempotency-Key", key).json(body);
        self.send(request.timeout(CALL_TIMEOUT)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.request(Method::PATCH, path).json(body).timeout(CALL_TIMEOUT)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.send(self.request(Method::DELETE, path).timeout(CALL_TIMEOUT)).await
    }

    /// Raw bytes (`PUT /v2/job-binary-internals/{name}`).
    pub async fn put_bytes(&self, path: &str, bytes: Vec<u8>) -> Result<Value> {
        let request = self
            .request(Method::PUT, path)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .timeout(UPLOAD_TIMEOUT);
        self.send(request).await
    }

    /// A response whose body the caller reads as it comes (server-sent
    /// events): no overall timeout, only the client's read timeout.
    pub async fn open_stream(&self, path: &str, query: &[(&str, String)]) -> Result<Response> {
        let request = self.request(Method::GET, path).query(query).header(reqwest::header::ACCEPT, "text/event-stream");
        let response = request.send().await.map_err(|e| self.transport(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        Err(refusal(status, &bytes))
    }

    /// `GET` of a list resource, unwrapped: `{"clusters": [...]}` → items.
    pub async fn list(&self, path: &str, key: &str, query: &[(&str, String)]) -> Result<Vec<Value>> {
        let body = self.get(path, query).await?;
        match body.get(key) {
            Some(Value::Array(items)) => Ok(items.clone()),
            _ => Err(Failure::Protocol(format!("GET {path} answered without a `{key}` list"))),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => request.header("X-Auth-Token", token),
            None => request,
        }
    }

    async fn send(&self, request: RequestBuilder) -> Result<Value> {
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.transport(e))?;
        if !status.is_success() {
            return Err(refusal(status, &bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Failure::Protocol(format!("the server answered {status} with a body that is not JSON: {e}")))
    }

    /// One line that names the URL tried and the innermost cause
    /// ("Connection refused (os error 111)"), not reqwest's nested chain.
    pub fn transport(&self, error: reqwest::Error) -> Failure {
        let detail = if error.is_timeout() {
            "no answer in time".to_string()
        } else {
            let mut cause: &dyn std::error::Error = &error;
            while let Some(next) = cause.source() {
                cause = next;
            }
            cause.to_string()
        };
        Failure::Unreachable { url: self.base.clone(), origin: self.origin.clone(), detail }
    }
}

/// A non-2xx answer. Sahara's error body when there is one; otherwise the
/// status line (a proxy's HTML error page says nothing useful).
fn refusal(status: StatusCode, body: &[u8]) -> Failure {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let field = |k: &str| parsed.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string);
    let name = field("error_name").unwrap_or_else(|| status.canonical_reason().unwrap_or("ERROR").to_uppercase());
    let message = field("error_message").unwrap_or_else(|| format!("the server answered {status}"));
    if status.is_client_error() {
        Failure::Refused { status: status.as_u16(), name, message }
    } else if status.is_server_error() {
        Failure::Server { status: status.as_u16(), name, message }
    } else {
        Failure::Protocol(format!("unexpected answer {status}: {message}"))
    }
}

/// A path segment from user input (an id typed on the command line), so
/// `a/b` or `?` cannot change which resource is asked for.
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("abc-1.2_x"), "abc-1.2_x");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn sahara_errors_are_read() {
        let body = br#"{"error_code": 404, "error_name": "NOT_FOUND", "error_message": "job x not found"}"#;
        let failure = refusal(StatusCode::NOT_FOUND, body);
        assert_eq!(failure.to_string(), "job x not found (NOT_FOUND)");
        assert_eq!(failure.exit_code(), 3);
        assert_eq!(refusal(StatusCode::BAD_GATEWAY, b"<html>").exit_code(), 5);
    }
}
