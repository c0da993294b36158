//! MapReduce.Streaming through edpd's REST API, with the real edpd, the
//! plugin, the supervisor and the runner copied into a plugin directory
//! (`edp_tests::TestApp`): launch, progress in GET /v2/jobs/{id}, bounded
//! memory while spilling, cancel, failure, restart, and the 400 for an
//! existing output directory.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{group_members, reference_pipeline, words};
use edp_tests::{TestApp, eventually};
use serde_json::{Value, json};

const WC_MAPPER: &str = r#"awk '{for(i=1;i<=NF;i++) print $i "\t1"}'"#;
const PY_REDUCER: &str = r#"import sys
cur, n = None, 0
for line in sys.stdin:
    k, _, v = line.rstrip('\n').partition('\t')
    if k != cur:
        if cur is not None:
            print(f'{cur}\t{n}')
        cur, n = k, 0
    n += int(v)
if cur is not None:
    print(f'{cur}\t{n}')
"#;
const TERMINAL: &[&str] = &["SUCCEEDED", "FAILED", "KILLED", "DONEWITHERROR"];

struct Api {
    app: TestApp,
    cluster: String,
    work: PathBuf,
}

impl Api {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let clusters = app.get("/v2/clusters?name=local").await.expect(200);
        let cluster = clusters["clusters"][0]["id"].as_str().expect("the local cluster").to_owned();
        let work = app.root.path().join("work");
        std::fs::create_dir_all(&work).expect("work dir");
        Self { app, cluster, work }
    }

    async fn binary(&self, name: &str, content: &str) -> String {
        self.app.upload_binary(name, content.as_bytes()).await
    }

    async fn source(&self, name: &str, path: &Path) -> String {
        let ds = self
            .app
            .post(
                "/v2/data-sources",
                json!({"name": name, "type": "file", "url": format!("file://{}", path.display())}),
            )
            .await
            .expect(202);
        ds["data_source"]["id"].as_str().expect("id").to_owned()
    }

    async fn template(&self, name: &str, libs: &[(&str, &str)]) -> String {
        let mut ids = Vec::new();
        for (lib, content) in libs {
            ids.push(self.binary(lib, content).await);
        }
        let template = self
            .app
            .post("/v2/job-templates", json!({"name": name, "type": "MapReduce.Streaming", "libs": ids}))
            .await
            .expect(202);
        template["job_template"]["id"].as_str().expect("id").to_owned()
    }

    /// POST /v2/jobs; the reply as it is.
    async fn post_job(&self, template: &str, input: &Path, output: &Path, configs: Value) -> edp_tests::Reply {
        let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let input_id = self.source(&format!("in-{name}"), input).await;
        let output_id = self.source(&format!("out-{name}"), output).await;
        self.app
            .post(
                "/v2/jobs",
                json!({
                    "job_template_id": template,
                    "cluster_id": self.cluster,
                    "input_id": input_id,
                    "output_id": output_id,
                    "job_configs": {"configs": configs},
                }),
            )
            .await
    }

    async fn launch(&self, template: &str, input: &Path, output: &Path, configs: Value) -> String {
        let job = self.post_job(template, input, output, configs).await.expect(202);
        job["job"]["id"].as_str().expect("id").to_owned()
    }

    async fn job(&self, id: &str) -> Value {
        self.app.get(&format!("/v2/jobs/{id}?refresh_status=true")).await.expect(200)["job"].clone()
    }

    async fn wait(&self, id: &str, wanted: &[&str], limit: Duration) -> Value {
        eventually(&format!("job {id} to reach {wanted:?}"), limit, || async {
            let job = self.job(id).await;
            wanted.contains(&job["info"]["status"].as_str().unwrap_or_default()).then_some(job)
        })
        .await
    }

    /// Waits until the job's info satisfies `check`.
    async fn until(&self, id: &str, what: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        eventually(what, limit, || async {
            let job = self.job(id).await;
            let status = job["info"]["status"].as_str().unwrap_or_default();
            assert!(!TERMINAL.contains(&status) || check(&job["info"]), "ended before {what}: {job}");
            check(&job["info"]).then_some(job)
        })
        .await
    }
}

