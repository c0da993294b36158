//! A test host and helpers to drive `LocalEngine` in-process with real
//! processes.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use edp_engine_api::plugin::testing::TestHost;
use edp_engine_api::plugin::{Engine, EngineContext};
use edp_engine_api::wire::{
    Binary, ClusterSpec, EngineSettings, JobHandle, JobRequest, Launched, LogRequest, Object, StatusReport,
};
use edp_engine_local::{LocalEngine, SUPERVISOR_NAME};
use edp_supervised::layout;
use serde_json::{Value, json};

pub const DEADLINE: Duration = Duration::from_secs(20);

/// The supervisor, a binary of edp-supervised. `cargo test` builds only
/// the binaries of the packages it tests, so the first call builds it (a
/// no-op when up to date) into the target and profile directories this
/// test runs from; `EDP_TEST_PREBUILT` (see scripts/test) skips that.
pub fn supervisor() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        // <target dir>/<profile>/deps/<test binary>
        let exe = std::env::current_exe().expect("test executable");
        let profile_dir = exe.parent().and_then(Path::parent).expect("a profile directory").to_owned();
        if std::env::var_os("EDP_TEST_PREBUILT").is_none() {
            let target_dir = profile_dir.parent().expect("a target directory");
            let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            cargo.args(["build", "--quiet", "-p", "edp-supervised", "--bin", SUPERVISOR_NAME]);
            cargo.arg("--target-dir").arg(target_dir).current_dir(env!("CARGO_MANIFEST_DIR"));
            match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => {}
                Some("release") => drop(cargo.arg("--release")),
                Some(other) => drop(cargo.args(["--profile", other])),
                None => panic!("no profile in {}", profile_dir.display()),
            }
            let out = cargo.output().expect("cargo runs");
            assert!(
                out.status.success(),
                "building {SUPERVISOR_NAME} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        profile_dir.join(SUPERVISOR_NAME)
    })
}

/// A work directory and the engines over it. Dropping it kills whatever
/// job is left, so a failed test leaves no processes behind.
pub struct Env {
    pub root: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self { root: tempfile::tempdir().expect("temp dir") }
    }

    pub fn work_dir(&self) -> PathBuf {
        self.root.path().join("data/jobs")
    }

    pub fn engine(&self) -> (LocalEngine, TestHost) {
        self.engine_with(json!({ "supervisor": supervisor(), "kill_grace_ms": 2000 }))
    }

    pub fn engine_with(&self, settings: Value) -> (LocalEngine, TestHost) {
        let hints = TestHost::new();
        let engine = LocalEngine::new(self.context(settings, &hints)).expect("engine starts");
        (engine, hints)
    }

    pub fn context(&self, settings: Value, hints: &TestHost) -> EngineContext {
        let Value::Object(settings) = settings else { panic!("settings must be an object") };
        hints.context_with(EngineSettings {
            plugin_path: self.root.path().join("plugins/libedp_engine_local.so"),
            data_dir: self.root.path().join("data"),
            settings,
        })
    }

    /// Writes a file to stand for a binary the host staged.
    pub fn binary(&self, name: &str, content: &str) -> Binary {
        let dir = self.root.path().join("staged");
        fs::create_dir_all(&dir).expect("staged dir");
        let path = dir.join(name);
        fs::write(&path, content).expect("write binary");
        binary_at(name, &path)
    }

    pub fn shell_job(&self, id: &str, script: &str, args: &[&str]) -> JobRequest {
        let mut job = request(id, "Shell");
        job.mains = vec![self.binary(&format!("{id}.sh"), script)];
        job.args = args.iter().map(|a| (*a).to_owned()).collect();
        job
    }

    pub fn job_dir(&self, id: &str) -> PathBuf {
        self.work_dir().join(id)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        edp_supervised::testing::kill_unfinished_jobs(&self.work_dir());
    }
}

pub fn binary_at(name: &str, path: &Path) -> Binary {
    Binary {
        id: format!("bin-{name}"),
        name: name.into(),
        url: format!("internal-db://{name}"),
        path: Some(path.to_owned()),
    }
}

pub fn request(id: &str, job_type: &str) -> JobRequest {
    JobRequest {
        execution_id: id.into(),
        job_type: job_type.into(),
        template_name: "test".into(),
        cluster: ClusterSpec { id: "c1".into(), name: "local".into(), configs: Object::new() },
        mains: vec![],
        libs: vec![],
        input: None,
        output: None,
        configs: Object::new(),
        params: Object::new(),
        args: vec![],
        callback: None,
    }
}

pub fn handle(job: &JobRequest, launched: &Launched) -> JobHandle {
    JobHandle {
        execution_id: job.execution_id.clone(),
        engine_job_id: launched.engine_job_id.clone(),
        job_type: job.job_type.clone(),
        cluster: job.cluster.clone(),
        extra: launched.extra.clone(),
        cancel_requested: false,
    }
}

