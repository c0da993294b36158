//! `edp-mapreduce <spec>`: runs one MapReduce.Streaming job, as the job
//! process of a supervised job directory (see `edp_supervised`): its
//! stderr is the job's stderr, its process group the job's, so a cancel
//! (SIGTERM to the group) reaches every mapper, combiner and reducer.
//!
//! Phases: plan the splits and create the output directory (refused if it
//! exists); run the map tasks, `slots` at a time; run the reduce tasks,
//! `slots` at a time; commit (`part-NNNNN` into the output directory, then
//! `_SUCCESS`). A failed attempt is retried until its task's attempts are
//! used up; then the job fails: the other tasks are killed, the partial
//! output removed, and the reason (task, attempts, stderr tail) written to
//! the status file and to stderr. The status file (`mapreduce.json`) is
//! rewritten at each task event and every second.

use std::collections::{HashSet, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::input::{self, InputFile, Split};
use super::run::{RunFile, Segment};
use super::spec::{self, RunnerSpec, RunnerStatus};
use super::sys;
use super::task::{self, AttemptError, Buffers, MapOutput};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Map,
    Reduce,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Map => "map",
            Phase::Reduce => "reduce",
        }
    }
}

/// How much of a task's budget a combiner's batch may take (the sort
/// buffer keeps the rest).
const COMBINE_SHARE: usize = 4;

