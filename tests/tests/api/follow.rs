//! Following a job's log as it is written (server-sent events).

use std::time::{Duration, Instant};

use edp_tests::TestApp;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::helpers::{launch, local_cluster, shell_template};

/// The SSE events of one response, as (event, data) pairs, each with when
/// it arrived.
async fn events(response: reqwest::Response) -> Vec<(String, Value, Instant)> {
    let mut seen = Vec::new();
    let mut buffer = String::new();
    let mut body = response.bytes_stream();
    while let Some(bytes) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&bytes.expect("a chunk")));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !name.is_empty() {
                seen.push((name, serde_json::from_str(&data).unwrap_or(Value::Null), Instant::now()));
            }
        }
    }
    seen
}

#[tokio::test]
async fn following_a_log_sees_lines_as_they_are_written_then_the_end() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let gate = app.root.path().join("gate");
    // Prints a line, waits until the test opens the gate, prints another.
    let template =
        shell_template(&app, "talker", "echo first\nwhile [ ! -e \"$1\" ]; do sleep 0.05; done\necho second\nexit 2\n")
            .await;
    let id = launch(&app, &template, &cluster, json!({"args": [gate.display().to_string()]})).await;

    let response = app.http.get(format!("{}/v2/jobs/{id}/logs?follow=true", app.base)).send().await.expect("follow");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
    let opener = {
        let gate = gate.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            std::fs::write(&gate, "").expect("open the gate");
            Instant::now()
        })
    };
    let seen = tokio::time::timeout(Duration::from_secs(30), events(response)).await.expect("the stream ends");
    let opened = opener.await.expect("opener");

    let logs: Vec<&(String, Value, Instant)> = seen.iter().filter(|(name, _, _)| name == "log").collect();
    let text: String = logs.iter().map(|(_, data, _)| data["data"].as_str().unwrap_or_default()).collect();
    assert_eq!(text, "first\nsecond\n");
    let first_at =
        logs.iter().find(|(_, d, _)| d["data"].as_str().unwrap_or_default().contains("first")).expect("first").2;
    assert!(first_at < opened, "the first line should arrive while the job still runs");
    let (name, end, _) = seen.last().expect("events");
    assert_eq!(name, "end", "{seen:?}");
    assert_eq!(end["status"], "FAILED");
    assert_eq!(end["return_code"], 2);
}

#[tokio::test]
async fn following_an_unknown_job_is_a_404() {
    let app = TestApp::spawn().await;
    let reply = app.get(&format!("/v2/jobs/{}/logs?follow=true", uuid::Uuid::new_v4())).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error_name(), "NOT_FOUND");
}
