//! `GET /v2/events`: job and flow changes as server-sent events, scoped to
//! the caller's project, resumable with `Last-Event-ID`, and fed from the
//! database so that another edpd's changes arrive too. Also what browsers
//! at `/` and dashboards elsewhere (CORS) get.

use std::time::{Duration, Instant};

use edp_tests::TestApp;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde_json::{Value, json};

use crate::helpers::{TERMINAL, launch, local_cluster, shell_template, wait_for};
use crate::postgres::Database;

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    name: String,
    id: Option<String>,
    data: Value,
}

/// Reads events off a response as they come.
struct Stream {
    body: BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, token: Option<&str>, last_event_id: Option<&str>) -> Self {
        let mut request = app.http.get(format!("{}/v2/events", app.base));
        if let Some(token) = token {
            request = request.header("X-Auth-Token", token);
        }
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("the event stream opens");
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
        Self { body: response.bytes_stream().boxed(), buffer: String::new() }
    }

    /// The next event (keep-alive comments skipped), or a panic after `within`.
    async fn next(&mut self, within: Duration) -> Sse {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if !name.is_empty() {
                    return Sse { name, id, data: serde_json::from_str(&data).unwrap_or(Value::Null) };
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.body.next())
                .await
                .unwrap_or_else(|_| panic!("no event within {within:?}"))
                .expect("the stream stays open")
                .expect("a chunk");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Events until one satisfies `done`; all of them, that one last.
    async fn until(&mut self, within: Duration, done: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let event = self.next(deadline.saturating_duration_since(Instant::now())).await;
            let stop = done(&event);
            seen.push(event);
            if stop {
                return seen;
            }
        }
    }
}

fn job_state(event: &Sse, id: &str) -> Option<String> {
    (event.name == "job" && event.data["job"]["id"] == id)
        .then(|| event.data["job"]["status"].as_str().map(str::to_string))
        .flatten()
}

/// Whether `event` says the `kind` (`job`, `flow`) with this id was deleted.
fn deleted(event: &Sse, kind: &str, id: &str) -> bool {
    event.name == format!("{kind}.deleted") && event.data[kind]["id"] == id
}

fn numeric_ids(events: &[Sse]) -> Vec<i64> {
    events.iter().filter_map(|e| e.id.as_deref()).map(|id| id.parse().expect("numeric event ids")).collect()
}

#[tokio::test]
async fn a_job_is_followed_live_and_replayed_from_an_event_id() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "quick", "echo hi\n").await;

    let mut stream = Stream::open(&app, None, None).await;
    let ready = stream.next(Duration::from_secs(10)).await;
    assert_eq!(ready.name, "ready", "{ready:?}");
    let start = ready.id.clone().expect("ready carries the cursor");

    let id = launch(&app, &template, &cluster, json!({})).await;
    let seen = stream.until(Duration::from_secs(30), |e| job_state(e, &id).as_deref() == Some("SUCCEEDED")).await;
    let states: Vec<String> = seen.iter().filter_map(|e| job_state(e, &id)).collect();
    assert_eq!(states.last().map(String::as_str), Some("SUCCEEDED"), "{seen:?}");
    let last = seen.last().expect("an event");
    assert_eq!(last.data["job"]["return_code"], 0);
    assert_eq!(last.data["job"]["engine"], "local");
    assert!(last.data["job"].get("extra").is_none(), "no internals in events");
    let ids = numeric_ids(&seen);
    assert!(ids.windows(2).all(|w| w[0] <= w[1]), "event ids never go back: {ids:?}");

    // From the cursor before the launch: the job's state now, then `ready`.
    let mut again = Stream::open(&app, None, Some(&start)).await;
    let replay = again.until(Duration::from_secs(10), |e| e.name == "ready").await;
    let replayed: Vec<String> = replay.iter().filter_map(|e| job_state(e, &id)).collect();
    assert_eq!(replayed.last().map(String::as_str), Some("SUCCEEDED"), "{replay:?}");

    let bad =
        app.http.get(format!("{}/v2/events", app.base)).header("Last-Event-ID", "yesterday").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let unknown = app.get("/v2/events?since=1").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.error_name(), "INVALID_PARAMS_ON_REQUEST");
}

