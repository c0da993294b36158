//! The server's answers against every recorded real response in
//! `fixtures/`: for an equivalent job, the same keys at job and action
//! level, the same value types, the same `toString`, date, id and URL
//! formats, the same list envelope and paging, the same error headers and
//! the same log line format.

mod common;

use std::collections::BTreeSet;

use chrono::NaiveDateTime;
use common::*;
use edp_oozie_server::{Flavor, OozieServer, Options, Outcome};
use reqwest::StatusCode;
use serde_json::{Map, Value};

/// Keys whose value Oozie leaves null when unset (the type is then
/// "string or null").
const NULLABLE: &[&str] = &[
    "appPath",
    "acl",
    "conf",
    "endTime",
    "externalId",
    "parentId",
    "group",
    "startTime",
    "errorMessage",
    "errorCode",
    "stats",
    "data",
    "transition",
    "externalStatus",
    "externalChildIDs",
    "pauseTime",
    "bundleId",
    "coordExternalId",
    "consoleUrl",
    "lastAction",
    "nextMaterializedTime",
];

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default()
}

/// Same key set; same JSON type where both have a value; null only where
/// Oozie allows it.
#[track_caller]
fn same_shape(what: &str, real: &Value, ours: &Value) {
    let (r, o) = (keys(real), keys(ours));
    assert_eq!(
        r,
        o,
        "{what}: key sets differ: only real {:?}, only ours {:?}",
        r.difference(&o).collect::<Vec<_>>(),
        o.difference(&r).collect::<Vec<_>>()
    );
    let (real, ours): (&Map<String, Value>, &Map<String, Value>) =
        (real.as_object().unwrap(), ours.as_object().unwrap());
    for (key, rv) in real {
        let ov = &ours[key];
        if rv.is_null() || ov.is_null() {
            assert!(NULLABLE.contains(&key.as_str()) || (rv.is_null() && ov.is_null()), "{what}.{key}: {rv} vs {ov}");
        } else {
            assert_eq!(kind(rv), kind(ov), "{what}.{key}: {rv} vs {ov}");
        }
    }
}

/// `EEE, dd MMM yyyy HH:mm:ss zzz`.
#[track_caller]
fn assert_date(v: &Value, zone: &str) {
    let Some(text) = v.as_str() else { return };
    let (stamp, z) = text.rsplit_once(' ').unwrap();
    assert_eq!(z, zone, "{text}");
    NaiveDateTime::parse_from_str(stamp, "%a, %d %b %Y %H:%M:%S").unwrap_or_else(|e| panic!("{text}: {e}"));
}

const DATE_KEYS: &[&str] = &["createdTime", "lastModTime", "startTime", "endTime"];

/// `%07d-<15 digits>-<system id>-<W|C>`.
#[track_caller]
fn assert_id(id: &str, suffix: char) {
    let parts: Vec<&str> = id.split('-').collect();
    assert!(parts.len() >= 4, "{id}");
    assert!(parts[0].len() == 7 && parts[0].chars().all(|c| c.is_ascii_digit()), "{id}");
    assert!(parts[1].len() == 15 && parts[1].chars().all(|c| c.is_ascii_digit()), "{id}");
    assert!(id.ends_with(&format!("-{suffix}")) && id.len() <= 40, "{id}");
}

#[track_caller]
fn check_workflow_formats(job: &Value, zone: &str) {
    let id = job["id"].as_str().unwrap();
    assert_id(id, 'W');
    assert_eq!(job["toString"], format!("Workflow id[{id}] status[{}]", job["status"].as_str().unwrap()));
    assert!(job["consoleUrl"].as_str().unwrap().ends_with(&format!("/oozie?job={id}")), "{}", job["consoleUrl"]);
    for key in DATE_KEYS {
        assert_date(&job[*key], zone);
    }
    for action in job["actions"].as_array().unwrap() {
        let name = action["name"].as_str().unwrap();
        assert_eq!(action["id"], format!("{id}@{name}"));
        assert_eq!(action["toString"], format!("Action name[{name}] status[{}]", action["status"].as_str().unwrap()));
        assert_date(&action["startTime"], zone);
        assert_date(&action["endTime"], zone);
        if action["type"].as_str().unwrap().starts_with(':') {
            for key in ["externalId", "trackerUri", "consoleUrl"] {
                assert_eq!(action[key], "-", "{name}.{key}");
            }
            assert_eq!(
                (action["status"].as_str(), action["externalStatus"].as_str()),
                (Some("OK"), Some("OK")),
                "{name}"
            );
        }
    }
}

