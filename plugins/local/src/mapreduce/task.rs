//! One attempt of a map or reduce task: the user's process, what feeds it,
//! what it writes, and where that goes.
//!
//! A map attempt runs the mapper with the split on its stdin (a feeder
//! thread; file to pipe by splice) and reads its stdout into the sort
//! buffer, spilling a sorted run whenever the buffer is full and once at the
//! end. A reduce attempt merges its partition's segments of every map output
//! (in passes when there are more than the fan-in) and streams the merge
//! into the reducer, whose stdout is the part file itself. With a combiner,
//! both a spill and the stream into the reducer go through it in batches
//! (`combine`), so neither expands counted records into one line each.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};

use super::collect::Collector;
use super::combine::{Combiner, Context, Side, Sink};
use super::input;
use super::run::{Merger, RunFile, RunWriter, Segment, SegmentReader, merge_to_file};
use super::runner::{Job, Phase};
use super::sys;

pub(super) const PIPE_SIZE: i32 = 1 << 20;

/// Why an attempt did not succeed.
#[derive(Debug)]
pub enum AttemptError {
    /// The attempt failed (retried while attempts remain).
    Failed(String),
    /// The job is being stopped; not the attempt's fault.
    Aborted,
}

impl From<io::Error> for AttemptError {
    fn from(e: io::Error) -> Self {
        AttemptError::Failed(e.to_string())
    }
}

/// What a successful map attempt produced.
#[derive(Debug, Default)]
pub struct MapOutput {
    pub runs: Vec<RunFile>,
    pub records: u64,
    pub bytes: u64,
    pub input_bytes: u64,
}

/// Which map attempt a spill belongs to.
struct Attempt<'a> {
    task: usize,
    attempt: u32,
    dir: &'a Path,
    stderr: &'a Path,
}

/// A worker's reusable memory: its sort buffer and its combiner's buffers.
#[derive(Default)]
pub struct Buffers {
    collector: Option<Collector>,
    combiner: Option<Combiner>,
}

pub(super) fn exit_text(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{status}"),
    }
}

/// A fresh stderr file for one process of an attempt.
fn stderr_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Reads lines from `source` (the last one may lack its `\n`) and hands
/// them to `f` in batches, without their `\n`. Stops early (Ok) when the
/// job aborts.
pub(super) fn read_lines(
    job: &Job,
    mut source: impl Read,
    buf: &mut Vec<u8>,
    mut f: impl FnMut(&[&[u8]]) -> io::Result<()>,
) -> io::Result<()> {
    const BATCH: usize = 64;
    if buf.len() < 1 << 20 {
        buf.resize(1 << 20, 0);
    }
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            // A line longer than the buffer.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let scan = filled;
        filled += n;
        let mut start = 0;
        let mut batch: [&[u8]; BATCH] = [&[]; BATCH];
        let mut len = 0;
        for nl in memchr::memchr_iter(b'\n', &buf[scan..filled]) {
            let end = scan + nl;
            batch[len] = &buf[start..end];
            len += 1;
            start = end + 1;
            if len == BATCH {
                f(&batch)?;
                len = 0;
            }
        }
        if len > 0 {
            f(&batch[..len])?;
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if job.aborted() {
            return Ok(());
        }
    }
    if filled > 0 {
        f(&[&buf[..filled]])?;
    }
    Ok(())
}

