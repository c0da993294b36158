//! A job's process: its own process group, `/dev/null` for stdin, its
//! files for stdout and stderr, the engine's environment plus the job's.
//! Always through posix_spawn (no `pre_exec`, a program path already
//! resolved), so it costs the same whatever the worker's size.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use edp_supervised::layout::JobSpec;

/// Why a job could not be started: the exit record's `code` (127 when the
/// program could not be run, as a shell reports it) and `error`.
pub struct NotStarted {
    pub code: Option<i32>,
    pub error: String,
}

/// Starts the job; its pid, which is also its process group.
pub fn spawn(
    base_env: &BTreeMap<String, String>,
    spec: &JobSpec,
    stdout: File,
    stderr: File,
) -> Result<u32, NotStarted> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(NotStarted { code: None, error: "the job has an empty argv".into() });
    };
    let path = spec.env.get("PATH").or_else(|| base_env.get("PATH")).map(String::as_str);
    let not_run = |error: String| NotStarted { code: Some(127), error };
    let resolved =
        resolve(program, path, &spec.cwd).ok_or_else(|| not_run(format!("cannot start `{program}`: not found")))?;
    let child = Command::new(resolved)
        .arg0(program)
        .args(args)
        .env_clear()
        .envs(base_env)
        .envs(&spec.env)
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Its own group (pgid = its pid), so that a cancel can signal the
        // job and everything it started, and nothing else.
        .process_group(0)
        .spawn()
        .map_err(|e| not_run(format!("cannot start `{program}`: {e}")))?;
    // Dropping a Child neither kills nor waits: the reaper waits for it.
    Ok(child.id())
}

/// The program's path, looked up in `PATH` as `execvp` would when it names
/// no directory: std falls back from posix_spawn to fork+exec for a `PATH`
/// lookup with an environment of its own.
fn resolve(program: &str, path: Option<&str>, cwd: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = path.unwrap_or("/usr/local/bin:/usr/bin:/bin");
    path.split(':')
        .map(|dir| if dir.is_empty() { cwd.join(program) } else { Path::new(dir).join(program) })
        .find(|candidate| candidate.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}
