//! `edp flow …`: a flow file of local shell jobs that read and write files
//! in the test's directory, run by a real edpd.

use std::path::{Path, PathBuf};

use edp_tests::{TestApp, eventually};
use serde_json::Value;

use crate::support::{Edp, JOB_DEADLINE, Run};

/// `step.sh KEY OUT [IN...]`: writes its inputs, then its key, to OUT.
const STEP: &str = r#"key=$1 out=$2
shift 2
for f in "$@"; do cat "$f"; done > "$out.tmp"
echo "$key" >> "$out.tmp"
mv "$out.tmp" "$out"
"#;

const FAIL: &str = "echo \"$1 failing\" >&2\nexit 3\n";

/// A diamond: a → b, a → c, (b, c) → d. The paths are in the args too:
/// a job with several inputs gets no EDP_INPUT.
fn diamond(data: &Path) -> String {
    let w = data.display();
    format!(
        "\
name: diamond
defaults:
  type: Shell
  main: step.sh
jobs:
  a:
    outputs: [{w}/a]
    args: [a, {w}/a]
  b:
    inputs: [{w}/a]
    outputs: [{w}/b]
    args: [b, {w}/b, {w}/a]
  c:
    inputs: [{w}/a]
    outputs: [{w}/c]
    args: [c, {w}/c, {w}/a]
  d:
    inputs: [{w}/b, {w}/c]
    outputs: [{w}/d]
    args: [d, {w}/d, {w}/b, {w}/c]
environments:
  broken:
    jobs:
      c: {{main: fail.sh}}
"
    )
}

struct Bench {
    app: TestApp,
    edp: Edp,
    data: PathBuf,
    file: String,
}

impl Bench {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let edp = Edp::new(&app);
        let data = edp.dir().join("data");
        std::fs::create_dir_all(&data).unwrap();
        edp.write("project/step.sh", STEP);
        edp.write("project/fail.sh", FAIL);
        let file = edp.write("project/flow.yaml", &diamond(&data)).to_str().unwrap().to_string();
        Self { app, edp, data, file }
    }

    fn output(&self, key: &str) -> PathBuf {
        self.data.join(key)
    }

    /// `edp flow submit FILE ARGS... --wait`, for people; the flow id.
    async fn submit_wait(&self, args: &[&str], code: i32) -> (String, Run) {
        let argv = [&["flow", "submit", self.file.as_str()][..], args, &["--wait"]].concat();
        let run = self.edp.run(&argv).await;
        run.expect_code(code);
        let id = run
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("edp: flow ").and_then(|l| l.split_once(" submitted")).map(|(id, _)| id))
            .unwrap_or_else(|| panic!("no `flow ID submitted` note:\n{}", run.stderr))
            .to_string();
        (id, run)
    }

    async fn flow(&self, id: &str) -> Value {
        self.edp.run(&["--json", "flow", "status", id]).await.expect_code(0).json()
    }

    /// `flow status ID` for people: its lines after the header.
    async fn tree(&self, id: &str) -> Vec<String> {
        let run = self.edp.run(&["flow", "status", id]).await;
        run.expect_code(0);
        let mut lines = run.stdout.lines().map(str::to_string);
        let header = lines.next().unwrap_or_default();
        assert!(header.starts_with(&format!("flow {id} `diamond`: ")), "{}", run.stdout);
        lines.collect()
    }
}

fn job<'a>(flow: &'a Value, key: &str) -> &'a Value {
    flow["jobs"].as_array().unwrap().iter().find(|j| j["key"] == key).unwrap_or_else(|| panic!("no {key}: {flow}"))
}