/// Runs map task `task`, attempt `attempt`.
pub fn map_attempt(job: &Job, task: usize, attempt: u32, buffers: &mut Buffers) -> Result<MapOutput, AttemptError> {
    let split = &job.splits[task];
    let file = &job.files[split.file];
    let name = format!("m-{task:05}_{attempt}");
    let stderr_path = job.tasks_dir.join(format!("{name}.stderr"));
    let dir = job.spill_dir.join(&name);
    fs::create_dir_all(&dir)?;
    let env = job.task_env(Phase::Map, task, attempt, Some(file.path.as_path()), Some(split));
    let map_only = job.spec.reduces == 0;
    let stdout = if map_only {
        Stdio::from(File::create(job.attempt_output(Phase::Map, task, attempt)?)?)
    } else {
        Stdio::piped()
    };
    let mut child = job.spawn(&job.mapper, &env, Stdio::piped(), stdout, &stderr_path)?;
    let stdin = child.stdin.take().expect("piped stdin");
    sys::grow_pipe(&stdin, PIPE_SIZE);
    let stdout = child.stdout.take();
    if let Some(out) = &stdout {
        sys::grow_pipe(out, PIPE_SIZE);
    }
    let mut output = MapOutput::default();
    let (collected, fed) = std::thread::scope(|s| {
        let feeder = std::thread::Builder::new()
            .name("edp-mr-feed".into())
            .spawn_scoped(s, move || {
                let mut stdin = stdin;
                input::feed(file, split, &mut stdin)
            })
            .expect("a feeder thread");
        let collected = match stdout {
            Some(stdout) => collect(job, task, attempt, stdout, buffers, &dir, &mut output),
            None => Ok(()),
        };
        if collected.is_err() {
            // The mapper may be blocked writing to us: end it, so the
            // feeder (writing to it) ends too.
            job.kill_child(&child);
        }
        (collected, feeder.join())
    });
    let status = job.reap(&mut child)?;
    if job.aborted() {
        return Err(AttemptError::Aborted);
    }
    collected?;
    match fed {
        Ok(Ok(fed)) => output.input_bytes = fed.bytes,
        Ok(Err(e)) => return Err(AttemptError::Failed(format!("reading the input split: {e}"))),
        Err(_) => return Err(AttemptError::Failed("the input feeder panicked".into())),
    }
    if !status.success() {
        return Err(AttemptError::Failed(format!("the mapper ended with {}", exit_text(status))));
    }
    if map_only {
        output.bytes = fs::metadata(job.attempt_output(Phase::Map, task, attempt)?)?.len();
        return Ok(output);
    }
    let collector = buffers.collector.as_mut().expect("created by collect");
    if !collector.is_empty() || output.runs.is_empty() {
        let at = Attempt { task, attempt, dir: &dir, stderr: &stderr_path };
        let run = spill(job, &at, collector, &mut buffers.combiner, output.runs.len())?;
        output.runs.push(run);
    }
    Ok(output)
}

fn collect(
    job: &Job,
    task: usize,
    attempt: u32,
    stdout: ChildStdout,
    buffers: &mut Buffers,
    dir: &Path,
    output: &mut MapOutput,
) -> io::Result<()> {
    let budget = job.sort_budget();
    let collector = buffers.collector.get_or_insert_with(|| Collector::new(budget, job.spec.reduces));
    collector.clear();
    let stderr_path = job.tasks_dir.join(format!("m-{task:05}_{attempt}.stderr"));
    let mut buf = Vec::new();
    let combiner = &mut buffers.combiner;
    read_lines(job, stdout, &mut buf, |lines| {
        output.records += lines.len() as u64;
        output.bytes += lines.iter().map(|l| l.len() as u64 + 1).sum::<u64>();
        let mut lines = lines;
        loop {
            let taken = collector.insert_many(lines);
            if taken == lines.len() {
                return Ok(());
            }
            lines = &lines[taken..];
            let (used, records, keys) = (collector.used(), collector.records, collector.keys());
            let at = Attempt { task, attempt, dir, stderr: &stderr_path };
            let run = spill(job, &at, collector, combiner, output.runs.len())?;
            job.log(&format!(
                "map {task} attempt {attempt}: spill {}: {records} records, {keys} keys, {:.1} MiB in memory -> {:.1} MiB on disk",
                output.runs.len(),
                used as f64 / 1048576.0,
                run.bytes as f64 / 1048576.0
            ));
            job.update(|s| s.spills += 1);
            output.runs.push(run);
        }
    })
}

/// Sorts the buffer and writes it (through the combiner, if any) as run
/// number `index`; clears the buffer.
fn spill(
    job: &Job,
    at: &Attempt<'_>,
    collector: &mut Collector,
    combiner: &mut Option<Combiner>,
    index: usize,
) -> io::Result<RunFile> {
    collector.sort();
    let mut out = RunWriter::create(&at.dir.join(format!("spill-{index:04}.run")))?;
    match &job.combiner {
        None => collector.write_all(&mut out)?,
        Some(argv) => {
            let combiner = combiner.get_or_insert_with(Combiner::default);
            combiner.clear();
            let cx = Context {
                job,
                argv,
                env: job.task_env(Phase::Map, at.task, at.attempt, None, None),
                stderr: at.stderr,
                side: Side::Map,
            };
            let budget = job.combine_budget();
            for (part, range) in collector.partitions() {
                out.begin_segment(part);
                let mut sink = RunSink { out: &mut out, key: Vec::new(), open: false };
                for pos in range {
                    let key = collector.key_at(pos);
                    // A key with one counted value is not combined here
                    // (see `Side::Map`): straight to the run, unless a
                    // batch before it is still to be written.
                    if combiner.is_empty()
                        && let Some((count, value)) = collector.single_value(pos)
                    {
                        sink.record(key, u64::from(count), value)?;
                        continue;
                    }
                    collector.values_at(pos, |count, value| {
                        combiner.push(key, u64::from(count), value);
                        if combiner.size() >= budget {
                            combiner.flush(&cx, &mut sink)?;
                        }
                        Ok(())
                    })?;
                }
                combiner.flush(&cx, &mut sink)?;
                out.end_segment()?;
            }
            count_combined(job, combiner);
        }
    }
    let run = out.finish()?;
    collector.clear();
    job.update(|s| {
        s.runs += 1;
        s.spilled_bytes += run.bytes;
    });
    Ok(run)
}

