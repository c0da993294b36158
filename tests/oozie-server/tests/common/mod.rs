//! Talking to the test server as a client would, over HTTP.
#![allow(dead_code)]

use std::path::PathBuf;

use edp_oozie_server::{JOB_TRACKER, NAME_NODE, OozieServer};
use reqwest::StatusCode;
use serde_json::Value;

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub fn fixture_text(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).unwrap()
}

/// WebHDFS' two steps: the NameNode's 307, then the bytes to the DataNode.
pub async fn upload(server: &OozieServer, path: &str, bytes: &[u8]) {
    let http = http();
    let first = http
        .put(format!("{}/webhdfs/v1{path}?op=CREATE&overwrite=true&user.name=edp", server.webhdfs_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = first.headers()["location"].to_str().unwrap().to_string();
    let second = http.put(location).body(bytes.to_vec()).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);
}

pub fn configuration(pairs: &[(&str, &str)]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><configuration>");
    for (k, v) in pairs {
        let v = v.replace('&', "&amp;");
        xml.push_str(&format!("<property><name>{k}</name><value>{v}</value></property>"));
    }
    xml.push_str("</configuration>");
    xml
}

/// POSTs a configuration to `/oozie/v2/jobs` (`?action=start` when `start`).
pub async fn submit(server: &OozieServer, conf: &[(&str, &str)], start: bool) -> reqwest::Response {
    let url = format!("{}/v2/jobs{}", server.oozie_url(), if start { "?action=start" } else { "" });
    http()
        .post(url)
        .header("content-type", "application/xml;charset=UTF-8")
        .body(configuration(conf))
        .send()
        .await
        .unwrap()
}

/// Uploads `workflow` to `/user/edp/apps/<name>` and starts it; its id.
pub async fn start_workflow(server: &OozieServer, name: &str, workflow: &str, extra: &[(&str, &str)]) -> String {
    let dir = format!("/user/edp/apps/{name}");
    upload(server, &format!("{dir}/workflow.xml"), workflow.as_bytes()).await;
    let app_path = format!("{NAME_NODE}{dir}");
    let mut conf = vec![
        ("user.name", "edp"),
        ("oozie.wf.application.path", app_path.as_str()),
        ("nameNode", NAME_NODE),
        ("jobTracker", JOB_TRACKER),
    ];
    conf.extend_from_slice(extra);
    let response = submit(server, &conf, true).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

pub async fn get_json(url: &str) -> Value {
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    response.json().await.unwrap()
}

pub fn shell_workflow(name: &str) -> String {
    format!(
        r#"<workflow-app xmlns="uri:oozie:workflow:0.5" name="{name}">
  <start to="build"/>
  <action name="build">
    <shell xmlns="uri:oozie:shell-action:0.3">
      <job-tracker>${{jobTracker}}</job-tracker>
      <name-node>${{nameNode}}</name-node>
      <exec>build.sh</exec>
      <file>build.sh</file>
    </shell>
    <ok to="end"/>
    <error to="fail"/>
  </action>
  <kill name="fail"><message>Shell failed, error message[${{wf:errorMessage(wf:lastErrorNode())}}]</message></kill>
  <end name="end"/>
</workflow-app>"#
    )
}