fn action<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["actions"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap_or_else(|| panic!("no action {name}"))
}

#[tokio::test]
async fn a_running_workflow_matches_the_running_shell_fixture() {
    let real = fixture("job-info-v2-running-shell-actions-shopify.json");
    // The fixture's own formats hold, so the checks below mean something.
    check_workflow_formats(&real, "GMT");
    let server = OozieServer::start().await;
    let id = start_workflow(&server, "running", &shell_workflow("running"), &[]).await;

    let raw = http().get(format!("{}/v2/job/{id}?show=info", server.oozie_url())).send().await.unwrap();
    assert_eq!(raw.headers()["content-type"].to_str().unwrap().split(';').next(), Some("application/json"));
    let text = raw.text().await.unwrap();
    assert!(text.contains(r"http:\/\/"), "json-simple escapes slashes: {text}");
    let ours: Value = serde_json::from_str(&text).unwrap();

    same_shape("job", &real, &ours);
    check_workflow_formats(&ours, "GMT");
    assert_eq!(ours["status"], "RUNNING");
    same_shape(":start:", action(&real, ":start:"), action(&ours, ":start:"));
    same_shape("shell action", action(&real, "mysql-reportify_usw2-load"), action(&ours, "build"));
    let shell = action(&ours, "build");
    assert_eq!(
        (shell["type"].as_str(), shell["status"].as_str(), shell["externalStatus"].as_str()),
        (Some("shell"), Some("RUNNING"), Some("RUNNING"))
    );
    assert!(shell["externalId"].as_str().unwrap().starts_with("job_"), "{shell}");
    assert!(shell["consoleUrl"].as_str().unwrap().contains("/proxy/application_"), "{shell}");
    assert_eq!(shell["trackerUri"], edp_oozie_server::JOB_TRACKER);
    assert!(shell["conf"].as_str().unwrap().starts_with("<shell xmlns=\"uri:oozie:shell-action:0.3\">"), "{shell}");
    assert_eq!(shell["cred"], real["actions"][0]["cred"], "Oozie 4 prints the string \"null\"");
    assert_eq!(action(&ours, ":start:")["transition"], "build");
    assert!(ours["conf"].as_str().unwrap().contains("\r\n"), "the configuration is printed with CRLF");
}

const FS_THEN_SHELL: &str = r#"<workflow-app xmlns="uri:oozie:workflow:0.5" name="Client Daily Workflow">
  <start to="createTempFolder"/>
  <action name="createTempFolder">
    <fs><mkdir path="${nameNode}/tmp/x"/></fs>
    <ok to="build"/>
    <error to="fail"/>
  </action>
  <action name="build">
    <shell xmlns="uri:oozie:shell-action:0.3">
      <job-tracker>${jobTracker}</job-tracker><name-node>${nameNode}</name-node><exec>b.sh</exec>
    </shell>
    <ok to="end"/>
    <error to="fail"/>
  </action>
  <kill name="fail"><message>failed</message></kill>
  <end name="end"/>
</workflow-app>"#;

