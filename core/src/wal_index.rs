//! Whether anything was committed to an SQLite file since a moment: its
//! WAL-index header, read as SQLite itself reads it.
//!
//! In WAL mode every commit, by any connection of any process, rewrites
//! the header at the start of the shared WAL index (`<db>-shm`): its change
//! counter, last frame and checksums (<https://www.sqlite.org/walformat.html>,
//! "The WAL-Index Header"; a format every SQLite version sharing a file
//! must agree on). So two equal reads of it mean no commit in between, and
//! a read transaction begun after the first still sees the database as it
//! is ([`crate::sqlite_reads`] keeps such transactions). The checkpoint
//! information that follows the header tells whether the log was wholly
//! copied into the database file.
//!
//! The header is read through SQLite's own mapping of the index, which it
//! gives to its connection's file (`xShmMap`): no file of ours is opened on
//! `-shm`, whose closing would drop the process's POSIX locks on it.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{Ordering, fence};

use rusqlite::{Connection, ffi};

/// The header's size; the index holds two copies of it, one after the other.
const HEADER: usize = 48;

/// The header as read: equal values mean no commit in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header([u8; HEADER]);

/// The WAL index's first region, as mapped for one connection.
///
/// Invariant: valid while the connection it came from is open (SQLite
/// unmaps the index only when the connection closes it), so it is kept
/// beside that connection and dropped with it.
pub(crate) struct WalIndex(*const u8);

// The pointer is into memory shared by every connection (and process) on
// the file; reading it from another thread is what SQLite's own readers do.
unsafe impl Send for WalIndex {}

impl WalIndex {
    /// `conn`'s mapping of the index, once it has one: a connection in
    /// WAL mode maps it at its first read. `None` for a connection not in
    /// WAL mode, or whose index is not mapped (yet).
    pub(crate) fn of(conn: &Connection) -> Option<Self> {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0)).ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        // SAFETY: `FILE_POINTER` writes the main database's `sqlite3_file`
        // into `file`, owned by the open connection; `xShmMap` without
        // extending only reports a region already mapped (this connection
        // opened the index at its first read, so no file is opened here).
        unsafe {
            let rc = ffi::sqlite3_file_control(
                conn.handle(),
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&raw mut file).cast::<c_void>(),
            );
            if rc != ffi::SQLITE_OK || file.is_null() || (*file).pMethods.is_null() {
                return None;
            }
            let methods = &*(*file).pMethods;
            let map = methods.xShmMap.filter(|_| methods.iVersion >= 2)?;
            let mut region: *mut c_void = std::ptr::null_mut();
            // SQLite's region size (`WALINDEX_PGSZ`); not extending.
            let rc = map(file, 0, 32 * 1024, 0 as c_int, &raw mut region);
            (rc == ffi::SQLITE_OK && !region.is_null()).then(|| Self(region.cast::<u8>().cast_const()))
        }
    }

    /// The header now; `None` while a commit is writing it (its two
    /// copies differ) or before the index was ever written.
    pub(crate) fn header(&self) -> Option<Header> {
        // As `walIndexTryHdr` does: the first copy, a barrier, the second.
        // Writers write the second copy first, so equal copies are whole.
        let first = self.copy(0);
        fence(Ordering::SeqCst);
        let second = self.copy(1);
        // Byte 12 is `isInit`: 1 once a connection has built the index.
        (first == second && first[12] == 1).then_some(Header(first))
    }

    /// Whether the log was wholly copied into the database file when
    /// `header` was read (its last frame checkpointed). A read transaction
    /// begun then reads the file alone and takes no place in the log
    /// (SQLite's read lock 0), so keeping it holds back neither a writer
    /// starting the log over nor, until the next commit, a checkpoint.
    pub(crate) fn checkpointed(&self, header: &Header) -> bool {
        let last_frame = u32::from_ne_bytes(header.0[16..20].try_into().expect("4 bytes"));
        // `nBackfill`, the first field after the two headers (`WalCkptInfo`).
        // SAFETY: as in `copy`; a u32-aligned offset in the region.
        let copied = unsafe { std::ptr::read_volatile(self.0.add(2 * HEADER).cast::<u32>()) };
        copied == last_frame
    }

    fn copy(&self, which: usize) -> [u8; HEADER] {
        let mut out = [0u8; HEADER];
        for (at, byte) in out.iter_mut().enumerate() {
            // SAFETY: the region is at least 32 KiB and mapped while the
            // connection is open (the type's invariant); other processes
            // write it, hence volatile.
            *byte = unsafe { std::ptr::read_volatile(self.0.add(which * HEADER + at)) };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_file(dir: &tempfile::TempDir) -> Connection {
        let conn = Connection::open(dir.path().join("db.sqlite")).unwrap();
        conn.pragma_update(None, "journal_mode", "wal").unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);").unwrap();
        conn
    }

    #[test]
    fn the_header_changes_with_every_commit_of_any_connection_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let writer = wal_file(&dir);
        let reader = Connection::open(dir.path().join("db.sqlite")).unwrap();
        reader.query_row("SELECT n FROM t", [], |_| Ok(())).unwrap();
        let index = WalIndex::of(&reader).expect("mapped after a read");

        let before = index.header().expect("a built index");
        reader.query_row("SELECT n FROM t", [], |_| Ok(())).unwrap();
        assert_eq!(index.header(), Some(before), "a read is no commit");

        writer.execute("UPDATE t SET n = n + 1", []).unwrap();
        let after = index.header().expect("a built index");
        assert_ne!(after, before, "the other connection's commit shows");

        assert!(!index.checkpointed(&after), "the commit is in the log only");
        writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).unwrap();
        let copied = index.header().expect("a built index");
        assert_eq!(copied, after, "a checkpoint is no commit");
        assert!(index.checkpointed(&copied));

        writer.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let next = index.header().expect("a built index");
        assert_ne!(next, after);
        assert!(!index.checkpointed(&next));
    }

    #[test]
    fn a_connection_not_in_wal_mode_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("db.sqlite")).unwrap();
        conn.execute_batch("CREATE TABLE t (n INTEGER)").unwrap();
        conn.query_row("SELECT count(*) FROM t", [], |_| Ok(())).unwrap();
        assert!(WalIndex::of(&conn).is_none());
    }
}