/// What every task of the job shares.
pub struct Job {
    pub spec: RunnerSpec,
    pub files: Vec<InputFile>,
    pub splits: Vec<Split>,
    pub mapper: Vec<String>,
    pub reducer: Vec<String>,
    pub combiner: Option<Vec<String>>,
    pub tasks_dir: PathBuf,
    pub spill_dir: PathBuf,
    /// `<output>/_temporary`: attempts' output, then committed tasks' output.
    pub temp_dir: PathBuf,
    children: Mutex<HashSet<u32>>,
    abort: AtomicBool,
    status: Mutex<RunnerStatus>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Job {
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    /// Stops the job: no more processes start, the running ones are killed.
    pub fn abort(&self) {
        let children = lock(&self.children);
        self.abort.store(true, Ordering::SeqCst);
        for pid in children.iter() {
            sys::kill(*pid);
        }
    }

    /// Starts a user's process (registered, so an abort kills it).
    pub fn spawn(
        &self,
        argv: &[String],
        env: &[(String, String)],
        stdin: Stdio,
        stdout: Stdio,
        stderr: &Path,
    ) -> Result<Child, AttemptError> {
        let mut children = lock(&self.children);
        if self.aborted() {
            return Err(AttemptError::Aborted);
        }
        let child = task::spawn(argv, env, &self.spec.job_dir, stdin, stdout, stderr)
            .map_err(|e| AttemptError::Failed(e.to_string()))?;
        children.insert(child.id());
        Ok(child)
    }

    pub fn kill_child(&self, child: &Child) {
        if lock(&self.children).contains(&child.id()) {
            sys::kill(child.id());
        }
    }

    /// Waits for a child to end, then unregisters and reaps it: until it is
    /// reaped its pid cannot be reused, so an abort may signal it meanwhile.
    pub fn reap(&self, child: &mut Child) -> io::Result<ExitStatus> {
        sys::wait_without_reaping(child.id())?;
        lock(&self.children).remove(&child.id());
        child.wait()
    }

    pub fn sort_budget(&self) -> usize {
        let budget = (self.spec.sort_mb as usize) << 20;
        if self.combiner.is_some() { budget - budget / COMBINE_SHARE } else { budget }
    }

    pub fn combine_budget(&self) -> usize {
        ((self.spec.sort_mb as usize) << 20) / COMBINE_SHARE
    }

    pub fn log(&self, message: &str) {
        eprintln!("edp-mapreduce: {message}");
    }

    /// Changes the status and rewrites the status file.
    pub fn update(&self, change: impl FnOnce(&mut RunnerStatus)) {
        let mut status = lock(&self.status);
        change(&mut status);
        status.updated_at_ms = now_ms();
        status.peak_rss_kb = sys::peak_rss_kb();
        if let Some(kb) = sys::proc_peak_rss_kb(sys::parent_pid()) {
            status.supervisor_peak_rss_kb = kb;
        }
        match serde_json::to_vec_pretty(&*status) {
            Ok(bytes) => {
                if let Err(e) = spec::write_atomic(&self.spec.job_dir, spec::STATUS_FILE, &bytes) {
                    eprintln!("edp-mapreduce: cannot write {}: {e}", spec::STATUS_FILE);
                }
            }
            Err(e) => eprintln!("edp-mapreduce: cannot encode the status: {e}"),
        }
    }

    fn status(&self) -> RunnerStatus {
        lock(&self.status).clone()
    }

    /// Where an attempt writes its output file.
    pub fn attempt_output(&self, phase: Phase, task: usize, attempt: u32) -> io::Result<PathBuf> {
        let dir = self.temp_dir.join(format!("attempt_{}_{task:05}_{attempt}", phase.name()));
        fs::create_dir_all(&dir)?;
        Ok(dir.join(format!("part-{task:05}")))
    }

    /// A task's environment: the job's configs (as Hadoop streaming exports
    /// them) and the task's own variables.
    pub fn task_env(
        &self,
        phase: Phase,
        task: usize,
        attempt: u32,
        file: Option<&Path>,
        split: Option<&Split>,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self.spec.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let kind = if phase == Phase::Map { "m" } else { "r" };
        let id = self.spec.execution_id.replace('-', "");
        let task_id = format!("task_{id}_{kind}_{task:06}");
        env.push(("mapreduce_task_id".into(), task_id));
        env.push(("mapreduce_task_attempt_id".into(), format!("attempt_{id}_{kind}_{task:06}_{}", attempt.max(1) - 1)));
        env.push(("mapreduce_task_partition".into(), task.to_string()));
        env.push(("mapreduce_task_ismap".into(), (phase == Phase::Map).to_string()));
        if let Some(file) = file {
            let path = file.display().to_string();
            env.push(("mapreduce_map_input_file".into(), path.clone()));
            env.push(("map_input_file".into(), path));
        }
        if let Some(split) = split {
            env.push(("mapreduce_map_input_start".into(), split.start.to_string()));
            env.push(("mapreduce_map_input_length".into(), split.len().to_string()));
        }
        env
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A program named by a bare name that is a file in the job directory (a
/// lib shipped with the job) runs from there, as Hadoop streaming runs a
/// `-file`'s script; any other name is looked up on PATH.
fn resolve(argv: &[String], job_dir: &Path) -> Vec<String> {
    let mut argv = argv.to_vec();
    if let Some(first) = argv.first_mut()
        && !first.contains('/')
        && job_dir.join(first.as_str()).is_file()
    {
        *first = job_dir.join(first.as_str()).display().to_string();
    }
    argv
}

/// The stderr tail of an attempt's processes, for reasons.
fn stderr_tail(path: &Path, max: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(max);
    let mut text = String::from_utf8_lossy(&bytes[start..]).trim_end().to_owned();
    if start > 0 {
        text.insert(0, '…');
    }
    text
}

fn counts(s: &mut RunnerStatus, phase: Phase) -> &mut spec::TaskCounts {
    if phase == Phase::Map { &mut s.maps } else { &mut s.reduces }
}

/// Runs a phase's tasks, `slots` at a time, retrying failed attempts.
/// Returns each task's result, or the reason the job failed.
fn run_phase<T: Send>(
    job: &Job,
    phase: Phase,
    tasks: usize,
    max_attempts: u32,
    describe: impl Fn(usize) -> String + Sync,
    work: impl Fn(usize, u32, &mut Buffers) -> Result<T, AttemptError> + Sync,
) -> Result<Vec<T>, String> {
    let queue: Mutex<VecDeque<(usize, u32)>> = Mutex::new((0..tasks).map(|t| (t, 1)).collect());
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..tasks).map(|_| None).collect());
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let slots = (job.spec.slots as usize).clamp(1, tasks.max(1));
    std::thread::scope(|s| {
        for w in 0..slots {
            let (queue, results, failure, describe, work) = (&queue, &results, &failure, &describe, &work);
            std::thread::Builder::new()
                .name(format!("edp-mr-{}{w}", phase.name()))
                .spawn_scoped(s, move || {
                    let mut buffers = Buffers::default();
                    loop {
                        let Some((t, attempt)) = lock(queue).pop_front() else { break };
                        if job.aborted() {
                            break;
                        }
                        job.update(|s| counts(s, phase).running += 1);
                        let result = work(t, attempt, &mut buffers);
                        match result {
                            Ok(value) => {
                                lock(results)[t] = Some(value);
                                job.update(|s| {
                                    let c = counts(s, phase);
                                    c.running -= 1;
                                    c.done += 1;
                                });
                            }
                            Err(AttemptError::Aborted) => {
                                job.update(|s| counts(s, phase).running -= 1);
                                break;
                            }
                            Err(AttemptError::Failed(why)) => {
                                job.update(|s| {
                                    let c = counts(s, phase);
                                    c.running -= 1;
                                    c.failed_attempts += 1;
                                });
                                let kind = if phase == Phase::Map { "m" } else { "r" };
                                let stderr = job.tasks_dir.join(format!("{kind}-{t:05}_{attempt}.stderr"));
                                let tail = stderr_tail(&stderr, 1500);
                                let what = format!("{} task {t} ({})", phase.name(), describe(t));
                                job.log(&format!(
                                    "{what}: attempt {attempt} of {max_attempts} failed: {why}{}",
                                    if tail.is_empty() { String::new() } else { format!("; its stderr:\n{tail}") }
                                ));
                                if attempt < max_attempts {
                                    lock(queue).push_back((t, attempt + 1));
                                } else {
                                    let mut reason = format!("{what} failed {attempt} attempt(s); the last: {why}");
                                    if !tail.is_empty() {
                                        reason.push_str(&format!("; its stderr:\n{tail}"));
                                    }
                                    lock(failure).get_or_insert(reason);
                                    job.abort();
                                    break;
                                }
                            }
                        }
                    }
                })
                .expect("a worker thread");
        }
    });
    if let Some(reason) = lock(&failure).take() {
        return Err(reason);
    }
    let results = std::mem::take(&mut *lock(&results));
    if job.aborted() || results.iter().any(Option::is_none) {
        return Err("the job was stopped".into());
    }
    Ok(results.into_iter().map(|r| r.expect("checked")).collect())
}

/// How the job ended.
enum Outcome {
    Succeeded,
    Failed(String),
}

/// The runner's entry point (`edp-mapreduce <spec file>`).
pub fn main() -> ExitCode {
    sys::block_signals();
    sys::fix_mmap_threshold();
    let mut args = std::env::args_os().skip(1);
    let (Some(spec_path), None) = (args.next(), args.next()) else {
        eprintln!("usage: edp-mapreduce <spec.json>");
        return ExitCode::from(2);
    };
    let spec: RunnerSpec = match fs::read(&spec_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("edp-mapreduce: cannot read {}: {e}", Path::new(&spec_path).display());
            return ExitCode::from(2);
        }
    };
    let tasks_dir = spec.job_dir.join(spec::TASKS_DIR);
    let spill_dir = spec.job_dir.join(spec::SPILL_DIR);
    let job = Job {
        mapper: resolve(&spec.mapper, &spec.job_dir),
        reducer: resolve(&spec.reducer, &spec.job_dir),
        combiner: spec.combiner.as_ref().map(|c| resolve(c, &spec.job_dir)),
        temp_dir: spec.output.join("_temporary"),
        files: Vec::new(),
        splits: Vec::new(),
        tasks_dir,
        spill_dir,
        children: Mutex::new(HashSet::new()),
        abort: AtomicBool::new(false),
        status: Mutex::new(RunnerStatus {
            phase: "setup".into(),
            started_at_ms: now_ms(),
            memory_bound_kb: spec::memory_bound_kb(&spec),
            ..RunnerStatus::default()
        }),
        spec,
    };
    let job: &'static mut Job = Box::leak(Box::new(job));
    job.update(|_| {});
    let set_up = setup(job);
    let job: &'static Job = job;
    let (outcome, created_output) = match set_up {
        Err(reason) => (Outcome::Failed(reason), false),
        Ok(()) => {
            std::thread::Builder::new()
                .name("edp-mr-signals".into())
                .spawn(move || on_signal(job, sys::wait_for_signal()))
                .expect("a signal thread");
            let (stop, ticks) = std::sync::mpsc::channel::<()>();
            std::thread::Builder::new()
                .name("edp-mr-status".into())
                .spawn(move || {
                    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                        ticks.recv_timeout(Duration::from_secs(1))
                    {
                        job.update(|_| {});
                    }
                })
                .expect("a status thread");
            let outcome = match run(job) {
                Ok(()) => Outcome::Succeeded,
                Err(reason) => Outcome::Failed(reason),
            };
            drop(stop);
            (outcome, true)
        }
    };
    finish(job, outcome, created_output)
}

fn finish(job: &Job, outcome: Outcome, created_output: bool) -> ExitCode {
    let _ = fs::remove_dir_all(&job.spill_dir);
    match outcome {
        Outcome::Succeeded => {
            let status = job.status();
            println!(
                "MapReduce.Streaming job {} succeeded: {} maps, {} reduces; map input {} bytes; map output {} records, \
                 {} bytes; {} spills, {} runs ({} bytes), {} merge passes; combine input {} records, output {} records; \
                 reduce input {} records; peak RSS {} KiB",
                job.spec.execution_id,
                status.maps.total,
                status.reduces.total,
                status.input_bytes,
                status.map_output_records,
                status.map_output_bytes,
                status.spills,
                status.runs,
                status.spilled_bytes,
                status.merge_passes,
                status.combine_input_records,
                status.combine_output_records,
                status.reduce_input_records,
                sys::peak_rss_kb(),
            );
            job.update(|s| s.phase = "succeeded".into());
            ExitCode::SUCCESS
        }
        Outcome::Failed(reason) => {
            if created_output {
                remove_partial_output(job);
            }
            eprintln!("edp-mapreduce: the job failed: {reason}");
            job.update(|s| {
                s.phase = "failed".into();
                s.reason = Some(reason);
            });
            ExitCode::FAILURE
        }
    }
}

/// A failed or killed job leaves no output directory behind (it created
/// it), so the same launch can be repeated.
fn remove_partial_output(job: &Job) {
    let _ = fs::remove_dir_all(&job.temp_dir);
    // Only if empty: never anything the job did not write.
    let _ = fs::remove_dir(&job.spec.output);
}

fn on_signal(job: &Job, signal: i32) {
    job.log(&format!("signal {signal}: stopping every task"));
    job.abort();
    let _ = fs::remove_dir_all(&job.spill_dir);
    remove_partial_output(job);
    job.update(|s| s.phase = "killed".into());
    std::process::exit(128 + signal);
}

/// Lists the input, plans the splits, creates the output directory.
fn setup(job: &mut Job) -> Result<(), String> {
    let spec = &job.spec;
    let files = input::list(&spec.input, spec.recursive)?;
    let split_size = input::split_size(spec.split_min, spec.split_max);
    let splits = input::splits(&files, split_size)?;
    let input_bytes: u64 = files.iter().map(|f| f.len).sum();
    if spec.output.exists() {
        return Err(format!("output directory `{}` already exists", spec.output.display()));
    }
    if let Some(parent) = spec.output.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("output directory `{}`: {e}", parent.display()))?;
    }
    fs::create_dir(&spec.output).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => format!("output directory `{}` already exists", spec.output.display()),
        _ => format!("output directory `{}`: {e}", spec.output.display()),
    })?;
    for dir in [&job.temp_dir, &job.tasks_dir, &job.spill_dir] {
        if let Err(e) = fs::create_dir_all(dir) {
            remove_partial_output(job);
            return Err(format!("`{}`: {e}", dir.display()));
        }
    }
    job.log(&format!(
        "{} input file(s), {input_bytes} bytes, in {} split(s); {} reduce(s); {} slot(s); sort buffer {} MiB per map task{}",
        files.len(),
        splits.len(),
        spec.reduces,
        spec.slots,
        spec.sort_mb,
        if job.combiner.is_some() { "; with a combiner" } else { "" }
    ));
    let maps = splits.len() as u64;
    let reduces = u64::from(spec.reduces);
    job.files = files;
    job.splits = splits;
    job.update(|s| {
        s.maps.total = maps;
        s.reduces.total = reduces;
    });
    Ok(())
}

