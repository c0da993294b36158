//! Watching a job until it ends, for `monitor`, `submit --wait` and
//! `cancel --wait`. edpd is polled (GET /v2/jobs/{id}); the job's own
//! status is the truth, whatever the engine.
//!
//! For people: a line on stdout at each status change (and progress
//! change), so a log of the run stays in the scrollback; on a terminal, a
//! spinner with the elapsed time and a bar per progress stage on stderr.
//! With --json: nothing until the final job object.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::api::segment;
use crate::cmd::Ctx;
use crate::error::{Failure, Result};
use crate::output::{self, duration, elapsed, is_terminal, progress, status, text};

const FIRST_POLL: Duration = Duration::from_millis(250);
const MAX_POLL: Duration = Duration::from_secs(2);
/// A restarting edpd is waited for this long before giving up.
const UNREACHABLE_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The job has a final status.
    End,
    /// The job has a final status, or edpd gave up on a cancel (the job
    /// went back to its engine's status with `info.cancel_error`).
    CancelSettled,
}

impl Until {
    fn reached(self, job: &Value) -> bool {
        let st = status(job);
        match self {
            Self::End => is_terminal(&st),
            Self::CancelSettled => {
                is_terminal(&st) || (st != "TOBEKILLED" && job.pointer("/info/cancel_error").is_some())
            }
        }
    }
}

/// Polls until `until`; returns the last job seen.
pub async fn watch(ctx: &Ctx, id: &str, until: Until) -> Result<Value> {
    let path = format!("/v2/jobs/{}", segment(id));
    let mut view = View::new(id, ctx.json);
    let mut interval = FIRST_POLL;
    let mut unreachable_since: Option<Instant> = None;
    loop {
        let job = match ctx.api.get(&path, &[]).await {
            Ok(body) => {
                unreachable_since = None;
                body["job"].clone()
            }
            Err(e @ Failure::Unreachable { .. }) => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > UNREACHABLE_GRACE {
                    view.clear();
                    return Err(e);
                }
                view.say(&format!("edpd does not answer ({e}); still trying"));
                tokio::time::sleep(MAX_POLL).await;
                continue;
            }
            Err(e) => {
                view.clear();
                return Err(e);
            }
        };
        let changed = view.update(&job);
        if until.reached(&job) {
            view.finish(&job);
            return Ok(job);
        }
        interval = if changed { FIRST_POLL } else { (interval * 3 / 2).min(MAX_POLL) };
        tokio::time::sleep(interval).await;
    }
}

struct View {
    id: String,
    quiet: bool,
    last_status: String,
    last_progress: Option<String>,
    bars: Option<Bars>,
}

/// The terminal-only part.
struct Bars {
    multi: MultiProgress,
    spinner: ProgressBar,
    stages: BTreeMap<String, ProgressBar>,
}

impl View {
    fn new(id: &str, quiet: bool) -> Self {
        let bars = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::new();
            let spinner = multi.add(ProgressBar::new_spinner());
            spinner.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
            spinner.enable_steady_tick(Duration::from_millis(120));
            Bars { multi, spinner, stages: BTreeMap::new() }
        });
        Self { id: id.to_string(), quiet, last_status: String::new(), last_progress: None, bars }
    }

    /// Shows `job`; whether anything changed since the last call.
    fn update(&mut self, job: &Value) -> bool {
        if self.quiet {
            return false;
        }
        let st = status(job);
        let took = elapsed(job).map(duration).unwrap_or_default();
        let prog = progress(job);
        let status_changed = st != self.last_status;
        let progress_changed = prog != self.last_progress;
        // Without bars, new progress goes on the line, the status's own
        // when both changed at once.
        let progress_text = prog.as_deref().filter(|_| progress_changed && self.bars.is_none());
        if status_changed || progress_text.is_some() {
            let reason = job
                .pointer("/info/reason")
                .and_then(Value::as_str)
                .filter(|_| status_changed)
                .map(|r| format!("  {r}"))
                .unwrap_or_default();
            let progress_text = progress_text.map(|p| format!("  {p}")).unwrap_or_default();
            self.say(&format!("{}  {st:<11} {took}{progress_text}{reason}", clock()));
        }
        self.last_status = st.clone();
        self.last_progress = prog;
        let changed = status_changed || progress_changed;
        if let Some(bars) = &mut self.bars {
            bars.spinner.set_message(format!("{} {st}  elapsed {took}", short(&self.id)));
            bars.show_stages(job);
        }
        changed
    }

    fn finish(&mut self, job: &Value) {
        self.clear();
        if self.quiet {
            return;
        }
        let st = status(job);
        let took = elapsed(job).map(|s| format!(" after {}", duration(s))).unwrap_or_default();
        let rc = match job.get("return_code") {
            Some(Value::Number(n)) => format!(", return code {n}"),
            _ => String::new(),
        };
        println!("job {} {st}{took}{rc}", self.id);
        for key in ["reason", "cancel_error", "poll_error"] {
            if let Some(why) = job.pointer(&format!("/info/{key}")).and_then(Value::as_str) {
                println!("{}: {why}", key.replace('_', " "));
            }
        }
    }

    /// A line on stdout that does not tear the bars.
    fn say(&self, line: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(bars) => bars.multi.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }

    fn clear(&mut self) {
        if let Some(bars) = self.bars.take() {
            for bar in bars.stages.values() {
                bar.finish_and_clear();
            }
            bars.spinner.finish_and_clear();
        }
    }
}

impl Bars {
    fn show_stages(&mut self, job: &Value) {
        let Some(stages) = job.pointer("/info/progress/stages").and_then(Value::as_array) else { return };
        for stage in stages {
            let name = text(stage, "name");
            let bar = self.stages.entry(name.clone()).or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(0));
                bar.set_style(
                    ProgressStyle::with_template("  {prefix:>12} [{bar:30}] {pos}/{len}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(name);
                bar
            });
            bar.set_length(stage["total"].as_u64().unwrap_or(0));
            bar.set_position(stage["done"].as_u64().unwrap_or(0));
        }
    }
}

fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// The first block of a UUID: enough to tell jobs apart on one screen.
fn short(id: &str) -> &str {
    id.split('-').next().unwrap_or(id)
}

/// The exit code of a finished watch.
pub fn exit_code(job: &Value) -> i32 {
    output::outcome_code(&status(job))
}