#[track_caller]
fn expect_job(flow: &Value, key: &str, state: &str, reason_starts: &str) {
    let job = job(flow, key);
    assert_eq!(job["state"], state, "job {key}: {job}");
    let reason = job["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with(reason_starts), "job {key}: reason {reason:?}, wanted {reason_starts:?}…");
}

/// The line of `tree` for `key` (after its tree prefix), and its index.
#[track_caller]
fn line<'a>(tree: &'a [String], prefix: &str, key: &str) -> (usize, &'a str) {
    let wanted = format!("{prefix}{key} ");
    tree.iter()
        .enumerate()
        .find(|(_, l)| l.starts_with(&wanted))
        .map(|(i, l)| (i, l.as_str()))
        .unwrap_or_else(|| panic!("no line starting with {wanted:?} in:\n{}", tree.join("\n")))
}

#[tokio::test]
async fn a_diamond_runs_then_reruns_only_what_is_missing_or_forced() {
    let bench = Bench::new().await;

    let (id, run) = bench.submit_wait(&[], 0).await;
    assert!(run.stdout.contains(&format!("flow {id} `diamond`: SUCCEEDED")), "{}", run.stdout);
    let tree = bench.tree(&id).await;
    assert_eq!(tree.len(), 4, "{tree:#?}");
    let (a, a_line) = line(&tree, "", "a");
    let (b, b_line) = line(&tree, "├─ ", "b");
    let (d, d_line) = line(&tree, "│  └─ ", "d");
    let (c, c_line) = line(&tree, "└─ ", "c");
    assert!(a < b && b < d && d < c, "{tree:#?}");
    for l in [a_line, b_line, c_line, d_line] {
        assert!(l.contains("  SUCCEEDED  ran: ") && l.contains("[job "), "{l}");
    }
    assert!(d_line.contains("(also depends on c)"), "{d_line}");
    // Each job read what its producers wrote.
    assert_eq!(std::fs::read_to_string(bench.output("d")).unwrap(), "a\nb\na\nc\nd\n");
    let flow = bench.flow(&id).await;
    assert_eq!(flow["status"], "SUCCEEDED");
    let execution = job(&flow, "d")["execution_id"].as_str().unwrap().to_string();
    assert!(d_line.contains(&format!("[job {execution}, ")), "{d_line}");
    let logs = bench.edp.run(&["logs", &execution]).await;
    logs.expect_code(0);

    // One script, one binary; a template per job; one data source per place.
    let binaries = bench.app.get("/v2/job-binaries").await.expect(200);
    assert_eq!(binaries["binaries"].as_array().unwrap().len(), 1, "{binaries}");
    let sources = bench.app.get("/v2/data-sources").await.expect(200);
    assert_eq!(sources["data_sources"].as_array().unwrap().len(), 4, "{sources}");

    // c's output is gone: a and b stand, c runs, and so does d (c is new).
    std::fs::remove_file(bench.output("c")).unwrap();
    let (again, run) = bench.submit_wait(&["--use-existing"], 0).await;
    assert!(!run.stderr.contains("uploaded") && !run.stderr.contains("created"), "{}", run.stderr);
    let flow = bench.flow(&again).await;
    assert_eq!(flow["status"], "SUCCEEDED", "{flow}");
    let a_output = format!("output exists: file://{}", bench.output("a").display());
    expect_job(&flow, "a", "SKIPPED", &a_output);
    expect_job(&flow, "b", "SKIPPED", "output exists: file://");
    expect_job(&flow, "c", "SUCCEEDED", "ran: output missing");
    expect_job(&flow, "d", "SUCCEEDED", "ran: c ran again in this flow");
    assert!(bench.output("c").exists());
    let tree = bench.tree(&again).await;
    assert!(line(&tree, "", "a").1.contains(&format!("SKIPPED    {a_output}")), "{tree:#?}");
    assert!(!line(&tree, "├─ ", "b").1.contains("[job"), "a skipped job has no execution: {tree:#?}");

    // Forcing b runs it, and d after it; a and c stand.
    let (forced, _) = bench.submit_wait(&["--use-existing", "--force", "b"], 0).await;
    let flow = bench.flow(&forced).await;
    expect_job(&flow, "a", "SKIPPED", "output exists: ");
    expect_job(&flow, "b", "SUCCEEDED", "ran: forced");
    expect_job(&flow, "c", "SKIPPED", "output exists: ");
    expect_job(&flow, "d", "SUCCEEDED", "ran: b ran again");

    // The flow's jobs are ordinary jobs.
    let jobs = bench.app.get(&format!("/v2/jobs?flow_id={forced}")).await.expect(200);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 2, "{jobs}");

    // list, graph, delete.
    let list = bench.edp.run(&["flow", "list"]).await;
    list.expect_code(0);
    assert!(list.stdout.starts_with("ID") && list.stdout.contains(&forced), "{}", list.stdout);
    let flows = bench.edp.run(&["--json", "flow", "list", "--status", "succeeded"]).await.expect_code(0).json();
    assert_eq!(flows.as_array().unwrap().len(), 3, "{flows}");
    let graph = bench.edp.run(&["flow", "graph", &id]).await;
    graph.expect_code(0);
    assert!(graph.stdout.contains(&format!("file://{}", bench.output("a").display())), "{}", graph.stdout);
    let dot = bench.edp.run(&["flow", "graph", &id, "--dot"]).await;
    assert!(dot.expect_code(0).stdout.starts_with("digraph \"diamond\""), "{}", dot.stdout);
    let graph = bench.edp.run(&["--json", "flow", "graph", &id]).await.expect_code(0).json();
    assert_eq!(graph["edges"].as_array().unwrap().len(), 4, "{graph}");

    bench.edp.run(&["flow", "delete", &id]).await.expect_code(0);
    bench.edp.run(&["flow", "status", &id]).await.expect_code(3);
    // Its jobs stay.
    bench.edp.run(&["status", &execution]).await.expect_code(0);
}