fn run(job: &'static Job) -> Result<(), String> {
    job.update(|s| s.phase = "map".into());
    let describe_split = |t: usize| {
        let split = &job.splits[t];
        format!("{} bytes {}+{}", job.files[split.file].path.display(), split.start, split.len())
    };
    let outputs: Vec<MapOutput> =
        run_phase(job, Phase::Map, job.splits.len(), job.spec.map_attempts, describe_split, |t, attempt, buffers| {
            let result = task::map_attempt(job, t, attempt, buffers);
            match &result {
                Ok(out) => {
                    job.update(|s| {
                        s.input_bytes += out.input_bytes;
                        s.map_output_records += out.records;
                        s.map_output_bytes += out.bytes;
                    });
                    commit_task(job, Phase::Map, t, attempt).map_err(|e| AttemptError::Failed(e.to_string()))?;
                }
                Err(_) => discard_attempt(job, Phase::Map, t, attempt),
            }
            result
        })?;
    if job.spec.reduces > 0 {
        job.update(|s| s.phase = "reduce".into());
        let partitions: Vec<Vec<(PathBuf, Segment)>> = (0..job.spec.reduces)
            .map(|p| {
                outputs
                    .iter()
                    .flat_map(|o| o.runs.iter())
                    .flat_map(|run: &RunFile| {
                        run.segments.iter().filter(move |s| s.part == p).map(move |s| (run.path.clone(), *s))
                    })
                    .collect()
            })
            .collect();
        let partitions = &partitions;
        run_phase(
            job,
            Phase::Reduce,
            job.spec.reduces as usize,
            job.spec.reduce_attempts,
            |p| format!("partition {p}"),
            |p, attempt, buffers| {
                let result = task::reduce_attempt(job, p as u32, attempt, partitions[p].clone(), buffers);
                match &result {
                    Ok(records) => {
                        job.update(|s| s.reduce_input_records += records);
                        commit_task(job, Phase::Reduce, p, attempt).map_err(|e| AttemptError::Failed(e.to_string()))?;
                    }
                    Err(_) => discard_attempt(job, Phase::Reduce, p, attempt),
                }
                result
            },
        )?;
    }
    job.update(|s| s.phase = "commit".into());
    commit_job(job).map_err(|e| format!("committing the output: {e}"))
}