#[tokio::test]
async fn deletions_are_events_live_and_in_replays() {
    let app = TestApp::spawn().await;
    let cluster = local_cluster(&app).await;
    let template = shell_template(&app, "quick", "echo hi\n").await;
    let job = launch(&app, &template, &cluster, json!({})).await;
    wait_for(&app, &job, TERMINAL, Duration::from_secs(30)).await;
    let flow = app
        .post(
            "/v2/flows",
            json!({"name": "one", "jobs": [{"key": "a", "job_template_id": template, "cluster_id": cluster}]}),
        )
        .await
        .expect(202)["flow"]["id"]
        .as_str()
        .expect("a flow id")
        .to_string();
    edp_tests::eventually("the flow to end", Duration::from_secs(30), || async {
        (app.get(&format!("/v2/flows/{flow}")).await.expect(200)["flow"]["status"] != "RUNNING").then_some(())
    })
    .await;
    let sleeper = shell_template(&app, "sleeper", "sleep 600\n").await;
    let running = launch(&app, &sleeper, &cluster, json!({})).await;
    wait_for(&app, &running, &["RUNNING"], Duration::from_secs(30)).await;

    let mut stream = Stream::open(&app, None, None).await;
    let ready = stream.next(Duration::from_secs(10)).await;
    assert_eq!(ready.name, "ready", "{ready:?}");
    let start = ready.id.clone().expect("ready carries the cursor");
    app.delete(&format!("/v2/jobs/{job}")).await.expect(204);
    app.delete(&format!("/v2/flows/{flow}")).await.expect(204);
    let seen = stream.until(Duration::from_secs(10), |e| deleted(e, "flow", &flow)).await;
    let gone = seen.iter().find(|e| deleted(e, "job", &job)).unwrap_or_else(|| panic!("no job.deleted: {seen:?}"));
    let fields: Vec<&String> = gone.data["job"].as_object().expect("an object").keys().collect();
    assert_eq!(fields, ["deleted_at", "id"], "a deletion says what went and when, nothing more: {gone:?}");
    let ids = numeric_ids(&seen);
    assert!(ids.windows(2).all(|w| w[0] <= w[1]), "event ids never go back: {ids:?}");

    // A running job is cancelled first, and deleted by the scheduler once
    // the engine confirms: its deletion comes then. (Its states in between
    // may last less than a pass of the stream: not asserted.)
    app.delete(&format!("/v2/jobs/{running}")).await.expect(204);
    stream.until(Duration::from_secs(30), |e| deleted(e, "job", &running)).await;
    assert_eq!(app.get(&format!("/v2/jobs/{running}")).await.status, 404);

    // A replay from before: both deletions, each after any state of its
    // object.
    let mut again = Stream::open(&app, None, Some(&start)).await;
    let replay = again.until(Duration::from_secs(10), |e| e.name == "ready").await;
    for (kind, id) in [("job", &job), ("flow", &flow)] {
        let at = replay.iter().position(|e| deleted(e, kind, id)).unwrap_or_else(|| panic!("{replay:?}"));
        assert!(!replay[at..].iter().any(|e| e.name == kind && e.data[kind]["id"] == **id), "{replay:?}");
    }

    // From longer ago than deletions are kept, with none forgotten since:
    // still a replay, not a reload (when some were, it is a `reset`:
    // `edp_core::events::deletions`' tests).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    let old = (now - Duration::from_secs(2 * 3_600)).as_micros().to_string();
    let mut idle = Stream::open(&app, None, Some(&old)).await;
    let replay = idle.until(Duration::from_secs(10), |e| e.name == "ready" || e.name == "reset").await;
    assert!(
        replay.iter().any(|e| deleted(e, "job", &job)) && replay.last().is_some_and(|e| e.name == "ready"),
        "{replay:?}"
    );
}