pub fn object(value: Value) -> Object {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Polls until the job's status is terminal.
pub async fn wait_terminal(engine: &LocalEngine, handle: &JobHandle) -> StatusReport {
    let start = Instant::now();
    loop {
        let report = engine.get_job_status(handle.clone()).await.expect("status");
        if report.status.is_terminal() {
            return report;
        }
        assert!(start.elapsed() < DEADLINE, "job {} still {:?}", handle.execution_id, report.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `path` exists (a job's own signal that it got somewhere).
pub async fn wait_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < DEADLINE, "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The job's pid once its supervisor has recorded it. The host supervisor
/// claims `job.pid` empty, starts the job, then writes the pid: the job may
/// run (and write what a test waits for) in between.
pub async fn wait_job_pid(dir: &Path) -> i32 {
    let start = Instant::now();
    loop {
        match layout::read_job_pid(dir).expect("job.pid") {
            layout::JobPid::Pid(pid) => return pid,
            other => assert!(start.elapsed() < DEADLINE, "no job pid recorded: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The whole of a stream, read in chunks of `limit` bytes, checking that
/// the offsets chain.
pub async fn read_stream(engine: &LocalEngine, handle: &JobHandle, stream: &str, limit: u64) -> String {
    let mut offset = 0;
    let mut text = String::new();
    loop {
        let chunk = engine
            .fetch_logs(LogRequest { handle: handle.clone(), stream: Some(stream.into()), offset, limit })
            .await
            .expect("logs");
        assert_eq!(chunk.offset, offset);
        assert_eq!(chunk.next_offset, offset + chunk.data.len() as u64, "valid UTF-8 moves by its length");
        // Over the limit only to hold one whole character.
        assert!(chunk.data.len() as u64 <= limit.max(4));
        text.push_str(&chunk.data);
        offset = chunk.next_offset;
        if chunk.complete {
            return text;
        }
        assert!(!chunk.data.is_empty(), "an incomplete read returned nothing at {offset}");
    }
}

/// The MapReduce.Streaming runner, a binary of this package (cargo builds
/// it for the integration tests).
pub fn mapreduce_runner() -> &'static str {
    env!("CARGO_BIN_EXE_edp-mapreduce")
}

impl Env {
    /// An engine that also runs MapReduce.Streaming jobs.
    pub fn streaming_engine(&self) -> (LocalEngine, TestHost) {
        self.engine_with(json!({
            "supervisor": supervisor(),
            "kill_grace_ms": 2000,
            "mapreduce_runner": mapreduce_runner(),
        }))
    }

    /// A `file` data source for `path`.
    pub fn file_source(&self, name: &str, path: &Path) -> edp_engine_api::wire::DataSource {
        edp_engine_api::wire::DataSource {
            id: format!("ds-{name}"),
            name: name.into(),
            kind: "file".into(),
            url: format!("file://{}", path.display()),
        }
    }

    /// A MapReduce.Streaming request; `libs` are (name, content) files.
    pub fn streaming_job(
        &self,
        id: &str,
        input: &Path,
        output: &Path,
        configs: Value,
        libs: &[(&str, &str)],
    ) -> JobRequest {
        let mut job = request(id, "MapReduce.Streaming");
        job.input = Some(self.file_source("in", input));
        job.output = Some(self.file_source("out", output));
        job.configs = object(configs);
        job.libs = libs.iter().map(|(name, content)| self.binary(name, content)).collect();
        job
    }
}

/// `cat <inputs> | mapper | LC_ALL=C sort | reducer`, through sh, in `cwd`
/// (where the libs are): what a streaming job's output must equal.
pub fn reference_pipeline(cwd: &Path, cat: &str, mapper: &str, reducer: &str) -> Vec<u8> {
    let script = format!("{cat} | {mapper} | LC_ALL=C sort | {reducer}");
    let out = Command::new("sh").arg("-c").arg(&script).current_dir(cwd).output().expect("sh runs");
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The part files of an output directory, concatenated in name order
/// (partition order); asserts `_SUCCESS` is there.
pub fn job_output(dir: &Path) -> Vec<u8> {
    assert!(dir.join("_SUCCESS").is_file(), "no _SUCCESS in {}", dir.display());
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("output dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.iter().all(|n| n == "_SUCCESS" || n.starts_with("part-")),
        "unexpected files in the output: {names:?}"
    );
    names.iter().filter(|n| n.starts_with("part-")).flat_map(|n| fs::read(dir.join(n)).expect("part")).collect()
}

/// Processes whose process group is `pgid` (from /proc).
pub fn group_members(pgid: i32) -> Vec<(i32, String)> {
    let mut members = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // state, ppid, pgrp: zombies are gone as far as signals go but
        // still listed; they count here too.
        if fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid) {
            let name = stat[stat.find('(').map_or(0, |i| i + 1)..close].to_owned();
            members.push((pid, name));
        }
    }
    members
}

/// Deterministic text: `lines` lines of 3–12 words from a Zipf-ish
/// vocabulary of `vocab` words.
pub fn words(lines: usize, vocab: u64, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut text = String::new();
    for _ in 0..lines {
        let n = 3 + next() % 10;
        for i in 0..n {
            // Small ranks are much more likely: a rough Zipf.
            let r = (next() % vocab).min(next() % vocab).min(next() % vocab);
            if i > 0 {
                text.push(' ');
            }
            text.push_str(&format!("w{r}"));
        }
        text.push('\n');
    }
    text
}
