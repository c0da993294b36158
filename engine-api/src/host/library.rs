//! One library file → a constructed engine, or the reason why not.
//!
//! The steps, each guarding against a way a file in the plugin directory can
//! hurt edpd:
//! 1. Copy the file to a private name and open the copy. An operator who
//!    overwrites a loaded library in place (`cp new.so plugins/`) would
//!    otherwise truncate pages edpd has mapped (SIGBUS), and the dynamic
//!    loader would hand back the first library ever opened under a path.
//! 2. Refuse an ELF file whose segments or section headers run past its end:
//!    a library still being copied. The loader would map it and fault on the
//!    missing pages.
//! 3. Open, check the ABI, construct and `describe()` on a thread of its own,
//!    waited for up to the load timeout. A plugin that hangs there is refused
//!    and its thread abandoned, never joined.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use abi_stable::library::lib_header_from_path;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RArc, RResult};

use super::loader::{Fingerprint, SettingsFor};
use super::{EngineClient, HostHooks, HostImpl, LoadedEngine, summarize_load_error};
use crate::abi::{EngineMod_Ref, Host_TO, HostArc};
use crate::wire::{EngineDescription, EngineSettings};

/// What came of trying a file.
pub(super) enum Opened {
    Engine(LoadedEngine),
    Refused(String),
    /// The file changed while it was copied: nothing to decide yet.
    Busy,
}

pub(super) struct Opener {
    pub copies: PathBuf,
    pub timeout: Duration,
    pub settings_for: SettingsFor,
    pub hooks: Arc<dyn HostHooks>,
    pub seq: u64,
}

impl Opener {
    /// Loads `file`, seen with `print`. `loaded`: engine id → the file it was
    /// loaded from, so that a second library of the same engine is refused
    /// before its constructor runs.
    pub fn open(&mut self, file: &Path, print: Fingerprint, loaded: &BTreeMap<String, PathBuf>) -> Opened {
        let copy = match self.copy(file, print) {
            Ok(Some(copy)) => copy,
            Ok(None) => return Opened::Busy,
            Err(reason) => return Opened::Refused(reason),
        };
        let opened = match check_complete(&copy) {
            Err(reason) => Opened::Refused(reason),
            Ok(()) => match self.construct_timed(copy.clone(), file.to_path_buf(), loaded.clone()) {
                Ok(engine) => return Opened::Engine(engine),
                Err(reason) => Opened::Refused(reason),
            },
        };
        // Unlinking a library that is mapped is harmless: the mapping keeps it.
        let _ = std::fs::remove_file(&copy);
        opened
    }

    /// Copies `file` into the copies directory under a name never used
    /// before; `None` when the file changed meanwhile.
    fn copy(&mut self, file: &Path, print: Fingerprint) -> Result<Option<PathBuf>, String> {
        self.seq += 1;
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let copy = self.copies.join(format!("{}-{}-{name}", std::process::id(), self.seq));
        if let Err(e) = std::fs::copy(file, &copy) {
            let _ = std::fs::remove_file(&copy);
            return match Fingerprint::of(file) {
                Ok(now) if now == print => Err(format!("cannot copy the library to {}: {e}", copy.display())),
                _ => Ok(None),
            };
        }
        match Fingerprint::of(file) {
            Ok(now) if now == print => Ok(Some(copy)),
            _ => {
                let _ = std::fs::remove_file(&copy);
                Ok(None)
            }
        }
    }

    fn construct_timed(
        &self,
        copy: PathBuf,
        file: PathBuf,
        loaded: BTreeMap<String, PathBuf>,
    ) -> Result<LoadedEngine, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (settings_for, hooks) = (self.settings_for.clone(), self.hooks.clone());
        let spawned = std::thread::Builder::new().name("edp-plugin-load".into()).spawn(move || {
            let built = catch_unwind(AssertUnwindSafe(|| construct(&copy, &file, &settings_for, &hooks, &loaded)));
            let _ = tx.send(built.unwrap_or_else(|panic| Err(format!("loading panicked: {}", panic_text(&*panic)))));
        });
        if let Err(e) = spawned {
            return Err(format!("cannot start a thread to load it: {e}"));
        }
        match rx.recv_timeout(self.timeout) {
            Ok(outcome) => outcome,
            // The thread is left where it hangs: there is no safe way to stop
            // it, and joining it would hang the loader too.
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "did not answer in {} s: its constructor or describe() hangs (the thread it hangs on is abandoned)",
                self.timeout.as_secs_f64()
            )),
            Err(RecvTimeoutError::Disconnected) => Err("the thread loading it died".into()),
        }
    }
}

