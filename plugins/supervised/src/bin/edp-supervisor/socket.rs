//! The socket file, kept leading to the supervisor that holds the lock.
//!
//! Engines find the supervisor by the socket's path, and only the holder
//! of the state directory's lock binds it. Others can still remove the
//! file: a predecessor that exits late in a directory deleted and made
//! again (its clean-up names the same path), a cleaner of temporary files.
//! No launch could then reach the supervisor while it holds the lock, and
//! every new supervisor would wait for that lock in vain. So the worker
//! checks at each tick that the path still names its socket, and binds it
//! again when it does not, unless the lock file at the path is no longer
//! the one the keeper holds: the directory was replaced and is another
//! supervisor's, whose files are left alone.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use edp_supervised::protocol;

/// Which file a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(path: &Path) -> Option<Self> {
        fs::symlink_metadata(path).ok().map(|m| Self { dev: m.dev(), ino: m.ino() })
    }

    fn of_file(file: &File) -> io::Result<Self> {
        file.metadata().map(|m| Self { dev: m.dev(), ino: m.ino() })
    }
}

/// What the supervisor's socket path should name.
#[derive(Clone, Debug)]
pub struct Bound {
    state_dir: PathBuf,
    /// The lock file the keeper holds.
    lock: FileId,
    /// The socket file as bound (`None`: already gone when looked at).
    socket: Option<FileId>,
}

/// What a [`Bound::check`] found.
pub enum Check {
    /// The path leads here.
    Ours,
    /// The socket file was gone or another: bound again, here is the new
    /// listener.
    Rebound(UnixListener),
    /// The directory is not ours any more: leave it alone.
    Orphaned,
}

impl Bound {
    /// Right after binding, with the lock held.
    pub fn new(state_dir: &Path, lock: &File) -> io::Result<Self> {
        let socket = FileId::of(&state_dir.join(protocol::SOCKET));
        Ok(Self { state_dir: state_dir.to_path_buf(), lock: FileId::of_file(lock)?, socket })
    }

    pub fn check(&mut self) -> io::Result<Check> {
        if self.socket.is_some() && FileId::of(&self.socket_path()) == self.socket {
            return Ok(Check::Ours);
        }
        if !self.owns_directory() {
            return Ok(Check::Orphaned);
        }
        match fs::remove_file(self.socket_path()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let listener = protocol::bind(&self.state_dir)?;
        listener.set_nonblocking(true)?;
        self.socket = FileId::of(&self.socket_path());
        Ok(Check::Rebound(listener))
    }

    /// Whether the directory's lock file is still the one the keeper holds
    /// (not so once the directory was deleted, or made again).
    pub fn owns_directory(&self) -> bool {
        FileId::of(&self.state_dir.join(protocol::LOCK)) == Some(self.lock)
    }

    /// Removes the socket file if it is still the one bound here: a
    /// successor's is left alone.
    pub fn remove(&self) {
        if self.socket.is_some() && FileId::of(&self.socket_path()) == self.socket {
            let _ = fs::remove_file(self.socket_path());
        }
    }

    fn socket_path(&self) -> PathBuf {
        self.state_dir.join(protocol::SOCKET)
    }
}
