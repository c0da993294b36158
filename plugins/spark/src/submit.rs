//! spark-submit jobs: the spark-submit process runs under `edp-supervisor`
//! in the job directory, so it outlives edpd, its exit is recorded and its
//! output is the job's log. Where spark-submit waits for the app (local
//! and client mode; cluster mode on YARN and Kubernetes) its exit is the
//! job's; in standalone cluster mode it only submits, and the driver it
//! names in its output is followed through the master's REST server.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};

use edp_engine_api::plugin::{Result, blocking};
use edp_engine_api::wire::{JobStatus, LogChunk, StatusReport};
use edp_supervised::{JobDir, layout, logs};
use serde_json::json;

use crate::diagnose;
use crate::standalone::{self, last_chars};

/// How much of spark-submit's output is read for a failure's reason.
const TAIL: u64 = 64 * 1024;
const SHOWN_TAIL: usize = 2048;

/// Replaces a failed spark-submit's reason (`exit code 1`) with what
/// failed (`RuntimeError: ... (exit code 1)`), and shows both tails.
pub async fn explain(dir: &JobDir, report: &mut StatusReport) {
    if !matches!(report.status, JobStatus::Failed | JobStatus::DoneWithError) {
        return;
    }
    let dir = dir.clone();
    let tails = blocking(move || Ok([tail(&dir, layout::STDOUT), tail(&dir, layout::STDERR)])).await;
    let Ok([stdout, stderr]) = tails else { return };
    if let Some(summary) = diagnose::summarize(&[&stdout, &stderr]) {
        let was = report.info.get("reason").and_then(|r| r.as_str()).unwrap_or("spark-submit failed").to_owned();
        report.info.insert("reason".into(), json!(format!("{summary} ({was})")));
    }
    for (key, text) in [("stdout_tail", &stdout), ("stderr_tail", &stderr)] {
        if !text.trim().is_empty() {
            report.info.insert(key.into(), json!(last_chars(text, SHOWN_TAIL)));
        }
    }
}

/// The last [`TAIL`] bytes of one of the job's streams, as text.
pub fn tail(dir: &JobDir, stream: &str) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = File::open(dir.file(stream))?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_default()
}

/// The driver spark-submit named, if it did yet.
pub async fn submitted_driver(dir: &JobDir) -> Option<String> {
    let dir = dir.clone();
    // The id is in the first lines; the whole output of a submission is small.
    let text = blocking(move || Ok(format!("{}\n{}", tail(&dir, layout::STDERR), tail(&dir, layout::STDOUT)))).await;
    text.ok().and_then(|t| standalone::find_driver_id(&t))
}

/// What a standalone-cluster job is while no driver is known: spark-submit
/// still at work, or ended without naming one.
pub fn without_driver(observed: StatusReport) -> StatusReport {
    match observed.status {
        JobStatus::Running => {
            let mut report = StatusReport::new(JobStatus::Prep);
            report.info = observed.info;
            report.info.insert("phase".into(), json!("spark-submit is submitting the driver"));
            report
        }
        JobStatus::Succeeded => {
            let mut report = observed.with_reason("spark-submit exited without naming the driver it submitted");
            report.status = JobStatus::Failed;
            report
        }
        _ => observed,
    }
}

pub const SUBMIT_STREAMS: [&str; 2] = ["spark-submit.stdout", "spark-submit.stderr"];

/// A chunk of spark-submit's own output, under the stream name `shown`.
pub async fn read_log(
    dir: &JobDir,
    stream: &str,
    shown: &str,
    offset: u64,
    limit: u64,
    all: &[&str],
) -> Result<LogChunk> {
    let dir = dir.clone();
    let stream = stream.to_owned();
    let mut chunk = blocking(move || logs::read(&dir, Some(&stream), offset, limit)).await?;
    chunk.stream = shown.to_owned();
    chunk.streams = all.iter().map(|s| (*s).to_owned()).collect();
    Ok(chunk)
}
