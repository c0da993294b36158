//! How the server behaves, as Oozie and HDFS do: submission checks, the
//! silent preconditions of job management, notifications and their retries,
//! WebHDFS' two steps and errors, and the switches tests use.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode as AxumStatus;
use common::*;
use edp_oozie_server::{NAME_NODE, OozieServer, Options, Outcome};
use reqwest::StatusCode;
use serde_json::Value;

async fn status_of(server: &OozieServer, id: &str) -> String {
    get_json(&format!("{}/v2/job/{id}?show=status", server.oozie_url())).await["status"].as_str().unwrap().to_string()
}

async fn put_action(server: &OozieServer, id: &str, action: &str) -> StatusCode {
    http().put(format!("{}/v2/job/{id}?action={action}", server.oozie_url())).send().await.unwrap().status()
}

#[tokio::test]
async fn submissions_are_checked_as_oozie_checks_them() {
    let server = OozieServer::start().await;
    let code = |r: &reqwest::Response| r.headers().get("oozie-error-code").map(|v| v.to_str().unwrap().to_string());
    let app = format!("{NAME_NODE}/user/edp/apps/x");

    let wrong_type = http()
        .post(format!("{}/v2/jobs", server.oozie_url()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!((wrong_type.status(), code(&wrong_type).as_deref()), (StatusCode::BAD_REQUEST, Some("E0300")));

    let no_user = submit(&server, &[("oozie.wf.application.path", &app)], true).await;
    assert_eq!(code(&no_user).as_deref(), Some("E0401"));
    let no_path = submit(&server, &[("user.name", "edp")], true).await;
    assert_eq!(code(&no_path).as_deref(), Some("E0405"));
    let no_app = submit(&server, &[("user.name", "edp"), ("oozie.wf.application.path", &app)], true).await;
    assert_eq!(code(&no_app).as_deref(), Some("E0505"));

    let bad = shell_workflow("x").replace("<exec>build.sh</exec>", "");
    upload(&server, "/user/edp/apps/x/workflow.xml", bad.as_bytes()).await;
    let invalid = submit(&server, &[("user.name", "edp"), ("oozie.wf.application.path", &app)], true).await;
    assert_eq!((invalid.status(), code(&invalid).as_deref()), (StatusCode::BAD_REQUEST, Some("E0701")));
    let message = invalid.headers()["oozie-error-message"].to_str().unwrap().to_string();
    assert!(message.starts_with("E0701: XML schema error, ") && message.contains("exec"), "{message}");

    let with_params = shell_workflow("x")
        .replace("<start to=", "<parameters><property><name>queue</name></property></parameters><start to=");
    upload(&server, "/user/edp/apps/x/workflow.xml", with_params.as_bytes()).await;
    let missing = submit(&server, &[("user.name", "edp"), ("oozie.wf.application.path", &app)], true).await;
    assert_eq!(code(&missing).as_deref(), Some("E0738"));

    upload(&server, "/user/edp/apps/x/workflow.xml", shell_workflow("x").as_bytes()).await;
    let dry = submit(&server, &[("user.name", "edp"), ("oozie.wf.application.path", &app)], false).await;
    assert_eq!(dry.status(), StatusCode::CREATED);
    let body: Value = dry.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "submit answers {{\"id\"}} only: {body}");
    let id = body["id"].as_str().unwrap();
    assert_eq!(status_of(&server, id).await, "PREP", "without action=start a job waits in PREP");
    assert_eq!(server.submissions(), 1, "refused submissions create nothing");
}

#[tokio::test]
async fn an_unresolved_el_variable_fails_the_workflow() {
    let server = OozieServer::start().await;
    let dir = "/user/edp/apps/el";
    upload(&server, &format!("{dir}/workflow.xml"), shell_workflow("el").as_bytes()).await;
    let app = format!("{NAME_NODE}{dir}");
    // No jobTracker: the action's ${jobTracker} cannot be resolved.
    let response =
        submit(&server, &[("user.name", "edp"), ("oozie.wf.application.path", &app), ("nameNode", NAME_NODE)], true)
            .await;
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let job = server.job(&id).unwrap();
    assert_eq!(job.status, "FAILED");
    assert_eq!(job.actions.last().unwrap().3.as_deref(), Some("EL_ERROR"));
}

#[tokio::test]
async fn management_preconditions_are_silent_and_kill_stops_actions() {
    let server = OozieServer::start().await;
    let id = start_workflow(&server, "k", &shell_workflow("k"), &[]).await;
    assert_eq!(put_action(&server, &id, "resume").await, StatusCode::OK);
    assert_eq!(status_of(&server, &id).await, "RUNNING", "resuming a running job does nothing");
    assert_eq!(put_action(&server, &id, "suspend").await, StatusCode::OK);
    assert_eq!(status_of(&server, &id).await, "SUSPENDED");
    assert!(server.finish(&id, Outcome::Succeeded).is_err(), "a suspended job does not move");
    assert_eq!(put_action(&server, &id, "resume").await, StatusCode::OK);
    assert_eq!(put_action(&server, &id, "kill").await, StatusCode::OK);
    let job = server.job(&id).unwrap();
    assert_eq!(job.status, "KILLED");
    assert_eq!(job.actions.last().unwrap().2, "KILLED");
    assert!(!job.actions.iter().any(|a| a.1 == ":KILL:"), "a kill through the API runs no kill node");

    let done = start_workflow(&server, "d", &shell_workflow("d"), &[]).await;
    server.finish(&done, Outcome::Succeeded).unwrap();
    assert_eq!(put_action(&server, &done, "kill").await, StatusCode::OK);
    assert_eq!(status_of(&server, &done).await, "SUCCEEDED", "killing a finished job does nothing");

    let missing = http().put(format!("{}/v2/job/{id}?", server.oozie_url())).send().await.unwrap();
    assert_eq!(missing.headers()["oozie-error-code"], "E0305");
    let unknown = http()
        .put(format!("{}/v2/job/0000000-000000000000000-oozie-oozi-W?action=kill", server.oozie_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.headers()["oozie-error-code"], "E0604");
    let v1 =
        http().get(server.oozie_url().replace("/oozie", "/oozie/v1/job/") + &id + "?show=status").send().await.unwrap();
    assert_eq!(v1.headers()["oozie-error-code"], "E0302", "show=status is v2 only");
}

#[tokio::test]
async fn an_action_error_goes_through_the_kill_node() {
    let server = OozieServer::start().await;
    let id = start_workflow(&server, "f", &shell_workflow("f"), &[]).await;
    server.fail_action(&id, "JA018", "Main class [org.apache.oozie.action.hadoop.ShellMain], exit code [1]").unwrap();
    let info = get_json(&format!("{}/v2/job/{id}", server.oozie_url())).await;
    assert_eq!(info["status"], "KILLED");
    let actions = info["actions"].as_array().unwrap();
    let build = actions.iter().find(|a| a["name"] == "build").unwrap();
    assert_eq!(
        (build["status"].as_str(), build["externalStatus"].as_str(), build["errorCode"].as_str()),
        (Some("ERROR"), Some("FAILED/KILLED"), Some("JA018"))
    );
    assert_eq!(build["transition"], "fail");
    let kill = actions.iter().find(|a| a["type"] == ":KILL:").unwrap();
    assert_eq!((kill["status"].as_str(), kill["errorCode"].as_str()), (Some("OK"), Some("E0729")));
    assert_eq!(
        kill["errorMessage"],
        "Shell failed, error message[Main class [org.apache.oozie.action.hadoop.ShellMain], exit code [1]]"
    );
}

type Seen = Arc<Mutex<Vec<String>>>;
type Codes = Arc<Mutex<Vec<u16>>>;

/// A notification receiver answering `codes` in turn (then 200).
async fn receiver(codes: Vec<u16>) -> (String, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let codes = Arc::new(Mutex::new(codes));
    let state = (seen.clone(), codes);
    let app = axum::Router::new()
        .route(
            "/cb",
            axum::routing::get(|State((seen, codes)): State<(Seen, Codes)>, RawQuery(q): RawQuery| async move {
                seen.lock().unwrap().push(q.unwrap_or_default());
                let mut codes = codes.lock().unwrap();
                let code = if codes.is_empty() { 200 } else { codes.remove(0) };
                AxumStatus::from_u16(code).unwrap()
            }),
        )
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

async fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn every_status_change_is_notified_with_substitution_and_retried() {
    let options = Options { notification_interval: Duration::from_millis(50), ..Options::default() };
    let server = OozieServer::start_with(options).await;
    // The first call fails: Oozie tries again.
    let (url, seen) = receiver(vec![500]).await;
    let target = format!("{url}?job=$jobId&status=$status&parent=$parentId");
    let id =
        start_workflow(&server, "n", &shell_workflow("n"), &[("oozie.wf.workflow.notification.url", &target)]).await;
    put_action(&server, &id, "suspend").await;
    put_action(&server, &id, "resume").await;
    server.finish(&id, Outcome::Succeeded).unwrap();
    wait_until("four notifications delivered", || {
        let n = server.notifications();
        n.len() == 4 && n.iter().all(|x| x.delivered)
    })
    .await;
    let statuses: Vec<String> = server.notifications().iter().map(|n| n.status.clone()).collect();
    assert_eq!(statuses, ["RUNNING", "SUSPENDED", "RUNNING", "SUCCEEDED"]);
    assert_eq!(server.notifications()[0].attempts, 2, "the 500 was retried");
    let calls = seen.lock().unwrap().clone();
    assert!(calls.contains(&format!("job={id}&status=SUCCEEDED&parent=")), "{calls:?}");
}

#[tokio::test]
async fn webhdfs_creates_in_two_steps_and_answers_errors_as_hadoop() {
    let server = OozieServer::start().await;
    let base = format!("{}/webhdfs/v1", server.webhdfs_url());
    let mkdirs: Value =
        http().put(format!("{base}/user/edp/d?op=MKDIRS&user.name=edp")).send().await.unwrap().json().await.unwrap();
    assert_eq!(mkdirs["boolean"], true);

    let step1 = http().put(format!("{base}/user/edp/d/a%20b.txt?op=CREATE&user.name=edp")).send().await.unwrap();
    assert_eq!(step1.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = step1.headers()["location"].to_str().unwrap().to_string();
    assert!(!location.starts_with(&server.webhdfs_url()), "the DataNode is elsewhere: {location}");
    let step2 = http().put(&location).body("hello").send().await.unwrap();
    assert_eq!(step2.status(), StatusCode::CREATED);
    assert_eq!(server.file("/user/edp/d/a b.txt").as_deref(), Some(&b"hello"[..]));

    // overwrite defaults to false, as in Hadoop.
    let again = http().put(format!("{base}/user/edp/d/a%20b.txt?op=CREATE&user.name=edp")).send().await.unwrap();
    let again_location = again.headers()["location"].to_str().unwrap().to_string();
    let refused = http().put(again_location).body("x").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["RemoteException"]["exception"], "FileAlreadyExistsException");

    let status: Value = get_json(&format!("{base}/user/edp/d/a%20b.txt?op=GETFILESTATUS")).await;
    assert_eq!(
        (status["FileStatus"]["type"].as_str(), status["FileStatus"]["length"].as_u64()),
        (Some("FILE"), Some(5))
    );
    let list: Value = get_json(&format!("{base}/user/edp/d?op=LISTSTATUS")).await;
    assert_eq!(list["FileStatuses"]["FileStatus"][0]["pathSuffix"], "a b.txt");
    let open = http().get(format!("{base}/user/edp/d/a%20b.txt?op=OPEN")).send().await.unwrap();
    let data = http().get(open.headers()["location"].to_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert_eq!(data, "hello");
    let missing = http().get(format!("{base}/nope?op=GETFILESTATUS")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let not_empty = http().delete(format!("{base}/user/edp/d?op=DELETE")).send().await.unwrap();
    assert_eq!(not_empty.status(), StatusCode::FORBIDDEN);
    let deleted: Value = http()
        .delete(format!("{base}/user/edp/d?op=DELETE&recursive=true"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted["boolean"], true);
    assert!(server.file("/user/edp/d/a b.txt").is_none());
}

#[tokio::test]
async fn down_means_unreachable_and_a_lost_reply_still_submits() {
    let server = OozieServer::start().await;
    let versions = format!("{}/versions", server.oozie_url());
    assert_eq!(get_json(&versions).await, serde_json::json!([0, 1, 2]));
    server.set_down(true);
    assert!(http().get(&versions).send().await.is_err(), "no answer while down");
    assert!(server.refused() >= 1);
    server.set_down(false);
    assert_eq!(get_json(&versions).await, serde_json::json!([0, 1, 2]));

    upload(&server, "/user/edp/apps/l/workflow.xml", shell_workflow("l").as_bytes()).await;
    server.lose_next_submit_reply();
    let app = format!("{NAME_NODE}/user/edp/apps/l");
    let url = format!("{}/v2/jobs?action=start", server.oozie_url());
    let lost = http()
        .post(url)
        .header("content-type", "application/xml")
        .body(configuration(&[
            ("user.name", "edp"),
            ("oozie.wf.application.path", &app),
            ("jobTracker", "rm:1"),
            ("nameNode", NAME_NODE),
        ]))
        .send()
        .await;
    assert!(lost.is_err(), "the reply was lost: {lost:?}");
    assert_eq!(server.submissions(), 1, "yet the workflow was submitted");
    let admin = get_json(&format!("{}/v2/admin/status", server.oozie_url())).await;
    assert_eq!(admin, serde_json::json!({"systemMode": "NORMAL"}));
}
