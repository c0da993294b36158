//! Ends the host supervisor told with their exit records, kept until the
//! engine's host asks for the job's status, so that the poll the end's
//! hint brings is answered from memory: no file read, and no call on the
//! plugin's runtime ([`edp_engine_api::plugin::Engine::known_status`]).
//!
//! Only successes are kept. A job that did not succeed needs the tail of
//! its stderr, read from its directory, and is rare on the launch path.
//! A kept report is the one its directory would give ([`status::of_exit`]
//! of the same record) as long as no cancel is asked for: a report is kept
//! only if the directory shows none when it is made, and a cancel drops
//! the job's report after marking the directory ([`Told::drop_report`]),
//! both under the same lock, so a report is never kept past a cancel.
//!
//! Bounded: the host takes each report at the poll that follows the hint,
//! so only reports of jobs nobody polls here (another edpd's) stay, and
//! those go after [`KEPT_FOR`].

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
    reports: Mutex<HashMap<String, (Instant, StatusReport)>>,
}

impl Told {
    /// Keeps the report of `execution_id`'s end, recorded as `exit`, when
    /// it succeeded and no cancel was asked for. Reads whether a cancel
    /// was asked (one `statx` of the directory).
    pub fn keep(&self, execution_id: &str, dir: &JobDir, exit: &ExitRecord) {
        let mut reports = self.reports();
        // Under the lock: see the module's doc.
        let report = status::of_exit(exit, Cancel::of(dir));
        if report.status != JobStatus::Succeeded {
            return;
        }
        if reports.len() >= CAPACITY {
            reports.retain(|_, (at, _)| at.elapsed() < KEPT_FOR);
            if reports.len() >= CAPACITY {
                return;
            }
        }
        reports.insert(execution_id.to_owned(), (Instant::now(), report));
    }

    /// The kept report of `execution_id`, given once.
    pub fn take(&self, execution_id: &str) -> Option<StatusReport> {
        self.reports().remove(execution_id).map(|(_, report)| report)
    }

    /// Forgets `execution_id`'s report: called after its directory is
    /// marked cancelled.
    pub fn drop_report(&self, execution_id: &str) {
        self.reports().remove(execution_id);
    }

    fn reports(&self) -> MutexGuard<'_, HashMap<String, (Instant, StatusReport)>> {
        self.reports.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
