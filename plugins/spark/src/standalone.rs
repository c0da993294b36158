//! Drivers on a standalone master: submitting through its REST server
//! (at most once per execution), their status, killing them, their logs.
//! Used for REST submissions and for the drivers spark-submit submits in
//! standalone cluster mode.
//!
//! A REST submission is recorded in the job directory: `submitting` is
//! written before the request goes out and `submission.json` (request,
//! driver id) once the master accepted it, all under `submit.lock`. A
//! launch that finds `submitting` without `submission.json` (edpd died, or
//! the answer never came) looks for the driver before submitting again:
//! every driver carries `spark.edp.execution_id`, which its worker passes
//! as `-Dspark.edp.execution_id=<id>` on the driver's command line, the
//! first line of its stderr.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use edp_engine_api::plugin::{Error, Result, blocking};
use edp_engine_api::wire::{JobStatus, LogChunk, StatusReport, Watch};
use edp_supervised::JobDir;
use edp_supervised::layout::{now_ms, write_atomic};
use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;
use serde_json::{Value, json};

use crate::cluster::ClusterConfig;
use crate::diagnose;
use crate::plan::{EXECUTION_ID_PROPERTY, SUBMISSION, SUBMIT_LOCK, SUBMITTING};
use crate::rest::{DriverStatus, Http, Kill, Master};

pub const STREAMS: [&str; 2] = ["stdout", "stderr"];
/// How much of a failed driver's output is read for its reason.
const TAIL: u64 = 64 * 1024;
/// How much of it the report shows.
const SHOWN_TAIL: usize = 2048;
/// How long a cancel waits for the master to confirm the kill.
const KILL_CONFIRM: Duration = Duration::from_secs(15);
/// How long an unfinished earlier submission is looked for among drivers
/// still waiting for a worker, before it is taken as never made.
const UNDECIDED_FOR: u64 = 10 * 60 * 1000;

/// The driver's state as edp reports it. `cancel_requested` tells a kill
/// edp asked for (KILLED) from one it did not (FAILED).
pub fn map_state(driver: &DriverStatus, cancel_requested: bool) -> StatusReport {
    let (status, reason) = match driver.state.as_str() {
        "SUBMITTED" => (JobStatus::Prep, None),
        "RUNNING" => (JobStatus::Running, None),
        // Relaunched under spark.driver.supervise; still the same job.
        "RELAUNCHING" => (JobStatus::Running, None),
        // The master lost the driver's worker and does not know yet.
        "UNKNOWN" => (JobStatus::Running, None),
        "FINISHED" => (JobStatus::Succeeded, None),
        "FAILED" => (JobStatus::Failed, Some("the driver failed".to_owned())),
        "KILLED" if cancel_requested => (JobStatus::Killed, Some("cancelled".to_owned())),
        "KILLED" => (JobStatus::Failed, Some("the driver was killed outside edp".to_owned())),
        "ERROR" => {
            let message = driver.message.as_deref().unwrap_or("no message");
            let message = message.strip_prefix("Exception from the cluster:").unwrap_or(message).trim();
            let first = message.lines().next().unwrap_or("").trim();
            (JobStatus::Failed, Some(format!("the driver could not be launched: {first}")))
        }
        // A state of a later Spark: not an end edp knows of.
        _ => (JobStatus::Running, None),
    };
    // A driver runs on a worker: nothing on edpd's host sees it end, so no
    // hint tells of it, whether spark-submit or REST submitted it.
    let mut report = StatusReport { watch: Watch::Polled, ..StatusReport::new(status) };
    if status == JobStatus::Succeeded {
        report.return_code = Some(0);
    }
    if let Some(reason) = reason {
        report = report.with_reason(reason);
    }
    report.info.insert("driver_state".into(), json!(driver.state));
    for (key, value) in
        [("worker_id", &driver.worker_id), ("worker_host_port", &driver.worker_host_port), ("message", &driver.message)]
    {
        if let Some(value) = value {
            report.info.insert(key.into(), json!(value));
        }
    }
    report
}

/// A driver the engine follows, as its handle tells it.
pub struct Driver<'a> {
    pub cluster: &'a ClusterConfig,
    pub id: &'a str,
    /// The web UI of its worker, once known.
    pub worker_ui: Option<String>,
    pub cancel_requested: bool,
}

