//! The plugin directory, scanned again and again: what is new is loaded,
//! what failed is tried again once the file changes, and a change to a
//! loaded library is reported as needing a restart (libraries are never
//! unloaded: abi_stable leaks them, and engines' threads live in them).
//!
//! Every file is known by its [`Fingerprint`]; a scan only stats the files,
//! so scanning often is cheap. Scans are the caller's to schedule and to
//! keep off async workers: loading runs plugin code and may block for up
//! to the load timeout per file.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::library::{Opened, Opener};
use super::{HostHooks, LoadedEngine, Refused};
use crate::wire::EngineSettings;

/// Gives each engine its constructor settings: `(engine id, library file)`.
pub type SettingsFor = Arc<dyn Fn(&str, &Path) -> EngineSettings + Send + Sync>;

pub struct LoaderConfig {
    /// Where operators put libraries.
    pub dir: PathBuf,
    /// A private directory the libraries are copied to and opened from. It
    /// is emptied when the loader is made: nothing is opened from it yet.
    pub copies: PathBuf,
    /// How long one library may take to open, construct and describe itself.
    pub timeout: Duration,
}

/// One version of a file: any change to it (a rewrite, a rename over it, a
/// copy still growing) changes this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl Fingerprint {
    pub fn of(path: &Path) -> std::io::Result<Self> {
        let m = std::fs::metadata(path)?;
        Ok(Self { dev: m.dev(), ino: m.ino(), size: m.size(), mtime: (m.mtime(), m.mtime_nsec()) })
    }
}

/// A loaded engine whose file changed or went away: it keeps serving until
/// edpd restarts.
#[derive(Clone, Debug)]
pub struct RestartNeeded {
    pub file: PathBuf,
    pub engine: String,
    pub reason: String,
}

/// What one scan changed, for the log: one entry per change.
#[derive(Clone, Debug)]
pub enum Change {
    Loaded {
        engine: String,
        version: String,
        file: PathBuf,
    },
    Refused(Refused),
    RestartNeeded(RestartNeeded),
    /// The file of a loaded engine is back as it was loaded.
    Restored {
        engine: String,
        file: PathBuf,
    },
}

enum FileState {
    Loaded {
        print: Fingerprint,
        engine: String,
    },
    Refused {
        print: Fingerprint,
        reason: String,
    },
    /// `engine` was loaded from `loaded`; the file is `now` (`None`: gone).
    Replaced {
        loaded: Fingerprint,
        now: Option<Fingerprint>,
        engine: String,
    },
}

pub struct Loader {
    dir: PathBuf,
    opener: Opener,
    files: BTreeMap<PathBuf, FileState>,
    engines: BTreeMap<String, LoadedEngine>,
    dir_error: Option<String>,
    busy: bool,
}

impl Loader {
    pub fn new(config: LoaderConfig, settings_for: SettingsFor, hooks: Arc<dyn HostHooks>) -> std::io::Result<Self> {
        if config.copies.exists() {
            std::fs::remove_dir_all(&config.copies)?;
        }
        std::fs::create_dir_all(&config.copies)?;
        Ok(Self {
            dir: config.dir,
            opener: Opener { copies: config.copies, timeout: config.timeout, settings_for, hooks, seq: 0 },
            files: BTreeMap::new(),
            engines: BTreeMap::new(),
            dir_error: None,
            busy: false,
        })
    }

    /// Looks at every library in the directory (sorted by name, so that of
    /// two files holding one engine the same one wins every time) and acts
    /// on what changed since the last scan.
    pub fn scan(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        let listing = match self.list() {
            Ok(listing) => {
                self.dir_error = None;
                listing
            }
            Err(e) => {
                let reason = format!("cannot read the plugin directory: {e}");
                if self.dir_error.as_ref() != Some(&reason) {
                    changes.push(Change::Refused(Refused { file: self.dir.clone(), reason: reason.clone() }));
                }
                self.dir_error = Some(reason);
                return changes;
            }
        };
        self.busy = false;
        self.forget_gone(&listing, &mut changes);
        for (file, print) in listing {
            let retry = match self.files.get_mut(&file) {
                None => true,
                Some(FileState::Refused { print: was, .. }) => *was != print,
                Some(state) => {
                    changes.extend(replaced(state, &file, Some(print)));
                    false
                }
            };
            if retry {
                self.try_load(file, print, &mut changes);
            }
        }
        changes
    }

