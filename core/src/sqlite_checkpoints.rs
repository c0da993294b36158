//! Checkpoints of an SQLite file's write-ahead log, off the request path.
//!
//! SQLite checkpoints by itself in whichever connection commits the
//! transaction that takes the log past 1,000 pages: that commit then copies
//! the log into the database file and syncs both, several milliseconds, and
//! the request that made it waits for them (a launch's record or a job's
//! end: the p99 of POST → SUCCEEDED, issue 16). So sqlx's connections are
//! opened with `wal_autocheckpoint = 0` ([`crate::db::connect`]) and this
//! thread checkpoints instead, every [`EVERY`], on a connection of its own.
//!
//! Invariants:
//! - **Passive**: a checkpoint never waits for a reader or a writer; it
//!   copies what nobody still reads and leaves the rest to the next one, so
//!   it cannot slow a request down except by sharing the disk.
//! - **Somebody checkpoints**: while an [`Edp`](crate::Edp) on an SQLite file
//!   lives, this thread runs; when the last connection closes, SQLite
//!   checkpoints on its own. A failed checkpoint is logged and tried again.
//! - A checkpoint with nothing to copy costs a few file-lock calls: an idle
//!   edpd pays that five times a second.
//! - **No reader holds the log back for long**: before each checkpoint, the
//!   read connections not in use end the transactions they keep that are
//!   behind the log (`sqlite_reads::IdleReads::end_behind`); a checkpoint
//!   copies only what no transaction still reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::sqlite_reads::IdleReads;

/// How often the log is checkpointed. At 500 launches a second (~13,000
/// pages a second) the log holds at most a few megabytes between two.
pub(crate) const EVERY: Duration = Duration::from_millis(200);

/// The thread checkpointing one SQLite file; stopped when dropped.
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the SQLite file at `path` every [`EVERY`],
    /// after `reads`' idle connections end what they keep behind the log.
    pub(crate) fn start(path: PathBuf, reads: IdleReads) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("edp-checkpoints".into()).spawn(move || {
            let mut conn = None;
            while !stopped.load(Ordering::Relaxed) {
                std::thread::park_timeout(EVERY);
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                reads.end_behind();
                if let Err(e) = checkpoint(&mut conn, &path) {
                    // Dropped: the next try opens a new connection.
                    conn = None;
                    tracing::warn!(error = %e, "could not checkpoint the database's write-ahead log; will again");
                }
            }
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// One passive checkpoint, on `conn` (opened first if need be).
fn checkpoint(conn: &mut Option<Connection>, path: &Path) -> rusqlite::Result<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(open(path)?),
    };
    // Its answer (busy, frames in the log, frames copied) is not needed:
    // what is not copied now is next time.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    // A passive checkpoint takes no lock that waits; this bounds the wait
    // for the checkpoint lock itself should two ever meet.
    conn.busy_timeout(Duration::from_secs(1))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// Pages written through sqlx stay in the log (no commit checkpoints
    /// any more); the checkpointer copies them into the database file.
    #[tokio::test]
    async fn the_log_is_checkpointed_by_the_thread_not_by_commits() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("edp.sqlite");
        let db = crate::db::connect(&format!("sqlite://{}?mode=rwc", file.display())).await.unwrap();
        use sea_orm::ConnectionTrait;
        db.execute_unprepared("CREATE TABLE filler (x BLOB)").await.unwrap();
        // ~2,000 pages, twice what made a commit checkpoint before.
        for _ in 0..2_000 {
            db.execute_unprepared("INSERT INTO filler VALUES (zeroblob(4000))").await.unwrap();
        }
        let main_file = || std::fs::metadata(&file).unwrap().len();
        let before = main_file();
        assert!(before < 4_000_000, "the commits copied the log into the file themselves ({before} bytes)");

        let _checkpointer = Checkpointer::start(file.clone(), IdleReads::default()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while main_file() < 7_500_000 {
            assert!(Instant::now() < deadline, "the log was not checkpointed: file {} bytes", main_file());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