#[tokio::test]
async fn a_succeeded_workflow_matches_the_hdinsight_fixture_in_both_flavors() {
    let real = fixture("job-info-succeeded-subworkflow-fork-join-hdinsight.json");
    check_workflow_formats(&real, "GMT");
    let user_retry: BTreeSet<String> = ["userRetryCount", "userRetryMax", "userRetryInterval"].map(String::from).into();
    for flavor in [Flavor::Legacy, Flavor::Current] {
        let server = OozieServer::start_with(Options { flavor, ..Options::default() }).await;
        let id = start_workflow(&server, "daily", FS_THEN_SHELL, &[("group.name", "g"), ("oozie.job.acl", "g")]).await;
        server.finish(&id, Outcome::Succeeded).unwrap();
        let ours = get_json(&format!("{}/v2/job/{id}", server.oozie_url())).await;
        same_shape("job", &real, &ours);
        check_workflow_formats(&ours, "GMT");
        assert_eq!(ours["status"], "SUCCEEDED");
        let names: Vec<&str> =
            ours["actions"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
        assert_eq!(names, [":start:", "createTempFolder", "build", "end"]);
        for (real_name, our_name) in [(":start:", ":start:"), ("createTempFolder", "createTempFolder"), ("end", "end")]
        {
            let (r, o) = (action(&real, real_name), action(&ours, our_name));
            match flavor {
                Flavor::Legacy => same_shape(our_name, r, o),
                Flavor::Current => assert_eq!(keys(o), keys(r).union(&user_retry).cloned().collect(), "{our_name}"),
            }
        }
        // The fs action: synchronous, no Hadoop job.
        let fs = action(&ours, "createTempFolder");
        assert_eq!(
            (fs["externalId"].as_str(), fs["trackerUri"].as_str(), fs["status"].as_str()),
            (Some("-"), Some("-"), Some("OK"))
        );
        assert_eq!(action(&ours, "build")["externalStatus"], "SUCCEEDED");
        assert_eq!(action(&ours, "end")["type"], ":END:");
        assert!(action(&ours, "end")["transition"].is_null());
    }
}

#[tokio::test]
async fn lists_match_the_list_fixtures_with_1_based_paging() {
    let real = fixture("jobs-list-v2-workflows-tz-EST-shopify.json");
    let server = OozieServer::start().await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c"] {
        ids.push(start_workflow(&server, name, &shell_workflow(name), &[]).await);
    }
    server.finish(&ids[1], Outcome::Succeeded).unwrap();
    let url = format!("{}/v2/jobs?jobtype=wf&len=2&offset=1&timezone=EST", server.oozie_url());
    let ours = get_json(&url).await;
    assert_eq!(keys(&ours), keys(&real));
    assert_eq!((ours["total"].as_u64(), ours["len"].as_u64(), ours["offset"].as_u64()), (Some(3), Some(2), Some(1)));
    let items = ours["workflows"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for (item, real_item) in items.iter().zip(real["workflows"].as_array().unwrap()) {
        same_shape("list item", real_item, item);
        assert!(
            item["appPath"].is_null() && item["conf"].is_null() && item["actions"] == Value::Array(vec![]),
            "{item}"
        );
        for key in DATE_KEYS {
            assert_date(&item[*key], "EST");
        }
    }
    assert_eq!(items[0]["id"], ids[2].as_str(), "newest first");
    let page2 = get_json(&format!("{}/v2/jobs?len=2&offset=3", server.oozie_url())).await;
    assert_eq!(page2["workflows"][0]["id"], ids[0].as_str());
    assert_eq!(page2["offset"], 3);
    let filtered = get_json(&format!("{}/v2/jobs?filter=name%3Db%3Bstatus%3DSUCCEEDED", server.oozie_url())).await;
    assert_eq!((filtered["total"].as_u64(), filtered["workflows"][0]["id"].as_str()), (Some(1), Some(ids[1].as_str())));
    let bad = http().get(format!("{}/v2/jobs?filter=colour%3Dred", server.oozie_url())).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad.headers()["oozie-error-code"], "E0420");
}

#[tokio::test]
async fn coordinators_match_the_coordinator_fixtures() {
    let real_info = fixture("job-info-v2-coordinator-killed-shopify.json");
    let real_list = fixture("jobs-list-v2-coordinatorjobs-tz-EST-shopify.json");
    let server = OozieServer::start().await;
    let coordinator = r#"<coordinator-app name="rollup" frequency="1440" start="2016-05-02T20:37Z" end="2116-05-02T14:49Z"
        timezone="UTC" xmlns="uri:oozie:coordinator:0.4">
      <controls><timeout>10</timeout><concurrency>1</concurrency><execution>LAST_ONLY</execution><throttle>1</throttle></controls>
      <action><workflow><app-path>${nameNode}/user/edp/apps/wf</app-path></workflow></action>
    </coordinator-app>"#;
    upload(&server, "/user/edp/coords/rollup/coordinator.xml", coordinator.as_bytes()).await;
    let response = submit(
        &server,
        &[("user.name", "edp"), ("oozie.coord.application.path", "hdfs://nn/user/edp/coords/rollup")],
        true,
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    assert_id(&id, 'C');
    let kill = http().put(format!("{}/v2/job/{id}?action=kill", server.oozie_url())).send().await.unwrap();
    assert_eq!(kill.status(), StatusCode::OK);

    let info = get_json(&format!("{}/v2/job/{id}?show=info", server.oozie_url())).await;
    same_shape("coordinator", &real_info, &info);
    assert_eq!(info["toString"], format!("Coordinator application id[{id}] status[KILLED]"));
    assert_eq!(
        (info["frequency"].as_str(), info["timeUnit"].as_str(), info["executionPolicy"].as_str()),
        (Some("1440"), Some("MINUTE"), Some("LAST_ONLY"))
    );
    for key in ["startTime", "endTime", "lastAction", "nextMaterializedTime"] {
        assert_date(&info[key], "GMT");
    }
    let list = get_json(&format!("{}/v2/jobs?jobtype=coord&timezone=EST", server.oozie_url())).await;
    assert_eq!(keys(&list), keys(&real_list));
    let item = &list["coordinatorjobs"][0];
    same_shape("coordinator list item", &real_list["coordinatorjobs"][0], item);
    assert!(item["conf"].is_null());
    assert_date(&item["startTime"], "EST");
}

#[tokio::test]
async fn errors_carry_oozies_headers_over_an_html_page() {
    let real = fixture("error-response-headers-e0605-pyoozie.json");
    let server = OozieServer::start().await;
    let id = start_workflow(&server, "e", &shell_workflow("e"), &[]).await;
    let missing_action = format!("{id}@nope");
    let response = http().get(format!("{}/v2/job/{missing_action}", server.oozie_url())).send().await.unwrap();
    assert_eq!(response.status().as_u16(), real["status"].as_u64().unwrap() as u16);
    let headers = response.headers().clone();
    for name in real["headers"].as_object().unwrap().keys() {
        assert!(headers.contains_key(name.as_str()), "header {name} missing: {headers:?}");
    }
    assert_eq!(headers["content-type"], real["headers"]["Content-Type"].as_str().unwrap());
    assert_eq!(headers["oozie-error-code"], "E0605");
    // The fixture's message format, with our id.
    let real_message = real["headers"]["oozie-error-message"].as_str().unwrap();
    let real_id = real_message.split('[').nth(1).unwrap().trim_end_matches(']');
    assert_eq!(headers["oozie-error-message"].to_str().unwrap(), real_message.replace(real_id, &missing_action));
    let body = response.text().await.unwrap();
    assert!(body.starts_with("<html>") && serde_json::from_str::<Value>(&body).is_err());

    let unknown = "0009999-200101000000000-oozie-oozi-W";
    let response = http().get(format!("{}/v2/job/{unknown}?show=status", server.oozie_url())).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()["oozie-error-message"].to_str().unwrap(),
        format!("E0604: Job does not exist [{unknown}]")
    );
}

