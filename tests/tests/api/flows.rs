//! Flows: dependencies inferred from data, independent jobs in parallel,
//! re-runs that skip what exists, failures that block only dependants, and
//! a restart in the middle.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use edp_tests::{TestApp, eventually};
use serde_json::{Value, json};

use crate::helpers::{local_cluster, shell_template};

/// Each job appends "<key> start <ns>" and "<key> end <ns>" to the journal,
/// waits, writes its output directory, and exits with the code given.
const STEP: &str = r#"key=$1 out=$2 secs=$3 journal=$4 code=${5:-0}
echo "$key start $(date +%s%N)" >> "$journal"
sleep "$secs"
if [ "$code" != 0 ]; then echo "$key failing" >&2; exit "$code"; fi
mkdir -p "$out" && echo "$key" > "$out/part-00000" && touch "$out/_SUCCESS"
echo "$key end $(date +%s%N)" >> "$journal"
"#;

struct Bench {
    app: TestApp,
    cluster: String,
    template: String,
    work: PathBuf,
    journal: PathBuf,
    sources: BTreeMap<String, String>,
}

impl Bench {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let cluster = local_cluster(&app).await;
        let template = shell_template(&app, "step", STEP).await;
        let work = app.root.path().join("work");
        std::fs::create_dir_all(&work).expect("work dir");
        let journal = work.join("journal");
        let mut sources = BTreeMap::new();
        for name in ["a", "b", "c", "d", "e", "f"] {
            let url = format!("file://{}/{name}", work.display());
            let ds = app
                .post("/v2/data-sources", json!({"name": format!("out-{name}"), "type": "file", "url": url}))
                .await
                .expect(202);
            sources.insert(name.to_string(), ds["data_source"]["id"].as_str().expect("id").to_string());
        }
        Self { app, cluster, template, work, journal, sources }
    }

    fn output(&self, key: &str) -> PathBuf {
        self.work.join(key)
    }

    /// A diamond (a → b, c → d), a tail (d → e) and an independent f.
    fn six_jobs(&self, failing: Option<&str>) -> Value {
        let spec = [
            ("a", vec![], 1.0),
            ("b", vec!["a"], 1.5),
            ("c", vec!["a"], 1.5),
            ("d", vec!["b", "c"], 0.5),
            ("e", vec!["d"], 0.5),
            ("f", vec![], 2.5),
        ];
        let jobs: Vec<Value> = spec
            .iter()
            .map(|(key, inputs, secs)| {
                let code = if failing == Some(*key) { "3" } else { "0" };
                let args = [
                    key.to_string(),
                    self.output(key).display().to_string(),
                    secs.to_string(),
                    self.journal.display().to_string(),
                    code.to_string(),
                ];
                json!({
                    "key": key,
                    "job_template_id": self.template,
                    "cluster_id": self.cluster,
                    "inputs": inputs.iter().map(|i| self.sources[*i].clone()).collect::<Vec<_>>(),
                    "outputs": [self.sources[*key]],
                    "job_configs": {"args": args},
                })
            })
            .collect();
        json!({"name": "six", "jobs": jobs})
    }

    async fn submit(&self, body: Value) -> String {
        let flow = self.app.post("/v2/flows", body).await.expect(202);
        flow["flow"]["id"].as_str().expect("flow id").to_string()
    }

    async fn wait_done(&self, id: &str) -> Value {
        eventually(&format!("flow {id} to end"), Duration::from_secs(60), || async {
            let flow = self.app.get(&format!("/v2/flows/{id}")).await.expect(200)["flow"].clone();
            (flow["status"] != "RUNNING").then_some(flow)
        })
        .await
    }

    /// (key → [(start ns, end ns)]) from the journal, one entry per run.
    fn runs(&self) -> BTreeMap<String, Vec<(u128, Option<u128>)>> {
        let text = std::fs::read_to_string(&self.journal).unwrap_or_default();
        let mut runs: BTreeMap<String, Vec<(u128, Option<u128>)>> = BTreeMap::new();
        for line in text.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if let [key, event, ns] = parts[..] {
                let ns: u128 = ns.parse().expect("nanoseconds");
                let entry = runs.entry(key.to_string()).or_default();
                match event {
                    "start" => entry.push((ns, None)),
                    "end" => entry.last_mut().expect("a start before the end").1 = Some(ns),
                    _ => {}
                }
            }
        }
        runs
    }
}

fn job<'a>(flow: &'a Value, key: &str) -> &'a Value {
    flow["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .find(|j| j["key"] == key)
        .unwrap_or_else(|| panic!("no job {key} in {flow}"))
}

