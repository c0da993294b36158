//! The dashboard in a real browser: Debian's chromium, driven by
//! playwright-core (tests/ui/dashboard.mjs), against a real edpd with the
//! real local engine. `scripts/setup-browser` installs both (scripts/test
//! runs it). Screenshots of every view land in target/ui-screenshots/.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use edp_tests::build::workspace_root;
use edp_tests::{TestApp, eventually};
use serde_json::{Value, json};

const JUNK: &str = "libedp_engine_junk.so";

/// Writes a small tab-separated result into its output directory.
const WRITER: &str = "mkdir -p \"$EDP_OUTPUT\"\nprintf 'apple\\t3\\npear\\t1\\n' > \"$EDP_OUTPUT/part-00000\"\n\
    printf 'plum\\t2\\n' > \"$EDP_OUTPUT/part-00001\"\ntouch \"$EDP_OUTPUT/_SUCCESS\"\necho wrote the counts\n";
/// One flow step: writes its output directory, or fails with the code given.
const STEP: &str = "out=$1 code=${2:-0}\necho \"step for $out\"\nsleep 0.3\n\
    if [ \"$code\" != 0 ]; then echo \"failing on purpose\" >&2; exit \"$code\"; fi\n\
    mkdir -p \"$out\" && echo done > \"$out/part-00000\" && touch \"$out/_SUCCESS\"\n";

fn chromium() -> String {
    let path = std::env::var("EDP_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "no chromium at {path}: run scripts/setup-browser (scripts/test does), or set EDP_TEST_CHROMIUM"
    );
    path
}

fn ui_dir() -> PathBuf {
    let dir = workspace_root().join("tests/ui");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in {}: run scripts/setup-browser (scripts/test does)",
        dir.display()
    );
    dir
}