/// An attempt's output becomes its task's: `_temporary/part-NNNNN`.
fn commit_task(job: &Job, phase: Phase, task: usize, attempt: u32) -> io::Result<()> {
    let map_only = job.spec.reduces == 0;
    if phase == Phase::Map && !map_only {
        return Ok(());
    }
    let from = job.attempt_output(phase, task, attempt)?;
    fs::rename(&from, job.temp_dir.join(format!("part-{task:05}")))?;
    fs::remove_dir(from.parent().expect("an attempt directory"))
}

fn discard_attempt(job: &Job, phase: Phase, task: usize, attempt: u32) {
    let kind = if phase == Phase::Map { "m" } else { "r" };
    let _ = fs::remove_dir_all(job.spill_dir.join(format!("{kind}-{task:05}_{attempt}")));
    let _ = fs::remove_dir_all(job.temp_dir.join(format!("attempt_{}_{task:05}_{attempt}", phase.name())));
}

/// The committed part files into the output directory, then `_SUCCESS`.
fn commit_job(job: &Job) -> io::Result<()> {
    let tasks = if job.spec.reduces == 0 { job.splits.len() } else { job.spec.reduces as usize };
    for t in 0..tasks {
        let name = format!("part-{t:05}");
        fs::rename(job.temp_dir.join(&name), job.spec.output.join(&name))?;
    }
    fs::remove_dir_all(&job.temp_dir)?;
    fs::write(job.spec.output.join("_SUCCESS"), b"")
}