fn states(flow: &Value) -> BTreeMap<String, String> {
    flow["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| (j["key"].as_str().unwrap_or("").to_string(), j["state"].as_str().unwrap_or("").to_string()))
        .collect()
}

fn expect_states(flow: &Value, expected: &[(&str, &str)]) {
    let got = states(flow);
    for (key, state) in expected {
        assert_eq!(got[*key], *state, "job {key}: {}", job(flow, key));
    }
}

#[tokio::test]
async fn independent_branches_overlap_and_no_job_starts_before_its_producers_end() {
    let bench = Bench::new().await;
    let id = bench.submit(bench.six_jobs(None)).await;
    let flow = bench.wait_done(&id).await;
    assert_eq!(flow["status"], "SUCCEEDED", "{flow}");
    expect_states(
        &flow,
        &[
            ("a", "SUCCEEDED"),
            ("b", "SUCCEEDED"),
            ("c", "SUCCEEDED"),
            ("d", "SUCCEEDED"),
            ("e", "SUCCEEDED"),
            ("f", "SUCCEEDED"),
        ],
    );

    let mut edges: Vec<(String, String)> = flow["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| (e["from"].as_str().unwrap_or("").into(), e["to"].as_str().unwrap_or("").into()))
        .collect();
    edges.sort();
    let expected: Vec<(String, String)> = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")]
        .iter()
        .map(|(f, t)| (f.to_string(), t.to_string()))
        .collect();
    assert_eq!(edges, expected);

    let runs = bench.runs();
    let span = |key: &str| {
        let r = &runs[key];
        assert_eq!(r.len(), 1, "{key} ran {} times", r.len());
        (r[0].0, r[0].1.expect("an end"))
    };
    for (producer, consumer) in &expected {
        let (_, produced) = span(producer);
        let (started, _) = span(consumer);
        assert!(started > produced, "{consumer} started before {producer} ended");
    }
    let overlap = |x: (u128, u128), y: (u128, u128)| x.0 < y.1 && y.0 < x.1;
    assert!(overlap(span("b"), span("c")), "b and c should have run side by side");
    assert!(overlap(span("a"), span("f")), "the independent f should have run beside a");
    // The API's record agrees, to the microsecond.
    for key in ["a", "b", "c", "d", "e", "f"] {
        assert!(
            job(&flow, key)["started_at"].is_string() && job(&flow, key)["ended_at"].is_string(),
            "{}",
            job(&flow, key)
        );
    }
    let d_start = job(&flow, "d")["started_at"].as_str().unwrap_or_default().to_string();
    for producer in ["b", "c"] {
        assert!(
            d_start.as_str() > job(&flow, producer)["ended_at"].as_str().unwrap_or_default(),
            "API times: d started before {producer} ended"
        );
    }

    // Each flow job is an ordinary job that knows its flow.
    let jobs = bench.app.get(&format!("/v2/jobs?flow_id={id}")).await.expect(200);
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(6));
    assert!(jobs["jobs"].as_array().expect("jobs").iter().all(|j| j["flow_id"] == json!(id)));

    let graph = bench.app.get(&format!("/v2/flows/{id}/graph")).await.expect(200);
    assert_eq!(graph["graph"]["nodes"].as_array().map(Vec::len), Some(6));
    let dot =
        bench.app.http.get(format!("{}/v2/flows/{id}/graph?format=dot", bench.app.base)).send().await.expect("dot");
    assert!(dot.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/vnd.graphviz"));
    let dot = dot.text().await.expect("text");
    assert!(dot.starts_with("digraph") && dot.contains("\"b\" -> \"d\""), "{dot}");
}

#[tokio::test]
async fn rerunning_with_use_existing_runs_only_what_is_missing_and_its_dependants() {
    let bench = Bench::new().await;
    let first = bench.submit(bench.six_jobs(None)).await;
    assert_eq!(bench.wait_done(&first).await["status"], "SUCCEEDED");

    std::fs::remove_dir_all(bench.output("c")).expect("delete c's output");
    std::fs::remove_file(&bench.journal).expect("reset the journal");
    let mut body = bench.six_jobs(None);
    body["use_existing"] = json!(true);
    let second = bench.submit(body.clone()).await;
    let flow = bench.wait_done(&second).await;
    assert_eq!(flow["status"], "SUCCEEDED", "{flow}");
    expect_states(
        &flow,
        &[
            ("a", "SKIPPED"),
            ("b", "SKIPPED"),
            ("c", "SUCCEEDED"),
            ("d", "SUCCEEDED"),
            ("e", "SUCCEEDED"),
            ("f", "SKIPPED"),
        ],
    );
    for key in ["a", "b", "f"] {
        let reason = job(&flow, key)["reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("output exists: file://"), "{key}: {reason}");
    }
    assert!(job(&flow, "c")["reason"].as_str().unwrap_or_default().contains("output missing"), "{}", job(&flow, "c"));
    let ran: Vec<String> = bench.runs().into_keys().collect();
    assert_eq!(ran, ["c", "d", "e"]);

    // `force` runs a job although its output exists; what depends on it follows.
    std::fs::remove_file(&bench.journal).expect("reset the journal");
    body["force"] = json!(["b"]);
    let third = bench.submit(body).await;
    let flow = bench.wait_done(&third).await;
    assert_eq!(flow["status"], "SUCCEEDED", "{flow}");
    assert!(job(&flow, "b")["reason"].as_str().unwrap_or_default().contains("forced"), "{}", job(&flow, "b"));
    let ran: Vec<String> = bench.runs().into_keys().collect();
    assert_eq!(ran, ["b", "d", "e"]);
}

#[tokio::test]
async fn a_failing_middle_job_skips_its_dependants_and_fails_the_flow() {
    let bench = Bench::new().await;
    let id = bench.submit(bench.six_jobs(Some("b"))).await;
    let flow = bench.wait_done(&id).await;
    assert_eq!(flow["status"], "FAILED", "{flow}");
    expect_states(
        &flow,
        &[
            ("a", "SUCCEEDED"),
            ("b", "FAILED"),
            ("c", "SUCCEEDED"),
            ("d", "SKIPPED"),
            ("e", "SKIPPED"),
            ("f", "SUCCEEDED"),
        ],
    );
    assert_eq!(job(&flow, "d")["reason"], "producer 'b' failed");
    assert_eq!(job(&flow, "e")["reason"], "producer 'd' was skipped");
    assert!(job(&flow, "d")["execution_id"].is_null(), "a skipped job never runs");
}

#[tokio::test]
async fn cycles_and_double_writers_are_refused_naming_the_jobs() {
    let bench = Bench::new().await;
    let s = &bench.sources;
    let job = |key: &str, inputs: &[&str], outputs: &[&str]| {
        json!({"key": key, "job_template_id": bench.template, "cluster_id": bench.cluster,
               "inputs": inputs.iter().map(|k| s[*k].clone()).collect::<Vec<_>>(),
               "outputs": outputs.iter().map(|k| s[*k].clone()).collect::<Vec<_>>()})
    };
    let cycle = json!({"name": "loop", "jobs": [job("x", &["b"], &["a"]), job("y", &["a"], &["b"])]});
    let reply = bench.app.post("/v2/flows", cycle).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.body["error_message"].as_str().unwrap_or_default();
    assert!(message.contains("cycle") && message.contains('x') && message.contains('y'), "{message}");

    let twice = json!({"name": "twice", "jobs": [job("x", &[], &["a"]), job("y", &[], &["a"])]});
    let reply = bench.app.post("/v2/flows", twice).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.body["error_message"].as_str().unwrap_or_default();
    assert!(message.contains("'x'") && message.contains("'y'"), "{message}");
    assert_eq!(bench.app.get("/v2/flows").await.expect(200)["flows"], json!([]));
}

#[tokio::test]
async fn a_flow_survives_edpd_being_killed_and_launches_each_job_once() {
    let mut bench = Bench::new().await;
    let id = bench.submit(bench.six_jobs(None)).await;
    // Kill edpd while b and c run.
    eventually("b and c to run", Duration::from_secs(30), || async {
        let flow = bench.app.get(&format!("/v2/flows/{id}")).await.expect(200)["flow"].clone();
        let s = states(&flow);
        (s["b"] == "RUNNING" && s["c"] == "RUNNING").then_some(())
    })
    .await;
    bench.app.kill();
    bench.app.start().await;
    let flow = bench.wait_done(&id).await;
    assert_eq!(flow["status"], "SUCCEEDED", "{flow}");
    for (key, runs) in bench.runs() {
        assert_eq!(runs.len(), 1, "{key} was launched {} times", runs.len());
    }
    assert_eq!(bench.runs().len(), 6);
}

#[tokio::test]
async fn cancelling_a_flow_kills_its_running_jobs_and_skips_the_rest() {
    let bench = Bench::new().await;
    let id = bench.submit(bench.six_jobs(None)).await;
    eventually("a to run", Duration::from_secs(30), || async {
        let flow = bench.app.get(&format!("/v2/flows/{id}")).await.expect(200)["flow"].clone();
        (states(&flow)["a"] == "RUNNING").then_some(())
    })
    .await;
    bench.app.patch(&format!("/v2/flows/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    let flow = bench.wait_done(&id).await;
    assert_eq!(flow["status"], "KILLED", "{flow}");
    let s = states(&flow);
    assert_eq!(s["a"], "KILLED");
    for key in ["b", "c", "d", "e"] {
        assert_eq!(s[key], "SKIPPED", "{}", job(&flow, key));
    }
    assert_eq!(bench.app.delete(&format!("/v2/flows/{id}")).await.status, 204);
    assert_eq!(bench.app.get(&format!("/v2/flows/{id}")).await.status, 404);
}