fn count_combined(job: &Job, combiner: &mut Combiner) {
    let (input, output) = combiner.take_counts();
    if input > 0 || output > 0 {
        job.update(|s| {
            s.combine_input_records += input;
            s.combine_output_records += output;
        });
    }
}

/// Combined records into a run's segment: one group per key, even when a
/// key's records came in two batches.
struct RunSink<'a> {
    out: &'a mut RunWriter,
    key: Vec<u8>,
    open: bool,
}

impl Sink for RunSink<'_> {
    fn record(&mut self, key: &[u8], count: u64, value: &[u8]) -> io::Result<()> {
        if !self.open || self.key != key {
            self.out.begin_group(key)?;
            self.key.clear();
            self.key.extend_from_slice(key);
            self.open = true;
        }
        let mut left = count;
        while left > 0 {
            let n = left.min(u64::from(u32::MAX));
            self.out.value(n as u32, value)?;
            left -= n;
        }
        Ok(())
    }
}

/// Records into the reducer's stdin, one line per occurrence.
struct LineSink<W: Write> {
    out: Vec<u8>,
    stdin: W,
    records: u64,
}

impl<W: Write> LineSink<W> {
    fn new(stdin: W) -> Self {
        Self { out: Vec::with_capacity((1 << 20) + 4096), stdin, records: 0 }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.stdin.write_all(&self.out)?;
        self.out.clear();
        self.stdin.flush()
    }
}

impl<W: Write> Sink for LineSink<W> {
    #[inline]
    fn record(&mut self, key: &[u8], count: u64, value: &[u8]) -> io::Result<()> {
        self.records += count;
        for _ in 0..count {
            self.out.extend_from_slice(key);
            self.out.extend_from_slice(value);
            self.out.push(b'\n');
            if self.out.len() >= 1 << 20 {
                self.stdin.write_all(&self.out)?;
                self.out.clear();
            }
        }
        Ok(())
    }
}

/// Runs reduce task `part`, attempt `attempt`, over `inputs` (its segments
/// of every map output, in map order). Returns the records it fed.
pub fn reduce_attempt(
    job: &Job,
    part: u32,
    attempt: u32,
    inputs: Vec<(PathBuf, Segment)>,
    buffers: &mut Buffers,
) -> Result<u64, AttemptError> {
    let name = format!("r-{part:05}_{attempt}");
    let stderr_path = job.tasks_dir.join(format!("{name}.stderr"));
    let dir = job.spill_dir.join(&name);
    fs::create_dir_all(&dir)?;
    let inputs = merge_passes(job, part, inputs, &dir)?;
    let readers = inputs.iter().map(|(path, seg)| SegmentReader::open(path, seg)).collect::<io::Result<Vec<_>>>()?;
    let mut merger = Merger::new(readers)?;
    let output = job.attempt_output(Phase::Reduce, part as usize, attempt)?;
    let env = job.task_env(Phase::Reduce, part as usize, attempt, None, None);
    let mut child = job.spawn(&job.reducer, &env, Stdio::piped(), Stdio::from(File::create(&output)?), &stderr_path)?;
    let stdin = child.stdin.take().expect("piped stdin");
    sys::grow_pipe(&stdin, PIPE_SIZE);
    let fed = match &job.combiner {
        None => feed_reducer(job, &mut merger, stdin),
        Some(argv) => {
            let combiner = buffers.combiner.get_or_insert_with(Combiner::default);
            combiner.clear();
            let cx = Context { job, argv, env, stderr: &stderr_path, side: Side::Reduce };
            feed_reducer_combined(&cx, &mut merger, combiner, stdin)
        }
    };
    if fed.is_err() {
        job.kill_child(&child);
    }
    let status = job.reap(&mut child)?;
    drop(merger);
    let _ = fs::remove_dir_all(&dir);
    if job.aborted() {
        return Err(AttemptError::Aborted);
    }
    let records = fed.map_err(|e| AttemptError::Failed(format!("merging the map output: {e}")))?;
    if !status.success() {
        return Err(AttemptError::Failed(format!("the reducer ended with {}", exit_text(status))));
    }
    if let Some(combiner) = &mut buffers.combiner {
        count_combined(job, combiner);
    }
    Ok(records)
}