/// Open the library with `lib_header_from_path(..).init_root_module()`:
/// `RootModule::load_from_file` caches one module per interface type and
/// would hand back the first plugin for every file.
fn construct(
    copy: &Path,
    file: &Path,
    settings_for: &SettingsFor,
    hooks: &Arc<dyn HostHooks>,
    loaded: &BTreeMap<String, PathBuf>,
) -> Result<LoadedEngine, String> {
    let module = lib_header_from_path(copy)
        .and_then(|header| header.init_root_module::<EngineMod_Ref>())
        // The loader's messages name the copy; users know the file.
        .map_err(|e| summarize_load_error(&e).replace(&*copy.to_string_lossy(), &file.to_string_lossy()))?;
    let id = module.engine_id()().to_string();
    if let Some(first) = loaded.get(&id) {
        return Err(format!(
            "duplicate engine id `{id}`: already loaded from {} (restart edpd to switch files)",
            first.display()
        ));
    }
    construct_module(module, file, settings_for(&id, file), hooks)
}

/// Builds the engine a root module exports: its constructor with these
/// settings, then `describe`. What loading a library ends with, and, for a
/// module linked into the host's own binary (an engine under test), all of
/// loading.
pub fn construct_module(
    module: EngineMod_Ref,
    file: &Path,
    settings: EngineSettings,
    hooks: &Arc<dyn HostHooks>,
) -> Result<LoadedEngine, String> {
    let id = module.engine_id()().to_string();
    let settings = serde_json::to_string(&settings).map_err(|e| e.to_string())?;
    let host: HostArc =
        Host_TO::from_ptr(RArc::new(HostImpl { engine_id: id.clone(), hooks: hooks.clone() }), TD_Opaque);
    let engine = match module.new()(settings.into(), host) {
        RResult::ROk(engine) => engine,
        RResult::RErr(e) => return Err(format!("constructor failed: {}", e.message)),
    };
    let description: EngineDescription = match engine.describe() {
        RResult::ROk(json) => {
            serde_json::from_str(&json).map_err(|e| format!("describe() answered malformed JSON: {e}"))?
        }
        RResult::RErr(e) => return Err(format!("describe() failed: {}", e.message)),
    };
    if description.id != id {
        return Err(format!("engine id mismatch: the module says `{id}`, describe() says `{}`", description.id));
    }
    Ok(LoadedEngine {
        file: file.to_path_buf(),
        client: EngineClient { id: id.into(), inner: Arc::new(engine) },
        description,
    })
}

/// Refuses a 64-bit ELF file that ends before its loadable segments or its
/// section headers do. Anything else (another format, garbage) is left to
/// the dynamic loader, whose error says what it is.
fn check_complete(path: &Path) -> Result<(), String> {
    use object::read::elf::{FileHeader, ProgramHeader};
    use object::{FileKind, ReadCache, elf};

    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the library: {e}"))?;
    let size = file.metadata().map_err(|e| format!("cannot read the library: {e}"))?.len();
    let data = ReadCache::new(file);
    if !matches!(FileKind::parse(&data), Ok(FileKind::Elf64)) {
        return Ok(());
    }
    let incomplete =
        |what: &str| format!("incomplete library ({what} past the end of its {size} bytes): still being copied?");
    let header = elf::FileHeader64::<object::Endianness>::parse(&data).map_err(|_| incomplete("ELF header"))?;
    let endian = header.endian().map_err(|_| incomplete("ELF header"))?;
    let segments = header.program_headers(endian, &data).map_err(|_| incomplete("program headers"))?;
    for segment in segments.iter().filter(|s| s.p_type(endian) == elf::PT_LOAD) {
        let (offset, len) = segment.file_range(endian);
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(incomplete("a loadable segment"));
        }
    }
    header.section_headers(endian, &data).map_err(|_| incomplete("section headers"))?;
    Ok(())
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}
