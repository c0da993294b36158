//! HTTP to Oozie and WebHDFS, and what a failure means for edp: a network
//! error, a timeout or a 5xx is TRANSIENT (the job keeps its state and is
//! retried); Oozie's E0604 is NOT_FOUND; another 4xx is INVALID_INPUT with
//! Oozie's own code and message. An error body is never parsed as JSON:
//! Oozie's are HTML pages, its code and message are in headers.

use std::sync::OnceLock;

use edp_engine_api::plugin::{Error, Result, with_causes};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use crate::cluster::ClusterConfig;
use crate::settings::Settings;

/// One client for the engine's life: built lazily, inside an engine call,
/// so on the plugin's own runtime. Redirects are not followed: WebHDFS'
/// two-step CREATE handles its 307 itself.
pub struct Http {
    client: OnceLock<reqwest::Client>,
    settings: Settings,
}

impl Http {
    pub fn new(settings: Settings) -> Self {
        Self { client: OnceLock::new(), settings }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(self.settings.connect_timeout)
                .timeout(self.settings.request_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("edp-engine-oozie/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
    }
}

/// Adds the cluster's gateway credentials, when it has some.
pub fn authorize(request: RequestBuilder, cluster: &ClusterConfig) -> RequestBuilder {
    match &cluster.gateway_user {
        Some(user) => request.basic_auth(user, cluster.gateway_password.as_deref()),
        None => request,
    }
}

/// Sends; a request that got no answer is TRANSIENT.
pub async fn send(request: RequestBuilder, what: &str) -> Result<Response> {
    request.send().await.map_err(|e| Error::transient(format!("{what}: {}", describe(&e))))
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "no answer"
    };
    format!("{kind} ({})", with_causes(e))
}

/// The error an unsuccessful answer stands for.
pub async fn failure(response: Response, what: &str) -> Error {
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let code = header("oozie-error-code");
    let message = header("oozie-error-message");
    let detail = match (&code, message) {
        (_, Some(message)) => message,
        (Some(code), None) => code.clone(),
        // No Oozie headers: a proxy, a gateway's login page, WebHDFS' JSON.
        (None, None) => {
            let body = response.text().await.unwrap_or_default();
            let text = plain_text(&body);
            if text.is_empty() { status.to_string() } else { format!("{status}: {text}") }
        }
    };
    let message = format!("{what}: {detail}");
    match code.as_deref() {
        Some("E0604") => Error::not_found(message),
        // E0002: safe mode; E0003: the queue is full. Both pass.
        Some("E0002") | Some("E0003") => Error::transient(message),
        _ if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS => Error::transient(message),
        _ => Error::invalid_input(message),
    }
}

/// An error body as one line of text: tags dropped, at most 300 chars.
fn plain_text(body: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let line = words.join(" ");
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// The JSON of a successful answer; any other answer is an error.
pub async fn json<T: DeserializeOwned>(response: Response, what: &str) -> Result<T> {
    if !response.status().is_success() {
        return Err(failure(response, what).await);
    }
    let bytes = response.bytes().await.map_err(|e| Error::transient(format!("{what}: {}", describe(&e))))?;
    // A 2xx that is not the JSON Oozie sends is a proxy's doing, or a
    // reply cut short: try again later rather than decide on it.
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::transient(format!("{what}: unexpected answer ({e}): {}", plain_text(&String::from_utf8_lossy(&bytes))))
    })
}

/// Nothing but success is expected.
pub async fn ok(response: Response, what: &str) -> Result<()> {
    if response.status().is_success() { Ok(()) } else { Err(failure(response, what).await) }
}

#[cfg(test)]
mod tests {
    use super::plain_text;

    #[test]
    fn html_error_pages_become_one_line() {
        assert_eq!(
            plain_text("<html><body><h1>Bad</h1>\n<p>gateway   said no</p></body></html>"),
            "Bad gateway said no"
        );
        assert_eq!(plain_text(&"x".repeat(400)).chars().count(), 301);
    }
}