fn part_files(dir: &Path) -> Vec<u8> {
    assert!(dir.join("_SUCCESS").is_file(), "no _SUCCESS in {}", dir.display());
    let mut names: Vec<_> = std::fs::read_dir(dir).expect("output").flatten().map(|e| e.path()).collect();
    names.sort();
    names
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("part-")))
        .flat_map(|p| std::fs::read(p).expect("part"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wordcount_through_the_api_reports_progress_and_matches_the_pipeline() {
    let api = Api::new().await;
    let input = api.work.join("in.txt");
    std::fs::write(&input, words(8000, 3000, 42)).expect("input");
    let output = api.work.join("wc");
    let template = api.template("wordcount", &[("reducer.py", PY_REDUCER)]).await;
    let id = api
        .launch(
            &template,
            &input,
            &output,
            json!({
                "edp.streaming.mapper": WC_MAPPER,
                "edp.streaming.reducer": "python3 reducer.py",
                "mapreduce.input.fileinputformat.split.maxsize": "100000",
            }),
        )
        .await;
    let job = api.wait(&id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    assert_eq!(job["return_code"], 0);
    let info = &job["info"];
    let maps = info["maps"]["total"].as_u64().expect("maps");
    assert!(maps >= 3, "{info}");
    assert_eq!(info["maps"]["done"], maps);
    assert_eq!(info["reduces"], json!({"total": 1, "done": 1, "running": 0, "failed_attempts": 0}));
    assert_eq!(
        info["progress"]["stages"],
        json!([{"name": "maps", "done": maps, "total": maps}, {"name": "reduces", "done": 1, "total": 1}])
    );
    assert_eq!(info["phase"], "succeeded");

    let expected =
        reference_pipeline(&api.app.job_dir(&id), &format!("cat {}", input.display()), WC_MAPPER, "python3 reducer.py");
    assert_eq!(String::from_utf8_lossy(&part_files(&output)), String::from_utf8_lossy(&expected));
    // The runner's summary is the job's stdout.
    let log = api.app.get(&format!("/v2/jobs/{id}/logs?stream=stdout")).await.expect(200);
    assert!(log["log"]["data"].as_str().unwrap_or_default().contains("succeeded"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_output_directory_is_a_400_and_nothing_is_launched() {
    let api = Api::new().await;
    let input = api.work.join("in.txt");
    std::fs::write(&input, "a b\n").expect("input");
    let output = api.work.join("already-there");
    std::fs::create_dir(&output).expect("output dir");
    std::fs::write(output.join("part-00000"), "precious\n").expect("old output");
    let template = api.template("wc", &[]).await;
    let reply = api
        .post_job(
            &template,
            &input,
            &output,
            json!({"edp.streaming.mapper": WC_MAPPER, "edp.streaming.reducer": "cat"}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let message = reply.body["error_message"].as_str().unwrap_or_default();
    assert!(message.contains("already exists") && message.contains("already-there"), "{message}");
    assert_eq!(api.app.get("/v2/jobs").await.expect(200)["jobs"], json!([]));
    let jobs_dir = api.app.data_dir().join("engines/local/jobs");
    assert!(std::fs::read_dir(&jobs_dir).map_or(true, |mut d| d.next().is_none()), "a job directory was made");
    assert_eq!(std::fs::read_to_string(output.join("part-00000")).expect("untouched"), "precious\n");
}

/// ~200 MB of `k<n>\t<payload>` lines over 400k keys; (lines, bytes without
/// newlines, distinct keys).
fn spill_input(path: &Path) -> (u64, u64, u64) {
    const KEYS: u64 = 400_000;
    let mut seen = vec![false; KEYS as usize];
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("input"));
    let payload = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(5);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let (mut lines, mut bytes, mut distinct) = (0u64, 0u64, 0u64);
    let mut written = 0u64;
    while written < 200 << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let key = state % KEYS;
        let len = 40 + (state >> 40) as usize % 120;
        let line = format!("k{key}\t{}\n", &payload[..len]);
        out.write_all(line.as_bytes()).expect("write");
        written += line.len() as u64;
        lines += 1;
        bytes += line.len() as u64 - 1;
        if !seen[key as usize] {
            seen[key as usize] = true;
            distinct += 1;
        }
    }
    out.flush().expect("flush");
    (lines, bytes, distinct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_sort_budget_spills_and_bounds_the_runners_memory() {
    let api = Api::new().await;
    let input = api.work.join("big.txt");
    let (lines, bytes, distinct) = spill_input(&input);
    let output = api.work.join("counted");
    // Per partition: records, bytes, key groups (a key seen twice apart
    // would count twice), keys out of order.
    let reducer = r#"awk -F'\t' '$1!=k{if(NR>1&&$1<k)bad++;g++;k=$1}{b+=length($0)}END{print NR"\t"b"\t"g"\t"bad+0}'"#;
    let template = api.template("spill", &[]).await;
    let started = Instant::now();
    let id = api
        .launch(
            &template,
            &input,
            &output,
            json!({
                "edp.streaming.mapper": "cat",
                "edp.streaming.reducer": reducer,
                "mapreduce.task.io.sort.mb": "4",
                "mapreduce.task.io.sort.factor": "16",
                "mapreduce.job.reduces": "2",
                "edp.local.slots": "2",
            }),
        )
        .await;
    let job = api.wait(&id, TERMINAL, Duration::from_secs(120)).await;
    let elapsed = started.elapsed();
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    let info = &job["info"];
    let spills = info["spills"].as_u64().expect("spills");
    assert!(spills >= 20, "a 4 MiB buffer over 200 MB spills often: {info}");
    assert!(info["counters"]["merge_passes"].as_u64() > Some(0), "more runs than the fan-in: {info}");
    // The runner's peak RSS, against its bound: per slot the sort buffer
    // (4 MiB) and 4 MiB of I/O buffers, plus 8 MiB: 2 × 8 + 8 = 24 MiB.
    let memory = &info["memory"];
    let peak = memory["runner_peak_rss_kb"].as_u64().expect("peak RSS");
    let bound = memory["runner_bound_kb"].as_u64().expect("bound");
    assert_eq!(bound, 24 * 1024);
    assert!(peak > 0 && peak <= bound, "runner peak RSS {peak} KiB > {bound} KiB: {info}");
    let supervisor = memory["supervisor_peak_rss_kb"].as_u64().expect("supervisor RSS");
    assert!(supervisor > 0 && supervisor < 8 * 1024, "{memory}");
    eprintln!(
        "200 MB, 4 MiB sort buffer: {spills} spills, runner peak RSS {peak} KiB (bound {bound} KiB), {elapsed:?}"
    );

    let mut totals = [0u64; 4];
    for line in String::from_utf8(part_files(&output)).expect("utf-8").lines() {
        for (t, v) in totals.iter_mut().zip(line.split('\t')) {
            *t += v.parse::<u64>().expect("a number");
        }
    }
    assert_eq!(totals, [lines, bytes, distinct, 0], "records, bytes, key groups, keys out of order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_during_the_shuffle_leaves_no_task_process() {
    let api = Api::new().await;
    let input = api.work.join("in.txt");
    std::fs::write(&input, words(20_000, 2000, 9)).expect("input");
    let output = api.work.join("never");
    // Reads a line, then sits on the rest of the merge's output.
    let template =
        api.template("stuck", &[("slow.py", "import sys, time\nsys.stdin.readline()\ntime.sleep(600)\n")]).await;
    let id = api
        .launch(
            &template,
            &input,
            &output,
            json!({
                "edp.streaming.mapper": WC_MAPPER,
                "edp.streaming.reducer": "python3 slow.py",
                "mapreduce.job.reduces": 2,
            }),
        )
        .await;
    api.until(&id, "both reducers to run", Duration::from_secs(60), |info| {
        info["phase"] == "reduce" && info["reduces"]["running"] == 2
    })
    .await;
    let pgid: i32 =
        std::fs::read_to_string(api.app.job_dir(&id).join("job.pid")).expect("job.pid").trim().parse().expect("pid");
    // The runner counts a reducer as running from its spawn; its process
    // shows in the group a moment later.
    let members = eventually("the runner and two reducers in the job's group", Duration::from_secs(10), || async {
        let members = group_members(pgid);
        (members.len() >= 3).then_some(members)
    })
    .await;
    assert!(members.len() >= 3, "the runner and two reducers: {members:?}");

    let asked = Instant::now();
    api.app.patch(&format!("/v2/jobs/{id}"), json!({"info": {"status": "cancel"}})).await.expect(202);
    let job = api.wait(&id, TERMINAL, Duration::from_secs(10)).await;
    assert_eq!(job["info"]["status"], "KILLED", "{job}");
    assert!(asked.elapsed() < Duration::from_secs(6), "took {:?}", asked.elapsed());
    eventually("no process left in the job's group", Duration::from_secs(2), || async {
        group_members(pgid).is_empty().then_some(())
    })
    .await;
    assert!(!output.exists(), "a killed job leaves no output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_reducer_fails_the_job_with_its_stderr_in_the_reason() {
    let api = Api::new().await;
    let input = api.work.join("in.txt");
    std::fs::write(&input, "a b a\n").expect("input");
    let output = api.work.join("out");
    let template =
        api.template("bad", &[("bad.py", "import sys\nsys.stdin.read()\nraise SystemExit('reducer says no')\n")]).await;
    let id = api
        .launch(
            &template,
            &input,
            &output,
            json!({
                "edp.streaming.mapper": WC_MAPPER,
                "edp.streaming.reducer": "python3 bad.py",
                "mapreduce.reduce.maxattempts": "2",
            }),
        )
        .await;
    let job = api.wait(&id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(job["info"]["status"], "FAILED", "{job}");
    let reason = job["info"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("reducer says no") && reason.contains("reduce task 0"), "{reason}");
    assert_eq!(job["info"]["reduces"]["failed_attempts"], 2, "{job}");
    assert!(!output.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_job_survives_an_edpd_restart() {
    let mut api = Api::new().await;
    let input = api.work.join("in.txt");
    std::fs::write(&input, words(5000, 1000, 3)).expect("input");
    let output = api.work.join("out");
    let release = api.work.join("release");
    // The reducer waits for the test, then counts.
    let reducer = format!(
        "import os, sys, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\n{PY_REDUCER}",
        release.display().to_string()
    );
    let template = api.template("patient", &[("reducer.py", &reducer)]).await;
    let id = api
        .launch(
            &template,
            &input,
            &output,
            json!({"edp.streaming.mapper": WC_MAPPER, "edp.streaming.reducer": "python3 reducer.py"}),
        )
        .await;
    api.until(&id, "the reduce phase", Duration::from_secs(60), |info| info["phase"] == "reduce").await;
    api.app.kill();
    std::fs::write(&release, "").expect("release");
    api.app.start().await;
    let job = api.wait(&id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(job["info"]["status"], "SUCCEEDED", "{job}");
    let expected =
        reference_pipeline(&api.app.job_dir(&id), &format!("cat {}", input.display()), WC_MAPPER, "python3 reducer.py");
    assert_eq!(String::from_utf8_lossy(&part_files(&output)), String::from_utf8_lossy(&expected));
}