    /// A file changed while it was being read: scan again soon.
    pub fn busy(&self) -> bool {
        self.busy
    }

    pub fn loaded(&self) -> impl Iterator<Item = &LoadedEngine> {
        self.engines.values()
    }

    /// The refused files, and the directory itself when it cannot be read.
    pub fn refused(&self) -> Vec<Refused> {
        let dir = self.dir_error.iter().map(|reason| Refused { file: self.dir.clone(), reason: reason.clone() });
        let files = self.files.iter().filter_map(|(file, state)| match state {
            FileState::Refused { reason, .. } => Some(Refused { file: file.clone(), reason: reason.clone() }),
            _ => None,
        });
        dir.chain(files).collect()
    }

    pub fn restart_needed(&self) -> Vec<RestartNeeded> {
        self.files
            .iter()
            .filter_map(|(file, state)| match state {
                FileState::Replaced { now, engine, .. } => Some(restart_needed(file, engine, now.is_some())),
                _ => None,
            })
            .collect()
    }

    fn list(&self) -> std::io::Result<BTreeMap<PathBuf, Fingerprint>> {
        let mut listing = BTreeMap::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden || path.extension().is_none_or(|x| x != std::env::consts::DLL_EXTENSION) {
                continue;
            }
            // Gone since the listing, or not a file: not a library to load.
            if let Ok(print) = Fingerprint::of(&path)
                && path.is_file()
            {
                listing.insert(path, print);
            }
        }
        Ok(listing)
    }

    /// Refused files that are gone are forgotten; loaded engines whose file
    /// is gone keep serving and need a restart.
    fn forget_gone(&mut self, listing: &BTreeMap<PathBuf, Fingerprint>, changes: &mut Vec<Change>) {
        self.files.retain(|file, state| {
            if listing.contains_key(file) {
                return true;
            }
            if matches!(state, FileState::Refused { .. }) {
                return false;
            }
            changes.extend(replaced(state, file, None));
            true
        });
    }

    fn try_load(&mut self, file: PathBuf, print: Fingerprint, changes: &mut Vec<Change>) {
        let loaded: BTreeMap<String, PathBuf> =
            self.engines.iter().map(|(id, engine)| (id.clone(), engine.file.clone())).collect();
        match self.opener.open(&file, print, &loaded) {
            Opened::Engine(engine) => {
                let id = engine.description.id.clone();
                changes.push(Change::Loaded {
                    engine: id.clone(),
                    version: engine.description.version.clone(),
                    file: file.clone(),
                });
                self.files.insert(file, FileState::Loaded { print, engine: id.clone() });
                self.engines.insert(id, engine);
            }
            Opened::Refused(reason) => {
                changes.push(Change::Refused(Refused { file: file.clone(), reason: reason.clone() }));
                self.files.insert(file, FileState::Refused { print, reason });
            }
            Opened::Busy => {
                self.files.remove(&file);
                self.busy = true;
            }
        }
    }
}

/// The file of a loaded engine is now `now` (`None`: gone). Returns the
/// change to report, if this is one.
fn replaced(state: &mut FileState, file: &Path, now: Option<Fingerprint>) -> Option<Change> {
    match state {
        FileState::Loaded { print, engine } if Some(*print) != now => {
            let engine = std::mem::take(engine);
            let change = Change::RestartNeeded(restart_needed(file, &engine, now.is_some()));
            *state = FileState::Replaced { loaded: *print, now, engine };
            Some(change)
        }
        FileState::Replaced { loaded, engine, .. } if Some(*loaded) == now => {
            let engine = std::mem::take(engine);
            let change = Change::Restored { engine: engine.clone(), file: file.to_path_buf() };
            *state = FileState::Loaded { print: *loaded, engine };
            Some(change)
        }
        FileState::Replaced { now: was, .. } => {
            *was = now;
            None
        }
        FileState::Loaded { .. } | FileState::Refused { .. } => None,
    }
}

fn restart_needed(file: &Path, engine: &str, present: bool) -> RestartNeeded {
    let reason = if present {
        format!(
            "the file changed since engine `{engine}` was loaded from it: restart edpd to load it; the loaded version keeps serving"
        )
    } else {
        format!(
            "the file is gone since engine `{engine}` was loaded from it: the engine keeps serving until edpd restarts"
        )
    };
    RestartNeeded { file: file.to_path_buf(), engine: engine.to_string(), reason }
}
