//! The two files the plugin and the runner exchange through the job
//! directory: the runner's spec (written by the plugin before launch) and
//! its status (written by the runner, read by the plugin's status report).
//! Like the supervisor's files, fields are only ever added, with defaults,
//! since plugin and runner may be of different builds after an upgrade.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The runner's spec, in the job directory; its path is the runner's argument.
pub const SPEC_FILE: &str = "mapreduce-spec.json";
/// The runner's progress and outcome, replaced atomically as it goes.
pub const STATUS_FILE: &str = "mapreduce.json";
/// Per-attempt stderr of the user's mapper, combiner and reducer processes.
pub const TASKS_DIR: &str = "tasks";
/// Sorted runs (map output) and merge passes; removed when the job ends.
pub const SPILL_DIR: &str = "spill";
/// Names a staged job binary may not take in a streaming job's directory.
pub const RESERVED: &[&str] =
    &[SPEC_FILE, STATUS_FILE, "mapreduce.json.tmp", "mapreduce-spec.json.tmp", TASKS_DIR, SPILL_DIR];

/// What the runner's peak RSS stays under, KiB, whatever the input size:
/// per slot, the sort buffer (map phase) or the merge's readers (reduce
/// phase, 64 KiB per run merged at once), whichever is larger, plus 4 MiB
/// of I/O buffers (pipe reads, run writers, gzip); and 8 MiB for the
/// process itself (code, stacks, status). A single line longer than the
/// sort buffer raises it by that line's size.
pub fn memory_bound_kb(spec: &RunnerSpec) -> u64 {
    let per_slot = (u64::from(spec.sort_mb) * 1024).max(u64::from(spec.sort_factor) * 64) + 4 * 1024;
    u64::from(spec.slots) * per_slot + 8 * 1024
}

/// What a MapReduce.Streaming job runs: everything the runner needs, so it
/// reads nothing else (not edpd's configuration, not the request).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RunnerSpec {
    pub execution_id: String,
    /// The job directory: the tasks' working directory, where libs are staged.
    pub job_dir: PathBuf,
    /// A file or a directory of files.
    pub input: PathBuf,
    /// Must not exist: created by the runner, `part-NNNNN` and `_SUCCESS` in it.
    pub output: PathBuf,
    /// Argv of the user's commands (no shell).
    pub mapper: Vec<String>,
    pub reducer: Vec<String>,
    #[serde(default)]
    pub combiner: Option<Vec<String>>,
    /// Partitions = reduce tasks; 0 = a map-only job (map output is the output).
    pub reduces: u32,
    /// Tasks (processes) running at once, in the map phase and in the reduce phase.
    pub slots: u32,
    /// Memory for one map task's sort buffer, MiB.
    pub sort_mb: u32,
    /// Most sorted runs merged at once.
    pub sort_factor: u32,
    pub map_attempts: u32,
    pub reduce_attempts: u32,
    /// Split size bounds, bytes.
    pub split_min: u64,
    pub split_max: u64,
    /// Whether subdirectories of an input directory are read too.
    #[serde(default)]
    pub recursive: bool,
    /// Added to every task's environment (the job's configs, as Hadoop
    /// streaming exports them).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Counts of one phase's tasks.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub total: u64,
    pub done: u64,
    pub running: u64,
    /// Attempts that failed (and were retried, or failed the job).
    pub failed_attempts: u64,
}

/// The runner's status file.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerStatus {
    /// `setup`, `map`, `reduce`, `commit`, then `succeeded`, `failed` or `killed`.
    pub phase: String,
    pub maps: TaskCounts,
    pub reduces: TaskCounts,
    /// Sort buffers written to disk because they were full.
    pub spills: u64,
    /// Sorted run files written by map tasks (spills and final outputs).
    pub runs: u64,
    /// Intermediate merge passes of reduce tasks (more runs than the fan-in).
    pub merge_passes: u64,
    pub input_bytes: u64,
    pub map_output_records: u64,
    pub map_output_bytes: u64,
    /// Bytes of the sorted runs on disk.
    pub spilled_bytes: u64,
    pub reduce_input_records: u64,
    /// Lines fed to combiner processes, and lines they printed.
    #[serde(default)]
    pub combine_input_records: u64,
    #[serde(default)]
    pub combine_output_records: u64,
    /// The runner's own peak RSS (getrusage), KiB.
    pub peak_rss_kb: u64,
    /// The supervisor's peak RSS (/proc VmHWM), KiB: the job's other helper.
    pub supervisor_peak_rss_kb: u64,
    /// What the runner's peak RSS stays under, KiB: slots × sort budget + overhead.
    pub memory_bound_kb: u64,
    /// Why the job failed: the task, its attempts, its stderr tail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub started_at_ms: u64,
    pub updated_at_ms: u64,
}

impl RunnerStatus {
    pub fn read(job_dir: &Path) -> io::Result<Option<Self>> {
        match fs::read(job_dir.join(STATUS_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Writes `name` in `dir` via a temporary file and a rename, so readers see
/// the old or the new content, never half of one.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, dir.join(name))
}
