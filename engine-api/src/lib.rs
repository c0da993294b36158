//! The contract between edpd and its engine plugins: the only crate a plugin
//! depends on.
//!
//! - [`abi`]: the `StableAbi` types, the `JobEngine` trait object, the root
//!   module. What the loader checks.
//! - [`wire`]: the serde types of the JSON payloads that cross the ABI.
//! - [`plugin`] (feature `plugin`): the SDK plugin authors use, and
//!   [`plugin::testing`], a host to drive an engine in-process in tests.
//! - [`host`] (feature `host`): the loader and typed client edpd uses.
#![allow(non_local_definitions, non_camel_case_types)]

pub mod abi;
pub mod wire;

#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "plugin")]
pub mod plugin;

use std::fmt;

/// The JSON crate of the wire types: plugins build schemas, `extra` and
/// `info` with this one, so that the versions always match.
pub use serde_json;
/// The `tracing` whose events the SDK forwards to edpd's log.
#[cfg(feature = "plugin")]
pub use tracing;

use abi::{EngineError, ErrorKind};

/// The `tracing` target under which edpd logs what engines send it. The SDK
/// never forwards events of this target back: a plugin linked into the host's
/// own process (in-process tests) would otherwise loop forever.
pub const HOST_LOG_TARGET: &str = "edp::engine";

impl EngineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: abi_stable::std_types::RString::from(message.into()) }
    }
}

impl fmt::Debug for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match *self {
            Self::INVALID_INPUT => "InvalidInput",
            Self::UNSUPPORTED => "Unsupported",
            Self::NOT_FOUND => "NotFound",
            Self::TRANSIENT => "Transient",
            Self::FATAL => "Fatal",
            _ => "Unknown",
        })
    }
}

/// What `export_engine!` expands to needs these; plugin crates need not
/// depend on abi_stable themselves.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{__call_root_module_loader, CheckTypeLayout, LibHeader, RootModuleResult};
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_engine_uses_abi_stables_symbol_name() {
        // `export_engine!` spells the symbol out; it must be the one the
        // loader looks up.
        assert_eq!(abi_stable::library::ROOT_MODULE_LOADER_NAME, "_1as_0lib_1header_0root_bmodule_bloader");
    }
}
