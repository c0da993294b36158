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
//! - **The log is bounded**: SQLite starts the log over only when a write
//!   begins after every frame was copied, which never happens while
//!   commits follow each other faster than passive checkpoints catch up:
//!   under `edp-bench`'s launches the log grew by ~35 MB a second, to 740
//!   MB in 18 s (BENCHMARKS.md, issue 16). So once it holds
//!   [`RESTART_AT_FRAMES`], a checkpoint starts it over (`RESTART`): it
//!   waits up to [`RESTART_WAIT`] for the writer and the log's readers, and
//!   writers wait for it while it copies what the last passive checkpoint
//!   left (at most [`EVERY`]'s worth of commits) and until the log's
//!   readers are done (reads of a row or a page: a few ms at most); if it
//!   cannot, the next one tries again.
//! - **Somebody checkpoints**: while an [`Edp`](crate::Edp) on an SQLite file
//!   lives, this thread runs; when the last connection closes, SQLite
//!   checkpoints on its own. A failed checkpoint is logged and tried again.
//! - **The log's file shrinks back**: every writing connection has a
//!   `journal_size_limit` of [`LOG_SIZE_LIMIT`], so the write that starts
//!   the log over cuts its file back to that.
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

/// Frames in the log (~64 MiB of 4 KiB pages) from which a checkpoint
/// starts it over.
const RESTART_AT_FRAMES: i64 = 16_384;

/// How long a checkpoint that starts the log over waits for the writer
/// and the log's readers, each time.
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// The bytes the log's file is cut back to when a writer starts the log
/// over (`journal_size_limit`, set on every writing connection: the writer
/// that starts it over cuts it). Without it the file keeps the size it
/// once grew to (85 MB after `edp-bench`'s launches) for as long as the
/// database is open. 4 MiB is a second of launches at 500 a second: a file
/// cut back under load grows again by what one second writes.
pub(crate) const LOG_SIZE_LIMIT: i64 = 4 * 1024 * 1024;

/// The thread checkpointing one SQLite file; stopped when dropped.
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the SQLite file at `path` every [`EVERY`],
    /// after `reads`' idle connections end what they keep behind the log.
    pub(crate) fn start(path: PathBuf, reads: IdleReads) -> std::io::Result<Self> {
        Self::start_restarting_at(path, reads, RESTART_AT_FRAMES)
    }

    fn start_restarting_at(path: PathBuf, reads: IdleReads, restart_at: i64) -> std::io::Result<Self> {
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
                if let Err(e) = checkpoint(&mut conn, &path, restart_at) {
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

/// One passive checkpoint, on `conn` (opened first if need be); and one
/// that starts the log over if it holds `restart_at` frames.
fn checkpoint(conn: &mut Option<Connection>, path: &Path, restart_at: i64) -> rusqlite::Result<()> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(open(path)?),
    };
    // What is not copied now is next time.
    let frames: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
    if frames >= restart_at {
        // Busy (the first column) if it could not: tried again next time.
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    // A passive checkpoint waits for nothing but the checkpoint lock itself,
    // should two ever meet; one that starts the log over waits this long
    // for the writer and the log's readers.
    conn.busy_timeout(RESTART_WAIT)?;
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

    /// Once the log was copied, the next write starts it over and cuts its
    /// file back to [`LOG_SIZE_LIMIT`], whichever of edpd's writers makes it:
    /// sqlx's pool or the writes' thread.
    #[tokio::test]
    async fn the_logs_file_is_cut_back_when_a_writer_starts_it_over() {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("edp.sqlite");
        let db = crate::db::connect(&format!("sqlite://{}?mode=rwc", file.display())).await.unwrap();
        let writes = crate::sqlite_writes::SqliteWrites::of(&db).expect("an SQLite file");
        db.execute_unprepared("CREATE TABLE filler (x BLOB)").await.unwrap();
        let wal = || std::fs::metadata(dir.path().join("edp.sqlite-wal")).map_or(0, |m| m.len());
        let insert = || Statement::from_string(DbBackend::Sqlite, "INSERT INTO filler VALUES (zeroblob(4000))");
        let limit = u64::try_from(LOG_SIZE_LIMIT).unwrap();

        #[derive(Debug)]
        enum Writer {
            SqlxPool,
            WritesThread,
        }
        for writer in [Writer::SqlxPool, Writer::WritesThread] {
            let write = async || match writer {
                Writer::SqlxPool => db.execute_raw(insert()).await.map(|_| ()).unwrap(),
                Writer::WritesThread => writes.execute(insert()).await.map(|_| ()).unwrap(),
            };
            // ~38 MB of log, well past the limit (and under the restart's
            // 64 MiB), while nothing checkpoints: only once a checkpoint has
            // copied it all can a write start it over.
            for _ in 0..3_000 {
                write().await;
            }
            assert!(wal() > 2 * limit, "{writer:?}: the log holds {} bytes", wal());
            let _checkpointer = Checkpointer::start(file.clone(), IdleReads::default()).unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while wal() > limit {
                assert!(Instant::now() < deadline, "{writer:?}: the log's file is still {} bytes", wal());
                tokio::time::sleep(Duration::from_millis(20)).await;
                write().await;
            }
        }
    }

    /// Commits following each other closely: passive checkpoints never
    /// catch up with them, so SQLite never starts the log over by itself;
    /// the checkpointer does, and the log stays bounded.
    #[test]
    fn under_close_commits_the_log_is_started_over() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("edp.sqlite");
        let writer = Connection::open(&file).unwrap();
        writer.pragma_update(None, "journal_mode", "wal").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.busy_timeout(Duration::from_secs(10)).unwrap();
        writer.execute_batch("CREATE TABLE filler (n INTEGER PRIMARY KEY, x BLOB)").unwrap();
        let wal = || std::fs::metadata(dir.path().join("edp.sqlite-wal")).map_or(0, |m| m.len());
        // 500 frames (~2 MB) at most before a restart: each commit adds two.
        let _checkpointer = Checkpointer::start_restarting_at(file.clone(), IdleReads::default(), 500).unwrap();
        // A page a commit, a few thousand commits a second, each a short
        // wait after the last (as edpd's writes' thread waits for writes).
        for n in 0..6_000 {
            writer.execute("INSERT OR REPLACE INTO filler VALUES (?1 % 64, zeroblob(3000))", [n]).unwrap();
            std::thread::sleep(Duration::from_micros(100));
        }
        // Never started over, it would hold them all: ~25 MB.
        assert!(wal() < 8_000_000, "the log grew to {} bytes", wal());
    }
}