impl Driver<'_> {
    /// Its status; a failed driver's reason is read from its output. The
    /// second value is its worker's web UI when this call learnt it.
    pub async fn report(&self, http: &Http) -> Result<(StatusReport, Option<String>)> {
        let master = http.master(self.cluster)?;
        let status = master.status(self.id).await?;
        let mut report = map_state(&status, self.cancel_requested);
        report.info.insert("driver_id".into(), json!(self.id));
        let mut learnt = None;
        if status.state == "FAILED" {
            let ui = match (&self.worker_ui, &status.worker_id) {
                (Some(ui), _) => Some(ui.clone()),
                (None, Some(worker)) => master.worker_ui(worker).await.ok().flatten(),
                (None, None) => None,
            };
            if let Some(ui) = &ui {
                explain_failure(http, ui, self.id, &mut report).await;
                if self.worker_ui.is_none() {
                    learnt = Some(ui.clone());
                }
            }
        }
        Ok((report, learnt))
    }

    /// Asks the master to kill the driver, then reads its status until it
    /// ended (or [`KILL_CONFIRM`] passed).
    pub async fn kill(&self, http: &Http) -> Result<StatusReport> {
        let master = http.master(self.cluster)?;
        let refused = match master.kill(self.id).await? {
            Kill::Submitted => None,
            // Already ended (or unknown): the status says which.
            Kill::Refused(message) => Some(message),
        };
        let deadline = Instant::now() + KILL_CONFIRM;
        loop {
            let (mut report, _) = self.report(http).await?;
            if report.status.is_terminal() || Instant::now() >= deadline {
                if let Some(message) = refused {
                    report.info.insert("kill_message".into(), json!(message));
                }
                return Ok(report);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A chunk of the driver's `stdout` or `stderr`, from its worker.
    pub async fn logs(&self, http: &Http, stream: &str, offset: u64, limit: u64) -> Result<(LogChunk, Option<String>)> {
        if !STREAMS.contains(&stream) {
            return Err(Error::invalid_input(format!("no log stream `{stream}`; there are {}", STREAMS.join(", "))));
        }
        let master = http.master(self.cluster)?;
        let status = master.status(self.id).await?;
        let ended = matches!(status.state.as_str(), "FINISHED" | "FAILED" | "KILLED" | "ERROR");
        let ui = match (&self.worker_ui, &status.worker_id) {
            (Some(ui), _) => Some(ui.clone()),
            (None, Some(worker)) => master.worker_ui(worker).await?,
            (None, None) => None,
        };
        let learnt = if self.worker_ui.is_none() { ui.clone() } else { None };
        let empty = |complete| LogChunk {
            stream: stream.to_owned(),
            streams: STREAMS.iter().map(|s| (*s).to_owned()).collect(),
            offset,
            next_offset: offset,
            data: String::new(),
            complete,
        };
        // Not on a worker yet (SUBMITTED), or launched nowhere (ERROR).
        let Some(ui) = ui else { return Ok((empty(ended), learnt)) };
        let limit = limit.clamp(1, 1 << 20);
        let Some(page) = http.worker_log(&ui, self.id, stream, Some(offset), limit).await? else {
            // The worker has no directory for it (cleaned up, or never ran).
            return Ok((empty(ended), learnt));
        };
        let mut data = page.data;
        let at_end = page.start + data.len() as u64 >= page.total;
        if !(ended && at_end) {
            data.truncate(char_boundary(&data));
        }
        let next_offset = page.start + data.len() as u64;
        let chunk = LogChunk {
            stream: stream.to_owned(),
            streams: STREAMS.iter().map(|s| (*s).to_owned()).collect(),
            offset: page.start,
            next_offset,
            data: String::from_utf8_lossy(&data).into_owned(),
            complete: ended && next_offset >= page.total,
        };
        Ok((chunk, learnt))
    }
}

/// Sets a failed driver's reason from the tails of its output (the
/// status has neither reason nor exit code, pitfall P9).
async fn explain_failure(http: &Http, worker_ui: &str, driver_id: &str, report: &mut StatusReport) {
    let mut tails = Vec::new();
    for stream in STREAMS {
        let tail = match http.worker_log(worker_ui, driver_id, stream, None, TAIL).await {
            Ok(Some(page)) => String::from_utf8_lossy(&page.data).into_owned(),
            Ok(None) => String::new(),
            Err(e) => {
                tracing::debug!("cannot read the {stream} of driver {driver_id}: {e}");
                String::new()
            }
        };
        tails.push(tail);
    }
    if let Some(summary) = diagnose::summarize(&[&tails[0], &tails[1]]) {
        report.info.insert("reason".into(), json!(format!("the driver failed: {summary}")));
    }
    report.return_code = diagnose::python_exit_code(&tails[1]);
    for (stream, tail) in STREAMS.iter().zip(&tails) {
        if !tail.trim().is_empty() {
            report.info.insert(format!("{stream}_tail"), json!(last_chars(tail, SHOWN_TAIL)));
        }
    }
}

pub fn last_chars(text: &str, max: usize) -> String {
    let text = text.trim_end();
    let start = text.len().saturating_sub(max);
    let start = (start..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
    text[start..].to_owned()
}

/// The length of `bytes` without a multi-byte character cut short at the end.
pub fn char_boundary(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let width = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        return if width > back { len - back } else { len };
    }
    len
}

/// Submits the job's REST request unless it was submitted before; the
/// driver id. `body` is the exact request (what a dry run shows); `stage`
/// puts the job's files in place first (under the lock, and only while
/// nothing was submitted, so never under a running driver).
pub async fn submit_once(
    http: &Http,
    cluster: &ClusterConfig,
    dir: &JobDir,
    execution_id: &str,
    body: &Value,
    stage: impl FnOnce() -> Result<()> + Send + 'static,
) -> Result<String> {
    let lock_dir = dir.clone();
    let _lock = blocking(move || {
        fs::create_dir_all(lock_dir.path()).map_err(|e| io_error(lock_dir.path(), e))?;
        lock(&lock_dir)
    })
    .await?;
    if let Some(driver) = recorded(dir)? {
        return Ok(driver);
    }
    let master = http.master(cluster)?;
    if let Some(at_ms) = intent(dir)? {
        match find_submitted(http, &master, execution_id, at_ms).await? {
            Found::Driver(id) => {
                record(dir, body, &id, "found on the master after an unfinished submission")?;
                return Ok(id);
            }
            Found::Undecided => {
                return Err(Error::transient(
                    "an earlier submission of this job may have reached the master (a driver is still waiting for a \
                     worker): not submitting again until that is known",
                ));
            }
            Found::Nothing => {}
        }
    }
    blocking(stage).await?;
    write_atomic(dir.path(), SUBMITTING, json!({"at_ms": now_ms()}).to_string().as_bytes())
        .map_err(|e| io_error(&dir.file(SUBMITTING), e))?;
    match master.create(body).await {
        Ok(id) => {
            record(dir, body, &id, "submitted")?;
            Ok(id)
        }
        Err(e) => {
            // A refusal, or no connection at all: nothing was submitted.
            // Otherwise (a timeout, say) the next launch looks first.
            if !e.message.contains("timed out") && !e.message.contains("no answer") {
                let _ = fs::remove_file(dir.file(SUBMITTING));
            }
            Err(e)
        }
    }
}

/// The driver an earlier `submit_once` of this job created, looked up
/// without submitting anything: the recorded one, else (after a submission
/// whose answer was lost) the one on the master carrying the execution id.
pub async fn find_submitted_driver(
    http: &Http,
    cluster: &ClusterConfig,
    dir: &JobDir,
    execution_id: &str,
) -> Result<Option<String>> {
    if !dir.path().exists() {
        return Ok(None);
    }
    let lock_dir = dir.clone();
    let _lock = blocking(move || lock(&lock_dir)).await?;
    if let Some(driver) = recorded(dir)? {
        return Ok(Some(driver));
    }
    let Some(at_ms) = intent(dir)? else { return Ok(None) };
    match find_submitted(http, &http.master(cluster)?, execution_id, at_ms).await? {
        Found::Driver(id) => Ok(Some(id)),
        Found::Nothing => Ok(None),
        Found::Undecided => Err(Error::transient(
            "a submission of this job may have reached the master (a driver is still waiting for a worker): \
             cannot tell yet",
        )),
    }
}

enum Found {
    Driver(String),
    Undecided,
    Nothing,
}

/// Looks among the master's drivers started since `at_ms` (less a minute
/// for clocks) for the one carrying `execution_id`.
async fn find_submitted(http: &Http, master: &Master<'_>, execution_id: &str, at_ms: u64) -> Result<Found> {
    let (drivers, workers) = master.drivers().await.map_err(|e| {
        Error::transient(format!("cannot tell whether an earlier submission of this job reached the master: {e}"))
    })?;
    let marker = format!("-D{EXECUTION_ID_PROPERTY}={execution_id}\"");
    let mut undecided = false;
    for driver in drivers.iter().filter(|d| d.start_ms + 60_000 >= at_ms) {
        let ui = driver.worker_id.as_ref().and_then(|w| workers.iter().find(|(id, _)| id == w)).map(|(_, ui)| ui);
        let Some(ui) = ui else {
            undecided = true;
            continue;
        };
        match http.worker_log(ui, &driver.id, "stderr", Some(0), 64 * 1024).await? {
            Some(page) if String::from_utf8_lossy(&page.data).contains(&marker) => {
                return Ok(Found::Driver(driver.id.clone()));
            }
            Some(_) => {}
            None => undecided = true,
        }
    }
    if undecided && now_ms().saturating_sub(at_ms) < UNDECIDED_FOR {
        return Ok(Found::Undecided);
    }
    Ok(Found::Nothing)
}

fn record(dir: &JobDir, body: &Value, driver_id: &str, how: &str) -> Result<()> {
    let record = json!({"driver_id": driver_id, "request": body, "at_ms": now_ms(), "how": how});
    let bytes = serde_json::to_vec_pretty(&record).map_err(|e| Error::fatal(format!("{SUBMISSION}: {e}")))?;
    write_atomic(dir.path(), SUBMISSION, &bytes).map_err(|e| io_error(&dir.file(SUBMISSION), e))?;
    let _ = fs::remove_file(dir.file(SUBMITTING));
    Ok(())
}

/// The driver id of a recorded submission.
pub fn recorded(dir: &JobDir) -> Result<Option<String>> {
    match fs::read(dir.file(SUBMISSION)) {
        Ok(bytes) => {
            let record: Value = serde_json::from_slice(&bytes)
                .map_err(|e| Error::fatal(format!("`{}` is corrupt: {e}", dir.file(SUBMISSION).display())))?;
            Ok(record.get("driver_id").and_then(Value::as_str).map(str::to_owned))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&dir.file(SUBMISSION), e)),
    }
}

fn intent(dir: &JobDir) -> Result<Option<u64>> {
    match fs::read(dir.file(SUBMITTING)) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("at_ms").and_then(Value::as_u64))
                .unwrap_or(0),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&dir.file(SUBMITTING), e)),
    }
}

