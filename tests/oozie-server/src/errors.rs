//! Error answers as the real servers give them: Oozie's `oozie-error-code` /
//! `oozie-error-message` headers over the servlet container's HTML page, and
//! WebHDFS' JSON `RemoteException`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `JsonRestServlet.sendErrorResponse`: `message` is the formatted template
/// without its code; the header carries `"<code>: <message>"`.
pub fn oozie(status: StatusCode, code: &str, message: &str) -> Response {
    let full = format!("{code}: {message}");
    let escaped = full.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let page = format!(
        "<html><head><title>Apache Tomcat/6.0.41 - Error report</title></head><body>\
         <h1>HTTP Status {} - {escaped}</h1><HR size=\"1\" noshade=\"noshade\">\
         <p><b>type</b> Status report</p><p><b>message</b> <u>{escaped}</u></p>\
         <p><b>description</b> <u>The request sent by the client was syntactically incorrect.</u></p>\
         <HR size=\"1\" noshade=\"noshade\"><h3>Apache Tomcat/6.0.41</h3></body></html>",
        status.as_u16()
    );
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html;charset=utf-8"));
    // Header values must be visible ASCII; Oozie's messages are.
    let ascii = |s: &str| HeaderValue::from_str(&s.replace(|c: char| !c.is_ascii() || c.is_ascii_control(), "?"));
    if let (Ok(code), Ok(message)) = (ascii(code), ascii(&full)) {
        headers.insert("oozie-error-code", code);
        headers.insert("oozie-error-message", message);
    }
    response
}

pub fn bad_request(code: &str, message: &str) -> Response {
    oozie(StatusCode::BAD_REQUEST, code, message)
}

pub fn job_not_found(id: &str) -> Response {
    bad_request("E0604", &format!("Job does not exist [{id}]"))
}

/// Hadoop's `{"RemoteException": {...}}`.
pub fn webhdfs(status: StatusCode, exception: &str, java_class: &str, message: &str) -> Response {
    let body = json!({"RemoteException": {"exception": exception, "javaClassName": java_class, "message": message}});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}