/// Runs the browser script on `app` with `fixture`; panics with its output
/// when any of its checks failed.
fn run_browser(app: &TestApp, scenario: &str, fixture: Value) {
    let shots = workspace_root().join("target/ui-screenshots");
    let mut child = Command::new("node")
        .arg("dashboard.mjs")
        .current_dir(ui_dir())
        .env("EDP_BASE", &app.base)
        .env("EDP_UI_FIXTURE", fixture.to_string())
        .env("EDP_UI_SCREENSHOTS", &shots)
        .env("EDP_UI_SCENARIO", scenario)
        .env("EDP_TEST_CHROMIUM", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/setup-browser installs it)");
    // The script bounds each wait; this bounds the whole run.
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser run took over 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().expect("node's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(status.success(), "the browser run failed:\n{stdout}\n{stderr}\nedpd log:\n{}", tail(&app.log()));
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

async fn id_of(reply: edp_tests::Reply, key: &str) -> String {
    reply.expect(202)[key]["id"].as_str().expect("an id").to_string()
}

async fn template(app: &TestApp, name: &str, script: &str) -> String {
    let binary = app.upload_binary(&format!("{name}.sh"), script.as_bytes()).await;
    id_of(
        app.post("/v2/job-templates", json!({"name": name, "type": "Shell", "mains": [binary]})).await,
        "job_template",
    )
    .await
}

async fn data_source(app: &TestApp, name: &str, kind: &str, url: &str) -> String {
    id_of(app.post("/v2/data-sources", json!({"name": name, "type": kind, "url": url})).await, "data_source").await
}

async fn finished(app: &TestApp, path: &str, key: &str, field: &str, wanted: &[&str]) -> Value {
    eventually(&format!("{path} to reach {wanted:?}"), Duration::from_secs(60), || async {
        let body = app.get(path).await.expect(200)[key].clone();
        wanted.contains(&body[field].as_str().unwrap_or_default()).then_some(body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let app = TestApp::builder().plugin_bytes(JUNK, b"not a plugin").start().await;
    let clusters = app.get("/v2/clusters?name=local").await.expect(200);
    let cluster = clusters["clusters"][0]["id"].as_str().expect("the local cluster").to_string();
    let work = app.root.path().join("work");

    // A finished job with a result to show.
    let writer = template(&app, "writer", WRITER).await;
    let counts = data_source(&app, "counts", "file", &format!("file://{}/counts", work.display())).await;
    let job =
        app.post("/v2/jobs", json!({"job_template_id": writer, "cluster_id": cluster, "output_id": counts})).await;
    let existing = id_of(job, "job").await;
    finished(&app, &format!("/v2/jobs/{existing}"), "job", "status", &["SUCCEEDED"]).await;

    let greeter = template(&app, "greeter", "echo \"hello, $1\"\n").await;
    let sleeper = template(&app, "sleeper", "echo sleeping\nsleep 600\n").await;
    let elsewhere = data_source(&app, "elsewhere", "hdfs", "hdfs://namenode:8020/data/in").await;

    // A flow: extract → count, extract → report (fails) → publish (skipped).
    let step = template(&app, "step", STEP).await;
    let mut sources = std::collections::BTreeMap::new();
    for key in ["extract", "count", "report", "publish"] {
        let url = format!("file://{}/{key}", work.display());
        sources.insert(key, (data_source(&app, &format!("{key}-out"), "file", &url).await, url));
    }
    let job_of = |key: &str, reads: Option<&str>, fails: bool| {
        let (out, url) = &sources[key];
        let mut args = vec![url.trim_start_matches("file://").to_string()];
        if fails {
            args.push("3".into());
        }
        json!({"key": key, "job_template_id": step, "cluster_id": cluster,
               "inputs": reads.map(|r| vec![sources[r].0.clone()]).unwrap_or_default(),
               "outputs": [out], "job_configs": {"args": args}})
    };
    let flow = app
        .post(
            "/v2/flows",
            json!({"name": "nightly", "jobs": [
                job_of("extract", None, false), job_of("count", Some("extract"), false),
                job_of("report", Some("extract"), true), job_of("publish", Some("report"), false)]}),
        )
        .await;
    let flow = id_of(flow, "flow").await;
    finished(&app, &format!("/v2/flows/{flow}"), "flow", "status", &["FAILED"]).await;

    let fixture = json!({
        "existing_job": existing,
        "cluster": cluster,
        "quick_template": greeter,
        "long_template": sleeper,
        "elsewhere_source": elsewhere,
        "junk_file": JUNK,
        "flow": flow,
        "flow_states": {"extract": "SUCCEEDED", "count": "SUCCEEDED", "report": "FAILED", "publish": "SKIPPED"},
        "flow_edges": 3,
    });
    tokio::task::block_in_place(|| run_browser(&app, "main", fixture));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_the_dashboard_asks_once_and_shows_one_project() {
    let app = TestApp::builder()
        .file("edp.toml", "[auth]\ntokens = { \"tok-a\" = \"team-a\", \"tok-b\" = \"team-b\" }\n\n[clusters.local]\nplugin_name = \"local\"\nprojects = [\"team-a\", \"team-b\"]\n")
        .start()
        .await;
    let as_ = |token: &'static str, method: reqwest::Method, path: &str| {
        app.http.request(method, format!("{}{path}", app.base)).header("X-Auth-Token", token)
    };
    let json_of = |r: reqwest::Response| async move {
        assert!(r.status().is_success(), "{}", r.status());
        r.json::<Value>().await.expect("json")
    };
    let clusters = json_of(as_("tok-a", reqwest::Method::GET, "/v2/clusters?name=local").send().await.unwrap()).await;
    let cluster = clusters["clusters"][0]["id"].as_str().expect("the public local cluster").to_string();
    let mut ids = Vec::new();
    for token in ["tok-a", "tok-b"] {
        let internal = json_of(
            as_(token, reqwest::Method::PUT, "/v2/job-binary-internals/hi.sh").body("echo hi\n").send().await.unwrap(),
        )
        .await;
        let url = format!("internal-db://{}", internal["job_binary_internal"]["id"].as_str().unwrap());
        let body = json!({"name": "hi.sh", "url": url});
        let binary =
            json_of(as_(token, reqwest::Method::POST, "/v2/job-binaries").json(&body).send().await.unwrap()).await;
        let body = json!({"name": "hi", "type": "Shell", "mains": [binary["job_binary"]["id"]]});
        let tpl =
            json_of(as_(token, reqwest::Method::POST, "/v2/job-templates").json(&body).send().await.unwrap()).await;
        let tpl = tpl["job_template"]["id"].as_str().unwrap().to_string();
        let body = json!({"job_template_id": tpl, "cluster_id": cluster});
        let job = json_of(as_(token, reqwest::Method::POST, "/v2/jobs").json(&body).send().await.unwrap()).await;
        ids.push((tpl, job["job"]["id"].as_str().unwrap().to_string()));
    }
    let fixture = json!({
        "token": "tok-a", "other_token": "tok-b", "cluster": cluster,
        "own_template": ids[0].0, "own_job": ids[0].1,
        "other_template": ids[1].0, "other_job": ids[1].1,
    });
    tokio::task::block_in_place(|| run_browser(&app, "tokens", fixture));
}