/// The job directory's submission lock, waited for a few seconds.
fn lock(dir: &JobDir) -> Result<File> {
    let path = dir.file(SUBMIT_LOCK);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io_error(&path, e))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(Errno::WOULDBLOCK) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(Errno::WOULDBLOCK) => {
                return Err(Error::transient(format!("job directory `{}` is busy submitting", dir.path().display())));
            }
            Err(e) => return Err(io_error(&path, e.into())),
        }
    }
}

pub fn io_error(path: &Path, e: io::Error) -> Error {
    Error::fatal(format!("`{}`: {e}", path.display()))
}

/// The first driver id (`driver-<yyyyMMddHHmmss>-<n>`) in spark-submit's
/// output: the legacy client logs `Driver successfully submitted as ...`,
/// the REST client `Submission successfully created as ...`.
pub fn find_driver_id(text: &str) -> Option<String> {
    for (at, _) in text.match_indices("driver-") {
        if text[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let rest = &text[at + "driver-".len()..];
        let date: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Some(after) = rest[date.len()..].strip_prefix('-') else { continue };
        let n: String = after.chars().take_while(char::is_ascii_digit).collect();
        if date.len() >= 8 && !n.is_empty() {
            return Some(format!("driver-{date}-{n}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str) -> DriverStatus {
        DriverStatus { state: state.into(), message: None, worker_id: None, worker_host_port: None }
    }

    #[test]
    fn states() {
        let cases = [
            ("SUBMITTED", false, JobStatus::Prep),
            ("RUNNING", false, JobStatus::Running),
            ("RELAUNCHING", false, JobStatus::Running),
            ("UNKNOWN", false, JobStatus::Running),
            ("FINISHED", false, JobStatus::Succeeded),
            ("FAILED", true, JobStatus::Failed),
            ("KILLED", true, JobStatus::Killed),
            ("KILLED", false, JobStatus::Failed),
            ("ERROR", false, JobStatus::Failed),
        ];
        for (state, cancel, expected) in cases {
            let report = map_state(&status(state), cancel);
            assert_eq!(report.status, expected, "{state}");
            assert_eq!(report.info["driver_state"], state);
            assert_eq!(report.watch, Watch::Polled, "{state}: no hint tells of a driver's end");
        }
        let error = DriverStatus {
            message: Some("Exception from the cluster:\njava.nio.file.NoSuchFileException: /x.jar\n\tat a".into()),
            ..status("ERROR")
        };
        assert_eq!(
            map_state(&error, false).info["reason"],
            "the driver could not be launched: java.nio.file.NoSuchFileException: /x.jar"
        );
    }

    #[test]
    fn driver_ids_in_output() {
        let legacy = "26/11/23 INFO ClientEndpoint: Driver successfully submitted as driver-20261123060454-0000\n";
        assert_eq!(find_driver_id(legacy).as_deref(), Some("driver-20261123060454-0000"));
        assert_eq!(find_driver_id("no-driver-here driver-x"), None);
        assert_eq!(last_chars("héllo", 4), "llo");
        assert_eq!(char_boundary("é".as_bytes()), 2);
        assert_eq!(char_boundary(&"é".as_bytes()[..1]), 0);
    }
}