#[tokio::test]
async fn a_failing_job_fails_the_flow_and_skips_its_dependants() {
    let bench = Bench::new().await;
    let (id, run) = bench.submit_wait(&["--env", "broken"], 1).await;
    assert!(run.stdout.contains(&format!("flow {id} `diamond`: FAILED")), "{}", run.stdout);

    let flow = bench.flow(&id).await;
    assert_eq!(flow["status"], "FAILED");
    expect_job(&flow, "a", "SUCCEEDED", "ran: ");
    expect_job(&flow, "b", "SUCCEEDED", "ran: ");
    expect_job(&flow, "c", "FAILED", "ran: ");
    expect_job(&flow, "d", "SKIPPED", "producer 'c' failed");
    assert!(!bench.output("d").exists());

    let tree = bench.tree(&id).await;
    let (_, d) = line(&tree, "│  └─ ", "d");
    assert!(d.contains("SKIPPED    producer 'c' failed"), "{d}");
    let (_, c) = line(&tree, "└─ ", "c");
    assert!(c.contains("FAILED") && c.contains("[job "), "{c}");
    // The failed job's log is there.
    let execution = job(&flow, "c")["execution_id"].as_str().unwrap().to_string();
    let logs = bench.edp.run(&["logs", &execution, "--stream", "stderr"]).await;
    assert_eq!(logs.expect_code(0).stdout, "c failing\n");

    // Cancelling a flow that has ended changes nothing.
    let cancel = bench.edp.run(&["flow", "cancel", &id]).await;
    assert!(cancel.expect_code(0).stdout.contains("had already ended: FAILED"), "{}", cancel.stdout);
}

