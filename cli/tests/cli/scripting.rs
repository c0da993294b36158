//! `edp` in scripts: `ID=$(edp submit ...)` captures the id alone, ids can
//! be shortened or replaced by the engine's job id, enumerated values that
//! are wrong are listed, and the exit codes are the ones cli/README.md
//! documents.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;

use edp_tests::TestApp;
use serde_json::json;

use crate::support::{Edp, JOB_DEADLINE, run, submit, wait_status};

#[tokio::test]
async fn a_script_captures_the_job_id_from_submit_and_monitors_it() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    edp.write("hello.sh", "echo \"hello, $1\"\n");
    edp.write("fail.sh", "echo failing\nexit 4\n");
    let script = r#"
        ID=$(edp submit -t Shell -n hello --main hello.sh --arg world)
        echo "id=$ID"
        edp monitor "$ID" > /dev/null
        edp logs "$ID"
        FAILED=$(edp submit -t Shell -n fail --main fail.sh)
        if edp monitor "$FAILED" > /dev/null; then echo "monitor=0"; else echo "monitor=$?"; fi
    "#;
    let out = edp.bash(script).await;
    out.expect_code(0);
    let mut lines = out.stdout.lines();
    let id = lines.next().and_then(|l| l.strip_prefix("id=")).unwrap_or_else(|| panic!("{}", out.stdout));
    let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200);
    assert_eq!(job["job"]["info"]["status"], "SUCCEEDED", "the captured text is the job's id: {job}");
    assert_eq!(lines.collect::<Vec<_>>(), ["hello, world", "monitor=1"], "{}", out.stdout);
    // What submit has to say goes to stderr.
    assert!(out.stderr.contains(&format!("edp: job {id} submitted")), "{}", out.stderr);
}

#[tokio::test]
async fn jobs_are_found_by_a_unique_prefix_or_the_engine_job_id() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let id = submit(&edp, "hello", "echo \"hello, $1\"\n", &["prefix"]).await;
    let done = wait_status(&app, &id, &["SUCCEEDED"]).await;
    let other = submit(&edp, "other", "echo other\n", &[]).await;
    wait_status(&app, &other, &["SUCCEEDED"]).await;

    // The shortest prefix taken, a longer one, and upper case.
    for prefix in [&id[..6], &id[..13], &id[..8].to_ascii_uppercase()] {
        let shown = edp.run(&["--json", "status", prefix]).await.expect_code(0).json();
        assert_eq!(shown["id"], id, "{prefix}");
    }
    assert_eq!(edp.run(&["logs", &id[..8]]).await.expect_code(0).stdout, "hello, prefix\n");
    edp.run(&["monitor", &id[..8]]).await.expect_code(0);
    let cancel = edp.run(&["cancel", &id[..8]]).await;
    assert!(cancel.expect_code(0).stdout.contains(&format!("job {id} had already ended")), "{}", cancel.stdout);

    // Too short: a usage error that says how long.
    let short = edp.run(&["status", &id[..5]]).await;
    short.expect_code(2);
    assert!(short.stderr.contains("at least 6 characters"), "{}", short.stderr);
    // No job starts so: not found.
    let absent = if id.starts_with("ffffff") { "eeeeee" } else { "ffffff" };
    let missing = edp.run(&["status", absent]).await;
    missing.expect_code(3);
    assert!(missing.stderr.contains(&format!("`{absent}`")), "{}", missing.stderr);

    // The engine's id for a local job is its supervisor's pid.
    let pid = done["engine_job_id"].as_str().expect("an engine job id").to_string();
    let shown = edp.run(&["--json", "status", &pid]).await.expect_code(0).json();
    assert_eq!(shown["id"], id);
    assert_eq!(edp.run(&["logs", &pid]).await.expect_code(0).stdout, "hello, prefix\n");

    // The API's filters behind it. With 17 jobs, two ids share their first
    // character, so a one-character prefix matches several.
    let mut ids = vec![id.clone(), other.clone()];
    for _ in 0..15 {
        ids.push(submit(&edp, "other", "echo other\n", &[]).await);
    }
    let mut by_first: HashMap<char, Vec<&String>> = HashMap::new();
    for id in &ids {
        by_first.entry(id.chars().next().unwrap()).or_default().push(id);
    }
    let (first, mut expected) = by_first.into_iter().max_by_key(|(_, v)| v.len()).unwrap();
    assert!(expected.len() >= 2);
    let listed = app.get(&format!("/v2/jobs?id_prefix={first}&limit=100")).await.expect(200);
    let mut got: Vec<&str> = listed["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap()).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    let by_engine = app.get(&format!("/v2/jobs?engine_job_id={pid}")).await.expect(200);
    assert_eq!(by_engine["jobs"].as_array().unwrap().len(), 1, "{by_engine}");
    let refused = app.get("/v2/jobs?id_prefix=a%25").await;
    assert_eq!((refused.status, refused.error_name()), (400, "VALIDATION_ERROR"));
}

