//! Putting a job's files into its directory before it starts: the staged
//! binaries and `job.json`. Blocking.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use edp_engine_api::plugin::{Error, Result};

use crate::checks;
use crate::jobdir::{JobDir, io_error};
use crate::layout::{self, JobSpec};

/// Links (else copies) each `(name, source)` into the directory. A file a
/// crashed or concurrent launch left is replaced in one rename, so that a
/// reader never finds it missing or half written.
pub fn files(dir: &JobDir, files: &[(String, PathBuf)]) -> Result<()> {
    for (name, source) in files {
        checks::binary_name(name)?;
        stage(source, &dir.file(name)).map_err(|e| {
            let message = format!("job binary `{name}`: cannot stage `{}`: {e}", source.display());
            if source.is_file() { Error::fatal(message) } else { Error::invalid_input(message) }
        })?;
    }
    Ok(())
}

/// Writes `job.json`: the record of what the job runs.
pub fn spec(dir: &JobDir, spec: &JobSpec) -> Result<()> {
    let json = serde_json::to_vec_pretty(spec).map_err(|e| Error::fatal(format!("job.json: {e}")))?;
    fs::write(dir.file(layout::JOB_SPEC), json).map_err(|e| io_error(&dir.file(layout::JOB_SPEC), e))
}

/// A hard link costs nothing; a copy is the fallback across file systems.
fn stage(source: &Path, target: &Path) -> io::Result<()> {
    match fs::hard_link(source, target) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        // Another file system (the kernel reports an existing target first).
        Err(_) => return fs::copy(source, target).map(drop),
    }
    // Replaced through a temporary name beside the job directory: in the
    // work directory, names starting with `.` are never a job's.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let parent = target.parent().and_then(Path::parent).ok_or_else(|| io::Error::other("no work directory"))?;
    let tmp = parent.join(format!(".staging-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    let _ = fs::remove_file(&tmp);
    let made = fs::hard_link(source, &tmp).or_else(|_| fs::copy(source, &tmp).map(drop));
    made.and_then(|()| fs::rename(&tmp, target)).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}