#[tokio::test]
async fn cancel_wait_kills_the_running_job_and_skips_the_rest() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    let data = edp.dir().join("data");
    edp.write("sleep.sh", "sleep 600\n");
    edp.write("step.sh", STEP);
    let w = data.display();
    let file = edp.write(
        "slow.yaml",
        &format!(
            "name: slow\ndefaults: {{type: Shell}}\njobs:\n  first: {{main: sleep.sh, output: {w}/first}}\n  \
             second: {{main: step.sh, input: {w}/first, output: {w}/second, args: [second, {w}/second]}}\n"
        ),
    );
    let flow = edp.run(&["--json", "flow", "submit", file.to_str().unwrap()]).await.expect_code(0).json();
    let id = flow["id"].as_str().unwrap().to_string();
    assert_eq!(flow["status"], "RUNNING");
    eventually("the first job to run", JOB_DEADLINE, || async {
        let flow = app.get(&format!("/v2/flows/{id}")).await.expect(200);
        (flow["flow"]["jobs"][0]["state"] == "RUNNING").then_some(())
    })
    .await;
    // Running: it cannot be deleted yet.
    let refused = edp.run(&["flow", "delete", &id]).await;
    assert!(refused.expect_code(3).stderr.contains("cancel it first"), "{}", refused.stderr);

    let run = edp.run(&["flow", "cancel", &id, "--wait"]).await;
    run.expect_code(0);
    assert!(run.stdout.contains(&format!("flow {id} `slow`: KILLED")), "{}", run.stdout);
    let flow = edp.run(&["--json", "flow", "status", &id]).await.expect_code(0).json();
    expect_job(&flow, "first", "KILLED", "ran: ");
    expect_job(&flow, "second", "SKIPPED", "the flow was cancelled");
    edp.run(&["flow", "delete", &id]).await.expect_code(0);
}

#[tokio::test]
async fn a_cycle_is_refused_with_the_servers_message_naming_the_jobs() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    edp.write("step.sh", STEP);
    let w = edp.dir().join("data");
    let w = w.display();
    let file = edp.write(
        "cycle.yaml",
        &format!(
            "defaults: {{type: Shell, main: step.sh}}\njobs:\n  a: {{inputs: [{w}/y], outputs: [{w}/x]}}\n  \
             b: {{inputs: [{w}/x], outputs: [{w}/y]}}\n"
        ),
    );
    let run = edp.run(&["flow", "submit", file.to_str().unwrap(), "--wait"]).await;
    run.expect_code(3);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("edp: ") && last.contains("cycle: a → b → a"), "{}", run.stderr);
    let flows = app.get("/v2/flows").await.expect(200);
    assert_eq!(flows["flows"], serde_json::json!([]));
}

#[tokio::test]
async fn unknown_keys_in_a_flow_file_are_refused_with_the_key_and_the_line() {
    let app = TestApp::spawn().await;
    let edp = Edp::new(&app);
    edp.write("step.sh", STEP);
    let file = edp.write("bad.yaml", "name: bad\njobs:\n  a:\n    type: Shell\n    main: step.sh\n    clustr: local\n");
    let run = edp.run(&["flow", "submit", file.to_str().unwrap()]).await;
    run.expect_code(2);
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.contains("bad.yaml:6:") && first.contains("unknown field `clustr`"), "{}", run.stderr);

    let file = edp.write("top.yaml", "name: bad\nuse_existing: true\nforce_all: true\njobs:\n  a: {type: Shell}\n");
    let run = edp.run(&["flow", "submit", file.to_str().unwrap()]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("top.yaml:3:") && run.stderr.contains("`force_all`"), "{}", run.stderr);

    // Mistakes only the whole file shows: still usage errors, before any request.
    let file = edp.write("force.yaml", "jobs:\n  a: {type: Shell, main: step.sh}\n");
    let run = edp.run(&["flow", "submit", file.to_str().unwrap(), "--force", "b"]).await;
    assert!(run.expect_code(2).stderr.contains("`b`"), "{}", run.stderr);
    let file = edp.write("untyped.yaml", "jobs:\n  a: {main: step.sh}\n");
    let run = edp.run(&["flow", "submit", file.to_str().unwrap()]).await;
    assert!(run.expect_code(2).stderr.contains("job `a` has no type"), "{}", run.stderr);

    let templates = app.get("/v2/job-templates").await.expect(200);
    assert_eq!(templates["job_templates"], serde_json::json!([]));
    let binaries = app.get("/v2/job-binaries").await.expect(200);
    assert_eq!(binaries["binaries"], serde_json::json!([]));
}
