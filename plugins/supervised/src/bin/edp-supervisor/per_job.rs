//! `edp-supervisor <jobdir>`, a per-job supervisor (what spark-submit jobs
//! run under): starts the job described in `<jobdir>/job.json` in a process
//! group of its own, waits for it and records how it ended, so that jobs
//! outlive an edpd restart and their end is known even when nobody was
//! waiting.
//!
//! Its stdin is the job directory's lock, already taken by the launcher
//! (`edp_supervised::launch`); its stdout and stderr are the job's files,
//! which the job inherits, so output never passes through here. As a child
//! subreaper it reaps the job's orphans; once the exit is recorded it ends
//! what is left of the job's process group, then exits, freeing the lock.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use edp_supervised::layout::{self, ExitRecord, JobSpec};
use rustix::fs::{FlockOperation, flock};

pub fn main(dir: &Path) -> ExitCode {
    match supervise(dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edp-supervisor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn supervise(dir: &Path) -> io::Result<()> {
    let lock = take_lock(dir)?;

    // A job starts at most once: traces of an earlier supervisor mean a
    // duplicate launch, which leaves quietly.
    if dir.join(layout::JOB_PID).exists() || dir.join(layout::EXIT).exists() {
        return Ok(());
    }
    layout::write_atomic(dir, layout::SUPERVISOR_PID, std::process::id().to_string().as_bytes())?;

    let record = if dir.join(layout::CANCEL_REQUESTED).exists() {
        ExitRecord { error: Some("cancelled before the job started".into()), ..ExitRecord::default() }
    } else {
        run(dir)
    };
    let record = ExitRecord { ended_at_ms: layout::now_ms(), ..record };
    let json = serde_json::to_vec(&record).map_err(io::Error::other)?;
    layout::write_atomic(dir, layout::EXIT, &json)?;
    // The job has ended; what it left behind in its group goes too, as a
    // batch system ends a finished container, and is reaped here.
    if let Ok(pgid) = fs::read_to_string(dir.join(layout::JOB_PID)) {
        end_leftovers(pgid.trim().parse().unwrap_or(0));
    }
    reap_orphans();
    drop(lock);
    Ok(())
}

fn run(dir: &Path) -> ExitRecord {
    // Orphans of the job (a `sleep` whose shell was killed) become our
    // children rather than init's: we reap them at once, so a cancelled
    // job's process group empties at once. Init may reap only now and then.
    if let Err(e) = rustix::process::set_child_subreaper(Some(rustix::process::getpid())) {
        eprintln!("edp-supervisor: cannot become a subreaper ({e}); orphans go to init");
    }
    let spec = match read_spec(dir) {
        Ok(spec) => spec,
        Err(e) => return failure(None, format!("cannot read {}: {e}", layout::JOB_SPEC)),
    };
    let Some((program, args)) = spec.argv.split_first() else {
        return failure(None, format!("{} has an empty argv", layout::JOB_SPEC));
    };
    // Its own group (pgid = its pid), apart from ours, so that a cancel can
    // signal the job and everything it started, and nothing else.
    let spawned = Command::new(program)
        .args(args)
        .envs(&spec.env)
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return failure(Some(127), format!("cannot start `{program}`: {e}")),
    };
    if let Err(e) = layout::write_atomic(dir, layout::JOB_PID, child.id().to_string().as_bytes()) {
        // Without job.pid nobody could cancel the job: do not let it run.
        let _ = child.kill();
        let _ = child.wait();
        return failure(None, format!("cannot write {}: {e}", layout::JOB_PID));
    }
    wait_for_leader(child.id())
}

/// Reaps children, orphans included, until the job's own process ends.
fn wait_for_leader(leader: u32) -> ExitRecord {
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_nonzero().get() as u32 == leader => {
                return ExitRecord {
                    code: status.exit_status(),
                    signal: status.terminating_signal(),
                    ..ExitRecord::default()
                };
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return failure(None, format!("cannot wait for the job: {e}")),
        }
    }
}

/// How long leftovers of a finished job get between SIGTERM and SIGKILL.
const LEFTOVER_GRACE: Duration = Duration::from_secs(5);

/// SIGTERM to what is left of the job's process group, SIGKILL to what
/// survives the grace period; reaping as they go.
fn end_leftovers(pgid: i32) {
    use rustix::process::{Pid, Signal, WaitOptions, kill_process_group};
    let Some(group) = Pid::from_raw(pgid).filter(|_| pgid > 1) else { return };
    if kill_process_group(group, Signal::TERM).is_err() {
        return;
    }
    let deadline = Instant::now() + LEFTOVER_GRACE;
    while Instant::now() < deadline {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some(_)) => continue,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => return,
        }
        if rustix::process::test_kill_process_group(group).is_err() {
            return;
        }
    }
    let _ = kill_process_group(group, Signal::KILL);
}

/// Waits for whatever the job left running, so none of it becomes a zombie
/// nobody reaps. Returns when we have no children left.
fn reap_orphans() {
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some(_)) | Err(rustix::io::Errno::INTR) => {}
            Ok(None) | Err(_) => return,
        }
    }
}

/// The job directory's lock, held until we exit, so that a free lock means
/// no supervisor is left. The launcher hands it over already taken, as our
/// stdin: passed on, it is never free between launcher and supervisor.
/// Started any other way, we take it ourselves, waiting for whoever has it.
fn take_lock(dir: &Path) -> io::Result<File> {
    let path = dir.join(layout::LOCK);
    let theirs = fs::metadata(&path)?;
    let inherited =
        io::stdin().as_fd().try_clone_to_owned().map(File::from).ok().filter(|stdin| {
            stdin.metadata().is_ok_and(|ours| (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()))
        });
    let lock = match inherited {
        Some(lock) => lock,
        None => OpenOptions::new().read(true).write(true).open(&path)?,
    };
    // Immediate when the lock came with stdin: it is this description's.
    flock(&lock, FlockOperation::LockExclusive)?;
    Ok(lock)
}

fn read_spec(dir: &Path) -> io::Result<JobSpec> {
    let file = File::open(dir.join(layout::JOB_SPEC))?;
    serde_json::from_reader(io::BufReader::new(file)).map_err(io::Error::other)
}

/// The job's stderr is ours, so the reason also lands where users look.
fn failure(code: Option<i32>, message: String) -> ExitRecord {
    eprintln!("edp-supervisor: {message}");
    ExitRecord { code, error: Some(message), ..ExitRecord::default() }
}