/// `yyyy-MM-dd HH:mm:ss,SSS LEVEL Class:line - SERVER[..] USER[..] GROUP[..]
/// TOKEN[..] APP[..] JOB[..] ACTION[..] message` (log4j's `%5p`).
fn log_line_ok(line: &str) -> Result<(), String> {
    let (stamp, rest) = line.split_at_checked(23).ok_or("short line")?;
    NaiveDateTime::parse_from_str(stamp, "%Y-%m-%d %H:%M:%S,%3f").map_err(|e| format!("date: {e}"))?;
    let level = rest.get(..6).ok_or("no level")?;
    if !["  INFO", "  WARN", " ERROR", " DEBUG"].contains(&level) {
        return Err(format!("level `{level}`"));
    }
    let rest = rest[6..].strip_prefix(' ').ok_or("no space after the level")?;
    let (class, rest) = rest.split_once(" - ").ok_or("no ` - `")?;
    let (name, number) = class.split_once(':').ok_or("no class:line")?;
    if name.is_empty() || number.parse::<u32>().is_err() {
        return Err(format!("class `{class}`"));
    }
    let mut rest = rest;
    for tag in ["SERVER[", "] USER[", "] GROUP[", "] TOKEN[", "] APP[", "] JOB[", "] ACTION["] {
        let at = rest.find(tag).ok_or(format!("no {tag}"))?;
        rest = &rest[at + tag.len()..];
    }
    rest.find("] ").map(|_| ()).ok_or("no message".into())
}

#[tokio::test]
async fn logs_have_the_fixture_line_format() {
    let real = fixture_text("job-log-pig-spark-workflow-hdp.txt");
    for line in real.lines() {
        log_line_ok(line).unwrap_or_else(|e| panic!("fixture line does not pass the check ({e}): {line}"));
    }
    let server = OozieServer::start().await;
    let id = start_workflow(&server, "logged", &shell_workflow("logged"), &[]).await;
    server.fail_action(&id, "JA018", "Main class [org.apache.oozie.action.hadoop.ShellMain], exit code [1]").unwrap();
    let response = http().get(format!("{}/v2/job/{id}?show=log", server.oozie_url())).send().await.unwrap();
    assert_eq!(response.headers()["content-type"].to_str().unwrap().split(';').next(), Some("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.lines().count() >= 4, "{text}");
    for line in text.lines() {
        log_line_ok(line).unwrap_or_else(|e| panic!("our line does not pass the check ({e}): {line}"));
    }
    assert!(text.contains(&format!("JOB[{id}]")) && text.contains("ErrorCode [JA018]"), "{text}");
}