/// An Oozie workflow id (`0000000-<start time>-oozie-oozi-W`) names its job.
#[tokio::test]
async fn an_oozie_workflow_id_names_its_job() {
    use edp_oozie_server::{JOB_TRACKER, NAME_NODE, OozieServer};
    let app = TestApp::builder().plugin(edp_tests::build::engine_plugin("oozie")).start().await;
    let edp = Edp::new(&app);
    let oozie = OozieServer::start().await;
    let configs = json!({
        "oozie_url": oozie.oozie_url(),
        "name_node": NAME_NODE,
        "job_tracker": JOB_TRACKER,
        "hdfs_user": "edp",
        "webhdfs_url": oozie.webhdfs_url(),
    });
    app.post("/v2/clusters", json!({"name": "hadoop", "plugin_name": "oozie", "cluster_configs": configs}))
        .await
        .expect(202);
    let script = edp.write("wf.sh", "echo hi\n");
    let id = edp
        .run(&["submit", "-t", "Shell", "-n", "wf", "-c", "hadoop", "--main", script.to_str().unwrap()])
        .await
        .expect_code(0)
        .stdout
        .trim()
        .to_string();
    let workflow = oozie.wait_for_workflow(1, JOB_DEADLINE).await;
    let job = edp_tests::eventually("the workflow id to be recorded", JOB_DEADLINE, || async {
        let job = app.get(&format!("/v2/jobs/{id}")).await.expect(200)["job"].clone();
        (job["engine_job_id"] == workflow.as_str()).then_some(job)
    })
    .await;
    assert!(workflow.ends_with("-oozie-oozi-W"), "{workflow}");
    let shown = edp.run(&["--json", "status", &workflow]).await.expect_code(0).json();
    assert_eq!(shown["id"], job["id"]);
}