/// Merges runs until at most the fan-in are left, consecutive ones
/// together (so equal keys keep map order), as few as that takes.
fn merge_passes(
    job: &Job,
    part: u32,
    mut inputs: Vec<(PathBuf, Segment)>,
    dir: &Path,
) -> Result<Vec<(PathBuf, Segment)>, AttemptError> {
    let fan_in = (job.spec.sort_factor as usize).max(2);
    let mut pass = 0;
    while inputs.len() > fan_in {
        let n = inputs.len();
        let mut excess = n - fan_in;
        let mut next = Vec::with_capacity(fan_in);
        let mut i = 0;
        while i < n {
            let k = (excess + 1).min(fan_in).min(n - i);
            if k <= 1 {
                next.push(inputs[i].clone());
                i += 1;
                continue;
            }
            if job.aborted() {
                return Err(AttemptError::Aborted);
            }
            let path = dir.join(format!("merge-{pass}-{i}.run"));
            let run = merge_to_file(&inputs[i..i + k], part, &path)?;
            for (old, _) in &inputs[i..i + k] {
                if old.starts_with(dir) {
                    let _ = fs::remove_file(old);
                }
            }
            job.update(|s| s.merge_passes += 1);
            next.push((run.path, run.segments[0]));
            excess -= k - 1;
            i += k;
        }
        inputs = next;
        pass += 1;
    }
    Ok(inputs)
}

/// The merge into the reducer through the combiner, in batches of keys:
/// what the reducer gets for a key is what the combiner made of its
/// repeated values, never one line per occurrence of them.
fn feed_reducer_combined(
    cx: &Context<'_>,
    merger: &mut Merger,
    combiner: &mut Combiner,
    stdin: impl Write,
) -> io::Result<u64> {
    let budget = cx.job.combine_budget();
    let mut sink = LineSink::new(stdin);
    let mut value = Vec::new();
    let result = (|| {
        while let Some(i) = merger.pop() {
            let reader = &mut merger.readers[i];
            while let Some(count) = reader.next_value(&mut value)? {
                combiner.push(&reader.key, u64::from(count), &value);
                if combiner.size() >= budget {
                    combiner.flush(cx, &mut sink)?;
                }
            }
            merger.advance(i)?;
        }
        combiner.flush(cx, &mut sink)?;
        sink.finish()
    })();
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(sink.records),
        Err(e) => Err(e),
        Ok(()) => Ok(sink.records),
    }
}

fn feed_reducer(job: &Job, merger: &mut Merger, mut stdin: impl Write) -> io::Result<u64> {
    let mut out = Vec::with_capacity((1 << 20) + 4096);
    let mut value = Vec::new();
    let mut records = 0u64;
    let mut groups = 0u32;
    let result = (|| {
        while let Some(i) = merger.pop() {
            let reader = &mut merger.readers[i];
            while let Some(count) = reader.next_value(&mut value)? {
                records += u64::from(count);
                for _ in 0..count {
                    out.extend_from_slice(&reader.key);
                    out.extend_from_slice(&value);
                    out.push(b'\n');
                    if out.len() >= 1 << 20 {
                        stdin.write_all(&out)?;
                        out.clear();
                    }
                }
            }
            merger.advance(i)?;
            groups = groups.wrapping_add(1);
            if groups.is_multiple_of(4096) && job.aborted() {
                return Err(io::Error::other("aborted"));
            }
        }
        stdin.write_all(&out)?;
        stdin.flush()
    })();
    match result {
        // The reducer stopped reading: its exit status decides.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(records),
        Err(e) => Err(e),
        Ok(()) => Ok(records),
    }
}

/// The spawn of a user's command, with its stderr appended to `stderr`.
pub fn spawn(
    argv: &[String],
    env: &[(String, String)],
    cwd: &Path,
    stdin: Stdio,
    stdout: Stdio,
    stderr: &Path,
) -> io::Result<Child> {
    let err = stderr_file(stderr)?;
    let (program, args) = argv.split_first().expect("argv is never empty");
    std::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| {
            let message = format!("cannot start `{program}`: {e}");
            if let Ok(mut f) = stderr_file(stderr) {
                let _ = writeln!(f, "edp-mapreduce: {message}");
            }
            io::Error::new(e.kind(), message)
        })
}
