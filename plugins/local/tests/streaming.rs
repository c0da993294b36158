//! MapReduce.Streaming jobs through the engine, with the real supervisor,
//! runner and user processes: outputs equal `mapper | LC_ALL=C sort |
//! reducer`, retries, failures, cancel, and what is refused before launch.
//! (Through edpd's REST API: streaming_api.rs.)

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use edp_engine_api::abi::ErrorKind;
use edp_engine_api::plugin::Engine;
use edp_engine_api::wire::{JobHandle, JobRequest, JobStatus, StatusReport};
use edp_engine_local::LocalEngine;
use edp_engine_local::mapreduce::collect::hadoop_partition;
use serde_json::{Value, json};

const WC_MAPPER: &str = r#"awk '{for(i=1;i<=NF;i++) print $i "\t1"}'"#;
const AWK_SUM: &str = r#"awk -F'\t' '$1!=k{if(k!="")print k"\t"c;k=$1;c=0}{c+=$2}END{if(k!="")print k"\t"c}'"#;
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

fn id(n: u32) -> String {
    format!("5e1c2d3e-0000-4000-8000-{n:012}")
}

async fn run(engine: &LocalEngine, job: &JobRequest, limit: Duration) -> (StatusReport, JobHandle) {
    let launched = engine.run_job(job.clone()).await.expect("run");
    let handle = handle(job, &launched);
    let start = Instant::now();
    loop {
        let report = engine.get_job_status(handle.clone()).await.expect("status");
        if report.status.is_terminal() {
            return (report, handle);
        }
        assert!(start.elapsed() < limit, "job {} still {:?}: {:?}", job.execution_id, report.status, report.info);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn succeeded(report: &StatusReport) {
    assert_eq!(report.status, JobStatus::Succeeded, "{:#?}", report.info);
    let progress = report.progress.as_ref().expect("progress");
    for stage in &progress.stages {
        assert_eq!(stage.done, stage.total, "{progress:?}");
    }
}

/// The report's info as a JSON value (indexing a missing key gives null).
fn info(report: &StatusReport) -> Value {
    Value::Object(report.info.clone())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wordcount_with_a_python_reducer_equals_the_sort_pipeline() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in");
    fs::create_dir_all(&input).unwrap();
    for f in 0..3 {
        fs::write(input.join(format!("part-{f}")), words(3000, 5000, f + 1)).unwrap();
    }
    // Hidden files are not input, as in Hadoop.
    fs::write(input.join("_SUCCESS"), "").unwrap();
    fs::write(input.join(".part-0.crc"), "not words\n").unwrap();
    let output = env.root.path().join("out/wc");
    let id = id(1);
    let job = env.streaming_job(
        &id,
        &input,
        &output,
        json!({
            "edp.streaming.mapper": WC_MAPPER,
            "edp.streaming.reducer": "python3 reducer.py",
            "mapreduce.input.fileinputformat.split.maxsize": "40000",
            "edp.local.slots": 2,
        }),
        &[("reducer.py", PY_REDUCER)],
    );
    let (report, _) = run(&engine, &job, Duration::from_secs(60)).await;
    succeeded(&report);
    let maps = info(&report)["maps"]["total"].as_u64().unwrap();
    assert!(maps >= 6, "small splits make several maps: {maps}");
    assert_eq!(info(&report)["reduces"]["total"], 1);
    assert_eq!(info(&report)["counters"]["map_output_records"], info(&report)["counters"]["reduce_input_records"]);

    let expected = reference_pipeline(
        &env.job_dir(&id),
        &format!("cat {}/part-*", input.display()),
        WC_MAPPER,
        "python3 reducer.py",
    );
    assert!(!expected.is_empty());
    assert_eq!(text(&job_output(&output)), text(&expected));
    // The spill directory is gone; the tasks' stderr files stay.
    assert!(!env.job_dir(&id).join("spill").exists());
    assert!(env.job_dir(&id).join("tasks").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_keys_come_out_in_byte_order_and_partition_like_hadoop() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("sales.csv");
    let mut csv = String::new();
    for i in 0..20_000u64 {
        csv.push_str(&format!("{},{}\n", (i * 7919) % 1201, i % 97));
    }
    fs::write(&input, csv).unwrap();
    // Key: the store number (byte order: 10 < 9); the reducer prints keys
    // in the order it sees them, so the order is checked too.
    let mapper = r#"awk -F, '{print $1 "\t" $2}'"#;
    let reducer =
        r#"awk -F'\t' '$1!=k{if(NR>1)print k"\t"s"\t"n;k=$1;s=0;n=0}{s+=$2;n++}END{if(NR>0)print k"\t"s"\t"n}'"#;
    for (n, reduces) in [(2, 1u32), (3, 3)] {
        let output = env.root.path().join(format!("out-{reduces}"));
        let id = id(n);
        let job = env.streaming_job(
            &id,
            &input,
            &output,
            json!({
                "edp.streaming.mapper": mapper,
                "edp.streaming.reducer": reducer,
                "mapreduce.job.reduces": reduces.to_string(),
                "mapreduce.input.fileinputformat.split.maxsize": 50_000,
            }),
            &[],
        );
        let (report, _) = run(&engine, &job, Duration::from_secs(60)).await;
        succeeded(&report);
        let expected = reference_pipeline(env.root.path(), &format!("cat {}", input.display()), mapper, reducer);
        let got = job_output(&output);
        if reduces == 1 {
            assert_eq!(text(&got), text(&expected));
        } else {
            // Each part sorted by key bytes, holding its keys' partition;
            // all parts together are the reference's lines.
            for p in 0..reduces {
                let part = fs::read_to_string(output.join(format!("part-{p:05}"))).unwrap();
                let keys: Vec<&str> = part.lines().map(|l| l.split('\t').next().unwrap()).collect();
                assert!(keys.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()), "part {p} is not in key order");
                assert!(keys.iter().all(|k| hadoop_partition(k.as_bytes(), reduces) == p));
                assert!(!keys.is_empty());
            }
            let mut got: Vec<String> = text(&got).lines().map(str::to_owned).collect();
            let mut want: Vec<String> = text(&expected).lines().map(str::to_owned).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_input_runs_one_map_and_the_reducers() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let empty = env.root.path().join("empty.txt");
    fs::write(&empty, "").unwrap();
    // Both print something for no input, so the reference sees them run.
    let mapper = r#"awk 'END{print "lines\t" NR}'"#;
    let reducer = r#"awk -F'\t' '{print $1 "=" $2} END{print "reduced " NR}'"#;
    let output = env.root.path().join("out");
    let job = env.streaming_job(
        &id(4),
        &empty,
        &output,
        json!({"edp.streaming.mapper": mapper, "edp.streaming.reducer": reducer}),
        &[],
    );
    let (report, _) = run(&engine, &job, Duration::from_secs(30)).await;
    succeeded(&report);
    assert_eq!(info(&report)["maps"]["total"], 1);
    let expected = reference_pipeline(env.root.path(), &format!("cat {}", empty.display()), mapper, reducer);
    assert_eq!(text(&job_output(&output)), text(&expected));
    assert_eq!(text(&expected), "lines=0\nreduced 1\n");

    // An empty directory has no splits at all: no map, but the reducer runs.
    let dir = env.root.path().join("nothing");
    fs::create_dir(&dir).unwrap();
    let output = env.root.path().join("out-dir");
    let job = env.streaming_job(
        &id(5),
        &dir,
        &output,
        json!({"edp.streaming.mapper": mapper, "edp.streaming.reducer": reducer}),
        &[],
    );
    let (report, _) = run(&engine, &job, Duration::from_secs(30)).await;
    succeeded(&report);
    assert_eq!(info(&report)["maps"]["total"], 0);
    assert_eq!(text(&job_output(&output)), "reduced 0\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_input_and_a_combiner_in_any_order_spilling_often() {
    use std::io::Write as _;
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in");
    fs::create_dir_all(input.join("sub")).unwrap();
    let a = words(20_000, 60_000, 7);
    let b = words(5_000, 60_000, 8);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(a.as_bytes()).unwrap();
    fs::write(input.join("sub/a.txt.gz"), gz.finish().unwrap()).unwrap();
    fs::write(input.join("b.txt"), &b).unwrap();
    // A combiner printing in hash order, not key order: its output is
    // sorted again before it is written.
    let combiner = r#"awk -F'\t' '{c[$1]+=$2} END{for(k in c) print k "\t" c[k]}'"#;
    let output = env.root.path().join("out");
    let configs = json!({
        "edp.streaming.mapper": WC_MAPPER,
        "edp.streaming.reducer": AWK_SUM,
        "edp.streaming.combiner": combiner,
        "mapreduce.task.io.sort.mb": 1,
        "mapreduce.task.io.sort.factor": 3,
        "mapreduce.job.reduces": 2,
        "mapreduce.input.fileinputformat.input.dir.recursive": "true",
    });
    let job = env.streaming_job(&id(6), &input, &output, configs.clone(), &[]);
    let (report, _) = run(&engine, &job, Duration::from_secs(90)).await;
    succeeded(&report);
    assert!(info(&report)["spills"].as_u64().unwrap() > 0, "{:#?}", report.info);
    assert!(info(&report)["counters"]["merge_passes"].as_u64().unwrap() > 0, "{:#?}", report.info);
    // The combiner shrank what the reducers got.
    let counters = &info(&report)["counters"];
    assert!(counters["reduce_input_records"].as_u64() < counters["map_output_records"].as_u64(), "{counters}");
    let expected = reference_pipeline(
        env.root.path(),
        &format!("{{ gzip -dc {0}/sub/a.txt.gz; cat {0}/b.txt; }}", input.display()),
        WC_MAPPER,
        AWK_SUM,
    );
    let mut got: Vec<String> = text(&job_output(&output)).lines().map(str::to_owned).collect();
    got.sort();
    let mut want: Vec<String> = text(&expected).lines().map(str::to_owned).collect();
    want.sort();
    assert_eq!(got, want);

    // Without reading recursively, a subdirectory is refused up front.
    let mut flat = env.streaming_job(&id(7), &input, &env.root.path().join("out2"), configs, &[]);
    flat.configs.remove("mapreduce.input.fileinputformat.input.dir.recursive");
    // Found on disk, so by `validate` on the plugin's runtime, never on edpd's thread.
    assert!(engine.validate_now(&flat).is_none(), "a streaming job was validated from the request alone");
    let err = engine.validate(flat).await.expect_err("a subdirectory");
    assert_eq!(err.kind, ErrorKind::INVALID_INPUT);
    assert!(err.message.contains("recursive"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_only_job_writes_one_part_per_split() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    let data = words(4000, 100, 3);
    fs::write(&input, &data).unwrap();
    let output = env.root.path().join("out");
    let job = env.streaming_job(
        &id(8),
        &input,
        &output,
        json!({
            "edp.streaming.mapper": "tr a-z A-Z",
            "edp.streaming.reducer": "cat",
            "mapreduce.job.reduces": 0,
            "mapreduce.input.fileinputformat.split.maxsize": 10_000,
        }),
        &[],
    );
    let (report, _) = run(&engine, &job, Duration::from_secs(60)).await;
    succeeded(&report);
    let maps = info(&report)["maps"]["total"].as_u64().unwrap();
    assert!(maps > 1);
    assert!(output.join(format!("part-{:05}", maps - 1)).is_file());
    assert_eq!(text(&job_output(&output)), data.to_uppercase());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapper_failing_once_is_retried_and_the_job_succeeds() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    fs::write(&input, words(2000, 300, 11)).unwrap();
    // The first attempt of any map task to get here fails; mkdir is atomic,
    // so exactly one does.
    let flaky = "if mkdir first-attempt.marker 2>/dev/null; then echo 'flaky: failing on purpose' >&2; exit 3; fi\n\
                 exec awk '{for(i=1;i<=NF;i++) print $i \"\\t1\"}'\n";
    let output = env.root.path().join("out");
    let id = id(9);
    let job = env.streaming_job(
        &id,
        &input,
        &output,
        json!({
            "edp.streaming.mapper": "sh flaky.sh",
            "edp.streaming.reducer": AWK_SUM,
            "mapreduce.input.fileinputformat.split.maxsize": 8_000,
        }),
        &[("flaky.sh", flaky)],
    );
    let (report, handle) = run(&engine, &job, Duration::from_secs(60)).await;
    succeeded(&report);
    assert_eq!(info(&report)["maps"]["failed_attempts"], 1, "{:#?}", report.info);
    assert!(env.job_dir(&id).join("first-attempt.marker").is_dir());
    let expected = reference_pipeline(env.root.path(), &format!("cat {}", input.display()), WC_MAPPER, AWK_SUM);
    assert_eq!(text(&job_output(&output)), text(&expected));
    // The failure is in the job's log.
    let stderr = read_stream(&engine, &handle, "stderr", 1 << 20).await;
    assert!(stderr.contains("attempt 1 of 4 failed") && stderr.contains("flaky: failing on purpose"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapper_that_always_fails_fails_the_job_with_its_stderr() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    fs::write(&input, "a b c\n").unwrap();
    let output = env.root.path().join("out");
    let job = env.streaming_job(
        &id(10),
        &input,
        &output,
        json!({
            "edp.streaming.mapper": "sh fail.sh",
            "edp.streaming.reducer": "cat",
            "mapreduce.map.maxattempts": 2,
        }),
        &[("fail.sh", "cat > /dev/null\necho 'boom: the mapper cannot cope' >&2\nexit 7\n")],
    );
    let (report, _) = run(&engine, &job, Duration::from_secs(30)).await;
    assert_eq!(report.status, JobStatus::Failed, "{:#?}", report.info);
    let reason = info(&report)["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("boom: the mapper cannot cope"), "{reason}");
    assert!(reason.contains("2 attempt") && reason.contains("exit code 7"), "{reason}");
    assert_eq!(info(&report)["maps"]["failed_attempts"], 2);
    assert_eq!(report.return_code, Some(1));
    // No partial output is left: the same launch can be repeated.
    assert!(!output.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_in_the_reduce_phase_kills_every_task_process() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    fs::write(&input, words(3000, 500, 5)).unwrap();
    let output = env.root.path().join("out");
    let id = id(11);
    let job = env.streaming_job(
        &id,
        &input,
        &output,
        json!({
            "edp.streaming.mapper": WC_MAPPER,
            // Reads a little, then hangs with the rest of its input unread.
            "edp.streaming.reducer": "sh slow.sh",
            "mapreduce.job.reduces": 2,
            "edp.local.slots": 2,
        }),
        &[("slow.sh", "head -n 1 > /dev/null\nsleep 600\n")],
    );
    let launched = engine.run_job(job.clone()).await.expect("run");
    let handle = handle(&job, &launched);
    let start = Instant::now();
    loop {
        let report = engine.get_job_status(handle.clone()).await.expect("status");
        if info(&report)["phase"] == "reduce" && info(&report)["reduces"]["running"] == 2 {
            break;
        }
        assert!(!report.status.is_terminal(), "{:#?}", report.info);
        assert!(start.elapsed() < Duration::from_secs(30), "{:#?}", report.info);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pgid: i32 = fs::read_to_string(env.job_dir(&id).join("job.pid")).unwrap().trim().parse().unwrap();
    // The runner, two shells and their sleeps at least (a reducer counts as
    // running once started, its shell may not have forked `sleep` yet).
    let waiting = Instant::now();
    while group_members(pgid).len() < 5 {
        assert!(waiting.elapsed() < Duration::from_secs(10), "{:?}", group_members(pgid));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let asked = Instant::now();
    let report = engine.cancel_job(handle.clone()).await.expect("cancel");
    assert_eq!(report.status, JobStatus::Killed, "{:#?}", report.info);
    assert!(asked.elapsed() < Duration::from_secs(5), "cancel took {:?}", asked.elapsed());
    let left = group_members(pgid);
    assert!(left.is_empty(), "processes left in the job's group: {left:?}");
    assert!(!output.exists(), "the partial output is removed");
    assert!(!env.job_dir(&id).join("spill").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_streaming_requests_are_refused_before_launch() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    fs::write(&input, "x\n").unwrap();
    let existing = env.root.path().join("existing");
    fs::create_dir(&existing).unwrap();
    let good = json!({"edp.streaming.mapper": "cat", "edp.streaming.reducer": "cat"});
    let refused = |job: JobRequest| {
        let engine = &engine;
        async move {
            let err = engine.validate(job.clone()).await.expect_err("refused");
            let again = engine.run_job(job).await.expect_err("run_job refuses too");
            assert_eq!(err.message, again.message);
            assert_eq!(err.kind, ErrorKind::INVALID_INPUT, "{}", err.message);
            err.message
        }
    };
    let out = env.root.path().join("out");
    let id = id(12);

    let message = refused(env.streaming_job(&id, &input, &existing, good.clone(), &[])).await;
    assert!(message.contains("already exists"), "{message}");
    let message = refused(env.streaming_job(&id, &env.root.path().join("nope"), &out, good.clone(), &[])).await;
    assert!(message.contains("does not exist"), "{message}");
    let message = refused(env.streaming_job(&id, &input, &out, json!({"edp.streaming.mapper": "cat"}), &[])).await;
    assert!(message.contains("edp.streaming.reducer"), "{message}");
    let bad_quotes = json!({"edp.streaming.mapper": "awk '{print $1}", "edp.streaming.reducer": "cat"});
    let message = refused(env.streaming_job(&id, &input, &out, bad_quotes, &[])).await;
    assert!(message.contains("quote"), "{message}");
    let mut too_much = good.clone();
    too_much["mapreduce.task.io.sort.mb"] = json!("4096");
    let message = refused(env.streaming_job(&id, &input, &out, too_much, &[])).await;
    assert!(message.contains("mapreduce.task.io.sort.mb"), "{message}");
    let message = refused(env.streaming_job(&id, &input, &out, good.clone(), &[("mapreduce-spec.json", "{}")])).await;
    assert!(message.contains("reserved"), "{message}");
    let mut with_main = env.streaming_job(&id, &input, &out, good.clone(), &[]);
    with_main.mains = vec![env.binary("m.py", "")];
    assert!(refused(with_main).await.contains("no mains"));
    let mut no_output = env.streaming_job(&id, &input, &out, good.clone(), &[]);
    no_output.output = None;
    assert!(refused(no_output).await.contains("output"));
    // Nothing was written for any of them.
    assert!(!env.job_dir(&id).exists());
    assert!(!out.exists());

    // Without the runner, streaming jobs are refused as unsupported.
    let (plain, _) = env.engine();
    let err = plain.validate(env.streaming_job(&id, &input, &out, good.clone(), &[])).await.expect_err("no runner");
    assert_eq!(err.kind, ErrorKind::UNSUPPORTED);
    assert!(err.message.contains("edp-mapreduce"), "{}", err.message);

    // A dry run shows the runner's spec.
    let dry = engine.dry_run(env.streaming_job(&id, &input, &out, good, &[])).await.expect("dry run");
    assert_eq!(dry.request["argv"][0], json!(mapreduce_runner()));
    assert_eq!(dry.request["mapreduce"]["mapper"], json!(["cat"]));
    assert_eq!(dry.request["mapreduce"]["reduces"], json!(1));
    assert_eq!(dry.request["mapreduce"]["sort_mb"], json!(100));
    let _: Value = dry.request;
    let _ = Path::new("");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_out_of_attempts_stops_the_others_at_once() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    fs::write(&input, words(2000, 400, 21)).unwrap();
    let output = env.root.path().join("out");
    // Partition 0's reducer fails; partition 1's reads everything, then
    // would sit for ten minutes.
    let reducer = "cat > /dev/null\n\
                   if [ \"$mapreduce_task_partition\" = 0 ]; then echo 'partition 0 gives up' >&2; exit 2; fi\n\
                   sleep 600\n";
    let id = id(13);
    let job = env.streaming_job(
        &id,
        &input,
        &output,
        json!({
            "edp.streaming.mapper": WC_MAPPER,
            "edp.streaming.reducer": "sh reduce.sh",
            "mapreduce.job.reduces": 2,
            "edp.local.slots": 2,
            "mapreduce.reduce.maxattempts": 1,
        }),
        &[("reduce.sh", reducer)],
    );
    let started = Instant::now();
    let (report, _) = run(&engine, &job, Duration::from_secs(30)).await;
    assert_eq!(report.status, JobStatus::Failed, "{:#?}", report.info);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let reason = info(&report)["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("partition 0 gives up"), "{reason}");
    let pgid: i32 = fs::read_to_string(env.job_dir(&id).join("job.pid")).unwrap().trim().parse().unwrap();
    let start = Instant::now();
    while !group_members(pgid).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "left: {:?}", group_members(pgid));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_longer_than_the_buffers_pass_whole() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    let long = "x".repeat(3 << 20);
    // (Values of a key keep their arrival order; sort's order here too.)
    let data = format!("b\tagain\n{long}\ta\tlong value\nb\tshort\n");
    fs::write(&input, &data).unwrap();
    let output = env.root.path().join("out");
    let job = env.streaming_job(
        &id(14),
        &input,
        &output,
        json!({
            "edp.streaming.mapper": "cat",
            "edp.streaming.reducer": "cat",
            "mapreduce.task.io.sort.mb": 1,
        }),
        &[],
    );
    let (report, _) = run(&engine, &job, Duration::from_secs(60)).await;
    succeeded(&report);
    let expected = reference_pipeline(env.root.path(), &format!("cat {}", input.display()), "cat", "cat");
    let got = job_output(&output);
    assert!(got == expected, "{} bytes, not the {} expected", got.len(), expected.len());
}

/// Runs a streaming job over `input` into a fresh output directory; its
/// output (the part files in order) and its counters.
async fn output_and_counters(env: &Env, engine: &LocalEngine, n: u32, input: &Path, configs: Value) -> (String, Value) {
    let output = env.root.path().join(format!("out-{n}"));
    let job = env.streaming_job(&id(n), input, &output, configs, &[]);
    let (report, _) = run(engine, &job, Duration::from_secs(120)).await;
    succeeded(&report);
    (text(&job_output(&output)), info(&report)["counters"].clone())
}

fn with(mut configs: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("an object") {
        configs[k] = v.clone();
    }
    configs
}

fn counter(counters: &Value, name: &str) -> u64 {
    counters[name].as_u64().unwrap_or_else(|| panic!("no counter {name}: {counters}"))
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_combiner_leaves_the_output_as_it_was_and_the_reducer_gets_no_repeats() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in");
    fs::create_dir_all(&input).unwrap();
    for f in 0..2 {
        fs::write(input.join(format!("part-{f}")), words(15_000, 1000, 40 + f)).unwrap();
    }
    let cat = format!("cat {}/part-*", input.display());
    // Spills (a 1 MiB buffer), merge passes (fan-in 3), several maps and reduces.
    let base = json!({
        "edp.streaming.reducer": AWK_SUM,
        "mapreduce.job.reduces": 3,
        "mapreduce.task.io.sort.mb": 1,
        "mapreduce.task.io.sort.factor": 3,
        "mapreduce.input.fileinputformat.split.maxsize": 100_000,
        "edp.local.slots": 2,
    });
    // Word count: each map stores a word's `\t1`s as one counted value,
    // combined after the shuffle, where they are added up first.
    let wc = with(base.clone(), json!({"edp.streaming.mapper": WC_MAPPER}));
    let (plain, plain_counters) = output_and_counters(&env, &engine, 30, &input, wc.clone()).await;
    let (combined, counters) =
        output_and_counters(&env, &engine, 31, &input, with(wc, json!({"edp.streaming.combiner": AWK_SUM}))).await;
    assert_eq!(combined, plain, "a combiner must not change the output");
    let expected = reference_pipeline(env.root.path(), &cat, WC_MAPPER, AWK_SUM);
    assert_eq!(sorted_lines(&plain), sorted_lines(&text(&expected)));
    let records = counter(&counters, "map_output_records");
    assert_eq!(records, counter(&plain_counters, "reduce_input_records"));
    // One line per word reaches the reducers: no count was expanded back
    // into one record per occurrence.
    assert_eq!(counter(&counters, "reduce_input_records"), plain.lines().count() as u64, "{counters}");
    // And the combiner read a fraction of the records, not each of them.
    let fed = counter(&counters, "combine_input_records");
    assert!(fed > 0 && fed * 4 < records, "{counters}");
    assert!(counter(&counters, "combine_output_records") < fed, "{counters}");

    // Values that vary within a key (a word's position in its line, 1 for
    // the first three, so some values repeat many times and others a few):
    // the maps combine the few at each spill, the reducers' side the rest.
    let positions = r#"awk '{for(i=1;i<=NF;i++) print $i "\t" (i < 4 ? 1 : i)}'"#;
    let by_position = with(base, json!({"edp.streaming.mapper": positions}));
    let (plain, plain_counters) = output_and_counters(&env, &engine, 32, &input, by_position.clone()).await;
    let (combined, counters) =
        output_and_counters(&env, &engine, 33, &input, with(by_position, json!({"edp.streaming.combiner": AWK_SUM})))
            .await;
    assert_eq!(combined, plain, "a combiner must not change the output");
    let expected = reference_pipeline(env.root.path(), &cat, positions, AWK_SUM);
    assert_eq!(sorted_lines(&plain), sorted_lines(&text(&expected)));
    let records = counter(&counters, "map_output_records");
    assert!(counter(&counters, "reduce_input_records") * 4 < records, "{counters}");
    assert!(counter(&counters, "combine_input_records") > 0, "{counters}");
    // Combined at the spills: smaller runs.
    let spilled = counter(&counters, "spilled_bytes");
    assert!(spilled * 2 < counter(&plain_counters, "spilled_bytes"), "{counters} vs {plain_counters}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reducer_that_needs_every_value_gets_every_value_through_a_combiner() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    fs::write(&input, words(12_000, 500, 50)).unwrap();
    let base = json!({
        "mapreduce.job.reduces": 2,
        "mapreduce.task.io.sort.mb": 1,
        "mapreduce.input.fileinputformat.split.maxsize": 60_000,
    });
    // The reducer counts a key's values and sums them: an identity combiner
    // (which never shrinks anything) must leave it every one.
    let count_and_sum =
        r#"awk -F'\t' '$1!=k{if(NR>1)print k"\t"n"\t"s;k=$1;n=0;s=0}{n++;s+=$2}END{if(NR>0)print k"\t"n"\t"s}'"#;
    let job = with(base.clone(), json!({"edp.streaming.mapper": WC_MAPPER, "edp.streaming.reducer": count_and_sum}));
    let (plain, _) = output_and_counters(&env, &engine, 40, &input, job.clone()).await;
    let (combined, counters) =
        output_and_counters(&env, &engine, 41, &input, with(job, json!({"edp.streaming.combiner": "cat"}))).await;
    assert_eq!(combined, plain);
    let expected = reference_pipeline(env.root.path(), &format!("cat {}", input.display()), WC_MAPPER, count_and_sum);
    assert_eq!(sorted_lines(&plain), sorted_lines(&text(&expected)));
    assert_eq!(counter(&counters, "reduce_input_records"), counter(&counters, "map_output_records"), "{counters}");

    // The reducer lists a key's distinct values; `sort -u` is a fit
    // combiner for it (dropping repeats never drops a distinct value).
    let mapper = r#"awk '{for(i=1;i<=NF;i++) print $i "\t" (NF % 4)}'"#;
    let distinct = "import sys\n\
                    seen = {}\n\
                    for line in sys.stdin:\n\
                    \x20   k, _, v = line.rstrip('\\n').partition('\\t')\n\
                    \x20   seen.setdefault(k, set()).add(v)\n\
                    for k in seen:\n\
                    \x20   print(k + '\\t' + ','.join(sorted(seen[k])))\n";
    fs::write(env.root.path().join("distinct.py"), distinct).unwrap();
    let job = with(
        base,
        json!({"edp.streaming.mapper": mapper, "edp.streaming.reducer": format!("python3 {}/distinct.py", env.root.path().display())}),
    );
    let (plain, _) = output_and_counters(&env, &engine, 42, &input, job.clone()).await;
    let (combined, counters) =
        output_and_counters(&env, &engine, 43, &input, with(job, json!({"edp.streaming.combiner": "sort -u"}))).await;
    assert_eq!(combined, plain);
    assert!(plain.lines().any(|l| l.ends_with("\t0,1,2,3")), "{plain}");
    assert!(counter(&counters, "reduce_input_records") * 4 < counter(&counters, "map_output_records"), "{counters}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn combiners_that_print_more_records_or_other_keys_leave_the_output_as_it_was() {
    let env = Env::new();
    let (engine, _) = env.streaming_engine();
    let input = env.root.path().join("in.txt");
    fs::write(&input, words(10_000, 800, 60)).unwrap();
    let job = json!({
        "edp.streaming.mapper": WC_MAPPER,
        "edp.streaming.reducer": AWK_SUM,
        "mapreduce.job.reduces": 2,
        "mapreduce.input.fileinputformat.split.maxsize": 50_000,
    });
    let (plain, _) = output_and_counters(&env, &engine, 50, &input, job.clone()).await;

    // Two records per key, a half of the sum each: more records than it was
    // given for a key of one record, fewer for a key of many.
    let halves = r#"awk -F'\t' 'function out(){h=int(c/2);print k"\t"h;print k"\t"c-h} $1!=k{if(k!="")out();k=$1;c=0}{c+=$2}END{if(k!="")out()}'"#;
    let (combined, counters) =
        output_and_counters(&env, &engine, 51, &input, with(job.clone(), json!({"edp.streaming.combiner": halves})))
            .await;
    assert_eq!(combined, plain);
    assert!(counter(&counters, "reduce_input_records") <= 2 * plain.lines().count() as u64, "{counters}");

    // A combiner that changes keys is not a combiner: its batches go on
    // uncombined, so the output stays right.
    let rename = r#"awk '{print "x" $0}'"#;
    let output = env.root.path().join("out-52");
    let renaming =
        env.streaming_job(&id(52), &input, &output, with(job.clone(), json!({"edp.streaming.combiner": rename})), &[]);
    let (report, handle) = run(&engine, &renaming, Duration::from_secs(60)).await;
    succeeded(&report);
    assert_eq!(text(&job_output(&output)), plain);
    let counters = &info(&report)["counters"];
    assert_eq!(counter(counters, "reduce_input_records"), counter(counters, "map_output_records"), "{counters}");
    let stderr = read_stream(&engine, &handle, "stderr", 1 << 20).await;
    assert!(stderr.contains("the combiner printed key `xw"), "{stderr}");

    // A combiner failing once fails its attempt; the retry starts afresh.
    let flaky = format!(
        "if mkdir {}/combiner-failed 2>/dev/null; then cat >/dev/null; exit 4; fi\nexec {AWK_SUM}\n",
        env.root.path().display()
    );
    let output = env.root.path().join("out-54");
    let retried = with(job.clone(), json!({"edp.streaming.combiner": "sh flaky.sh"}));
    let flaky_job = env.streaming_job(&id(54), &input, &output, retried, &[("flaky.sh", &flaky)]);
    let (report, _) = run(&engine, &flaky_job, Duration::from_secs(60)).await;
    succeeded(&report);
    assert_eq!(info(&report)["reduces"]["failed_attempts"], 1, "{:#?}", report.info);
    assert_eq!(text(&job_output(&output)), plain);

    // A failing combiner fails the task like a failing reducer.
    let output = env.root.path().join("out-53");
    let failing = with(job, json!({"edp.streaming.combiner": "sh fail.sh", "mapreduce.reduce.maxattempts": 1}));
    let job = env.streaming_job(&id(53), &input, &output, failing, &[("fail.sh", "cat >/dev/null; exit 5\n")]);
    let (report, _) = run(&engine, &job, Duration::from_secs(60)).await;
    assert_eq!(report.status, JobStatus::Failed, "{:#?}", report.info);
    let reason = info(&report)["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("combiner ended with exit code 5"), "{reason}");
    assert!(!output.exists());
}
