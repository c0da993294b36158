//! Ends the host supervisor told with their exit records, kept until the
//! engine's host asks for the job's status, so that the poll the end's
//! hint brings is answered from memory: no file read, and no call on the
//! plugin's runtime ([`edp_engine_api::plugin::Engine::known_status`]).
//!
//! Only successes are kept. A job that did not succeed needs the tail of
//! its stderr, read from its directory, and is rare on the launch path.
//! A kept report is the one its directory would give ([`status::of_exit`]
//! of the same record) unless a cancel is asked for: a report is kept only
//! if the directory shows no cancel when it is made, and a cancel drops
//! the job's report before and after marking the directory
//! ([`Told::drop_report`]). What remains is a report made just before the
//! mark and kept just after the cancel: a job that did end by itself,
//! before the cancel, which is what the report says.
//!
//! The lock guards only the map: the host's thread takes reports under it
//! ([`Told::take`]), so nothing slow (the directory's `statx`) happens
//! while it is held.
//!
//! Bounded: the host takes each report at the poll that follows the hint,
//! so only reports of jobs nobody polls here stay, and those go after
//! [`KEPT_FOR`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use edp_engine_api::wire::{JobStatus, StatusReport};

use crate::jobdir::JobDir;
use crate::layout::ExitRecord;
use crate::status::{self, Cancel};

/// At most this many reports are kept; more are not (their polls read the
/// job directory, as without this).
const CAPACITY: usize = 4096;
/// How long a report nobody asked for is kept once the store is full.
const KEPT_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
pub(crate) struct Told {
    reports: Mutex<Reports>,
}

#[derive(Default)]
struct Reports {
    by_id: HashMap<String, (Instant, StatusReport)>,
    /// When the store, full, was last rid of old reports.
    pruned: Option<Instant>,
}

impl Told {
    /// Keeps the report of `execution_id`'s end, recorded as `exit`, when
    /// it succeeded and no cancel was asked for. Reads whether a cancel
    /// was asked (one `statx` of the directory), before taking the lock.
    pub fn keep(&self, execution_id: &str, dir: &JobDir, exit: &ExitRecord) {
        let report = status::of_exit(exit, Cancel::of(dir));
        if report.status != JobStatus::Succeeded {
            return;
        }
        let mut reports = self.reports();
        if reports.by_id.len() >= CAPACITY {
            // At most once a `KEPT_FOR`: a store full of young reports is
            // not scanned again at every end.
            if reports.pruned.is_some_and(|at| at.elapsed() < KEPT_FOR) {
                return;
            }
            reports.pruned = Some(Instant::now());
            reports.by_id.retain(|_, (at, _)| at.elapsed() < KEPT_FOR);
            if reports.by_id.len() >= CAPACITY {
                return;
            }
        }
        reports.by_id.insert(execution_id.to_owned(), (Instant::now(), report));
    }

    /// The kept report of `execution_id`, given once.
    pub fn take(&self, execution_id: &str) -> Option<StatusReport> {
        self.reports().by_id.remove(execution_id).map(|(_, report)| report)
    }

    /// Forgets `execution_id`'s report: called before and after its
    /// directory is marked cancelled.
    pub fn drop_report(&self, execution_id: &str) {
        self.reports().by_id.remove(execution_id);
    }

    fn reports(&self) -> MutexGuard<'_, Reports> {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i32) -> ExitRecord {
        ExitRecord { code: Some(code), ended_at_ms: 1, ..Default::default() }
    }

    #[test]
    fn successes_are_kept_and_given_once_failures_never() {
        let dir = tempfile::tempdir().unwrap();
        let (job, told) = (JobDir::new(dir.path().to_owned()), Told::default());
        told.keep("ok", &job, &exit(0));
        told.keep("failed", &job, &exit(3));
        assert_eq!(told.take("ok").map(|r| r.status), Some(JobStatus::Succeeded));
        assert!(told.take("ok").is_none(), "given twice");
        assert!(told.take("failed").is_none(), "a failure needs its stderr from the directory");
        told.keep("dropped", &job, &exit(0));
        told.drop_report("dropped");
        assert!(told.take("dropped").is_none());
    }

    #[test]
    fn a_full_store_keeps_no_more_until_its_reports_are_old() {
        let dir = tempfile::tempdir().unwrap();
        let (job, told) = (JobDir::new(dir.path().to_owned()), Told::default());
        for n in 0..CAPACITY {
            told.keep(&format!("j{n}"), &job, &exit(0));
        }
        told.keep("one more", &job, &exit(0));
        assert!(told.take("one more").is_none(), "kept beyond the capacity");
        assert!(told.take("j0").is_some(), "the young ones stay");
        // Room again: kept.
        told.keep("one more", &job, &exit(0));
        assert!(told.take("one more").is_some());
    }
}