#[tokio::test]
async fn wrong_enumerated_values_are_listed_with_the_valid_ones() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let script = edp.write("x.sh", "echo x\n");
    let script = script.to_str().unwrap();
    let id = submit(&edp, "x", "echo x\n", &[]).await;
    wait_status(&app, &id, &["SUCCEEDED"]).await;
    edp.write("step.sh", "echo step\n");
    edp.write("flow.yaml", "jobs:\n  a: {type: Shell, main: step.sh}\n  b: {type: Shell, main: step.sh}\n");
    edp.write("job.yaml", "name: j\ntype: Shell\nmain: x.sh\nenvironments:\n  prod: {}\n  test: {}\n");
    let binaries_before = app.get("/v2/job-binaries").await.expect(200)["binaries"].as_array().unwrap().len();

    // (arguments, exit code, what stderr must say)
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["list", "--status", "RUNNING,DONE"],
            2,
            "unknown job status `DONE`: use one of PENDING, PREP, RUNNING, SUSPENDED, TOBEKILLED, SUCCEEDED, FAILED, \
             KILLED, DONEWITHERROR",
        ),
        (
            &["flow", "list", "--status", "done"],
            2,
            "unknown flow status `done`: use one of RUNNING, SUCCEEDED, FAILED, KILLED",
        ),
        (
            &["submit", "-t", "Shel", "-n", "x2", "--main", script],
            2,
            "unknown job type `Shel`: use one of Java, MapReduce.Streaming, Python, Shell",
        ),
        (&["templates", "list", "--type", "Pig"], 2, "unknown job type `Pig`: use one of Java, MapReduce.Streaming"),
        (&["logs", &id, "--stream", "stdrr"], 3, "no log stream `stdrr`; there are stdout, stderr"),
        (&["data-sources", "add", "s", "/tmp/s", "--type", "s3"], 3, "(supported: file, hdfs)"),
        (&["clusters", "add", "c", "--engine", "yarn"], 3, "(loaded: local)"),
        (&["submit", "-f", "job.yaml", "--env", "dev"], 2, "job.yaml has no environment `dev`; it has: prod, test"),
        (&["flow", "submit", "flow.yaml", "--force", "c"], 2, "(its jobs: a, b)"),
    ];
    for (args, code, says) in cases {
        let out = edp.run(args).await;
        out.expect_code(*code);
        assert!(out.stderr.contains(says), "{args:?}: expected `{says}` in:\n{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    }
    // The job type is checked before anything is uploaded.
    let binaries = app.get("/v2/job-binaries").await.expect(200)["binaries"].as_array().unwrap().len();
    assert_eq!(binaries, binaries_before);
}

/// cli/README.md's table, code by code.
#[tokio::test]
async fn every_documented_exit_code_is_what_happens() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let ok = submit(&edp, "ok", "echo ok\n", &[]).await;
    let failed = submit(&edp, "failed", "exit 3\n", &[]).await;
    wait_status(&app, &ok, &["SUCCEEDED"]).await;
    wait_status(&app, &failed, &["FAILED"]).await;

    // 0: done as asked; a waited-for job SUCCEEDED.
    edp.run(&["list"]).await.expect_code(0);
    edp.run(&["monitor", &ok]).await.expect_code(0);
    edp.run(&["logs", "-f", &ok]).await.expect_code(0);
    // 1: the job ended otherwise; a cancel that found it finished.
    edp.run(&["monitor", &failed]).await.expect_code(1);
    edp.run(&["logs", "-f", &failed]).await.expect_code(1);
    edp.run(&["cancel", "--wait", &ok]).await.expect_code(1);
    // 2: usage.
    edp.run(&["list", "--limit", "0"]).await.expect_code(2);
    edp.run(&["status"]).await.expect_code(2);
    // 3: refused, or named on the command line and not there.
    edp.run(&["status", "00000000-0000-4000-8000-000000000000"]).await.expect_code(3);
    edp.run(&["--json", "list", "--cluster", "nowhere"]).await.expect_code(3);

    // 4: nothing answers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    Edp::with_url(&format!("http://127.0.0.1:{closed}")).run(&["list"]).await.expect_code(4);

    // 5: something answers, but not edpd's API: a web page, then a 502.
    for (status, body) in [("200 OK", "<html>a proxy</html>"), ("502 Bad Gateway", "<html>bad gateway</html>")] {
        let (url, server) = answer_once(status, body);
        let out = Edp::with_url(&url).run(&["list"]).await;
        out.expect_code(5);
        assert!(out.stderr.starts_with("edp: "), "{}", out.stderr);
        server.join().expect("the fake answered");
    }
}

/// A server that answers one request with `status` and `body`, whatever
/// was asked: what a misconfigured proxy in front of edpd looks like.
fn answer_once(status: &'static str, body: &'static str) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("a request");
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf);
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    });
    (url, server)
}

#[tokio::test]
async fn cannot_reach_edpd_says_where_the_url_came_from_and_how_to_start_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let edp = Edp::with_url(&url);
    let from_env = edp.run(&["list"]).await;
    let from_flag = run(edp.command(&["--url", &url, "list"], false)).await;
    let file = edp.write(".config/edp/config.toml", &format!("url = \"{url}\"\n"));
    let from_file = run(edp.command(&["list"], false)).await;
    for (out, origin) in [
        (from_env, "from EDP_URL".to_string()),
        (from_flag, "from --url".to_string()),
        (from_file, format!("from `url` in {}", file.display())),
    ] {
        out.expect_code(4);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{}", out.stderr);
        assert!(lines[0].starts_with(&format!("edp: cannot reach edpd at {url} ({origin}): ")), "{}", out.stderr);
        assert!(lines[0].to_lowercase().contains("connection refused"), "{}", out.stderr);
        for hint in ["`edpd`", "`scripts/run`", "--url", "EDP_URL"] {
            assert!(lines[1].contains(hint), "the hint should name {hint}: {}", out.stderr);
        }
    }
}