#[tokio::test]
async fn a_project_sees_its_own_and_public_changes_only() {
    let app = TestApp::builder()
        .file("edp.toml", "[auth]\ntokens = { \"token-a\" = \"team-a\", \"token-b\" = \"team-b\" }\n\n[clusters.local]\nplugin_name = \"local\"\nprojects = [\"team-a\", \"team-b\"]\n")
        .start()
        .await;
    let as_a = |method: reqwest::Method, path: &str| {
        app.http.request(method, format!("{}{path}", app.base)).header("X-Auth-Token", "token-a")
    };
    let clusters: Value =
        as_a(reqwest::Method::GET, "/v2/clusters?name=local").send().await.unwrap().json().await.unwrap();
    let cluster = clusters["clusters"][0]["id"].as_str().expect("the local cluster is public").to_string();
    let internal: Value = as_a(reqwest::Method::PUT, "/v2/job-binary-internals/q.sh")
        .body("echo hi\n")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("internal-db://{}", internal["job_binary_internal"]["id"].as_str().unwrap());
    let binary: Value = as_a(reqwest::Method::POST, "/v2/job-binaries")
        .json(&json!({"name": "q.sh", "url": url}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let template: Value = as_a(reqwest::Method::POST, "/v2/job-templates")
        .json(&json!({"name": "q", "type": "Shell", "mains": [binary["job_binary"]["id"]]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let launch_as_a = |public: bool| {
        as_a(reqwest::Method::POST, "/v2/jobs").json(&json!({
            "job_template_id": template["job_template"]["id"], "cluster_id": cluster, "is_public": public
        }))
    };
    let finished = |id: String| {
        let request = as_a(reqwest::Method::GET, &format!("/v2/jobs/{id}"));
        async move {
            let job: Value = request.send().await.unwrap().json().await.unwrap();
            TERMINAL.contains(&job["job"]["status"].as_str().unwrap_or_default()).then_some(())
        }
    };

    let mut b = Stream::open(&app, Some("token-b"), None).await;
    let b_ready = b.next(Duration::from_secs(10)).await;
    assert_eq!(b_ready.name, "ready");
    let mut a = Stream::open(&app, Some("token-a"), None).await;
    assert_eq!(a.next(Duration::from_secs(10)).await.name, "ready");

    let private: Value = launch_as_a(false).send().await.unwrap().json().await.unwrap();
    let private = private["job"]["id"].as_str().expect("launched").to_string();
    edp_tests::eventually("the private job to end", Duration::from_secs(30), || finished(private.clone())).await;
    let public: Value = launch_as_a(true).send().await.unwrap().json().await.unwrap();
    let public = public["job"]["id"].as_str().expect("launched").to_string();

    // B sees the public job end, and nothing of the private one before it.
    let seen_by_b = b.until(Duration::from_secs(30), |e| job_state(e, &public).as_deref() == Some("SUCCEEDED")).await;
    assert!(
        seen_by_b.iter().all(|e| job_state(e, &private).is_none()),
        "team-b saw team-a's private job: {seen_by_b:?}"
    );
    // A sees both.
    let seen_by_a = a.until(Duration::from_secs(30), |e| job_state(e, &public).as_deref() == Some("SUCCEEDED")).await;
    assert!(seen_by_a.iter().any(|e| job_state(e, &private).is_some()), "{seen_by_a:?}");

    // Deletions too, live and replayed.
    for id in [&private, &public] {
        let deleted = as_a(reqwest::Method::DELETE, &format!("/v2/jobs/{id}")).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
    }
    let seen_by_b = b.until(Duration::from_secs(10), |e| deleted(e, "job", &public)).await;
    assert!(!seen_by_b.iter().any(|e| deleted(e, "job", &private)), "{seen_by_b:?}");
    let seen_by_a = a.until(Duration::from_secs(10), |e| deleted(e, "job", &public)).await;
    assert!(seen_by_a.iter().any(|e| deleted(e, "job", &private)), "{seen_by_a:?}");
    let mut b_again = Stream::open(&app, Some("token-b"), b_ready.id.as_deref()).await;
    let replay = b_again.until(Duration::from_secs(10), |e| e.name == "ready").await;
    assert!(replay.iter().any(|e| deleted(e, "job", &public)), "{replay:?}");
    assert!(!replay.iter().any(|e| deleted(e, "job", &private) || job_state(e, &private).is_some()), "{replay:?}");

    let anonymous = app.get("/v2/events").await;
    assert_eq!(anonymous.status, 401);
}

/// Two edpd on one Postgres: a change made through one reaches the other's
/// subscribers.
#[tokio::test]
async fn a_change_made_by_another_edpd_reaches_this_ones_subscribers() {
    let admin_url = std::env::var("EDP_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("EDP_TEST_PG_URL is not set: run ./scripts/test, which starts Postgres, or point it at one")
    });
    let db = Database::create(&admin_url);
    let first = TestApp::builder().env("EDP__DATABASE__URL", &db.url()).start().await;
    let cluster = local_cluster(&first).await;
    let template = shell_template(&first, "quick", "echo hi\n").await;
    let id = launch(&first, &template, &cluster, json!({})).await;
    wait_for(&first, &id, TERMINAL, Duration::from_secs(30)).await;

    // The second starts once the job is over: until leases exist, two
    // schedulers on one database would both run it.
    let second = TestApp::builder().env("EDP__DATABASE__URL", &db.url()).start().await;
    let mut stream = Stream::open(&second, None, None).await;
    assert_eq!(stream.next(Duration::from_secs(10)).await.name, "ready");
    first.patch(&format!("/v2/jobs/{id}"), json!({"is_public": true})).await.expect(202);
    let seen = stream
        .until(Duration::from_secs(10), |e| job_state(e, &id).is_some() && e.data["job"]["is_public"] == true)
        .await;
    assert_eq!(seen.last().map(|e| e.data["job"]["id"].clone()), Some(json!(id)));
    first.delete(&format!("/v2/jobs/{id}")).await.expect(204);
    stream.until(Duration::from_secs(10), |e| deleted(e, "job", &id)).await;
}

#[tokio::test]
async fn browsers_get_the_dashboard_and_api_clients_the_versions_whose_links_resolve() {
    let app = TestApp::spawn().await;
    let versions = app.get("/").await.expect(300);
    let links: Vec<String> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["links"][0]["href"].as_str().expect("a link").to_string())
        .collect();
    assert_eq!(links, ["/v1.1/", "/v2/"]);
    for link in &links {
        let version = app.get(link).await.expect(200);
        assert_eq!(format!("/{}/", version["version"]["id"].as_str().unwrap()), *link);
    }

    let page = app
        .http
        .get(format!("{}/", app.base))
        .header("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/ui/app.js"), "{html}");
    let script = app.http.get(format!("{}/ui/app.js", app.base)).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(app.get("/ui/nothing.js").await.status, 404);
}

#[tokio::test]
async fn cors_lets_configured_origins_call_with_a_token() {
    let app =
        TestApp::builder().env("EDP__SERVER__CORS_ORIGINS", "https://dash.example,http://127.0.0.1:9").start().await;
    let preflight = |origin: &str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/v2/events", app.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "x-auth-token,last-event-id")
            .send()
    };
    let allowed = preflight("https://dash.example").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://dash.example");
    let headers = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(headers.contains("x-auth-token") && headers.contains("last-event-id"), "{headers}");
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let simple =
        app.http.get(format!("{}/v2/jobs", app.base)).header("Origin", "https://dash.example").send().await.unwrap();
    assert_eq!(simple.headers()["access-control-allow-origin"], "https://dash.example");

    let none = TestApp::spawn().await;
    let answer =
        none.http.get(format!("{}/v2/jobs", none.base)).header("Origin", "https://dash.example").send().await.unwrap();
    assert!(answer.headers().get("access-control-allow-origin").is_none(), "no origins configured: no CORS");
}
