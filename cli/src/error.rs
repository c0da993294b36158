//! Why a command failed, and the exit code each reason maps to. The codes
//! are a contract with scripts (documented in cli/README.md): change them
//! only with the README.

/// Exit codes.
pub mod code {
    /// The command did what was asked; a waited-for job SUCCEEDED.
    pub const OK: i32 = 0;
    /// A waited-for job ended FAILED, KILLED or DONEWITHERROR (or a cancel
    /// did not end the job as KILLED).
    pub const JOB_FAILED: i32 = 1;
    /// Bad flags, job file or config file, or an unreadable local file.
    /// clap exits with 2 on its own errors too.
    pub const USAGE: i32 = 2;
    /// The server refused (4xx), or a named object does not exist.
    pub const REFUSED: i32 = 3;
    /// The server could not be reached (refused connection, DNS, timeout).
    pub const UNREACHABLE: i32 = 4;
    /// The server failed (5xx) or answered something unreadable.
    pub const SERVER: i32 = 5;
}

/// [`Failure::Unreachable`]'s origin when no flag, variable or file gave a URL.
pub const DEFAULT_ORIGIN: &str = "the default URL";

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    /// A 4xx in Sahara's error shape: shown as the server worded it.
    #[error("{message} ({name})")]
    Refused { status: u16, name: String, message: String },
    /// Looked up by name on the client side and not there.
    #[error("{0}")]
    Missing(String),
    /// `origin` says where the URL came from (`--url`, `EDP_URL`, ...).
    #[error("cannot reach edpd at {url} ({origin}): {detail}")]
    Unreachable { url: String, origin: String, detail: String },
    #[error("{message} ({name})")]
    Server { status: u16, name: String, message: String },
    /// An answer that is not what the API promises.
    #[error("{0}")]
    Protocol(String),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => code::USAGE,
            Self::Refused { .. } | Self::Missing(_) => code::REFUSED,
            Self::Unreachable { .. } => code::UNREACHABLE,
            Self::Server { .. } | Self::Protocol(_) => code::SERVER,
        }
    }

    /// The server's error name, for callers that handle one case (a name
    /// taken by a concurrent submission).
    pub fn error_name(&self) -> Option<&str> {
        match self {
            Self::Refused { name, .. } | Self::Server { name, .. } => Some(name),
            _ => None,
        }
    }

    /// A second line for the person at the terminal: what to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Unreachable { origin, .. } if origin == DEFAULT_ORIGIN => Some(
                "is edpd running? Start it with `edpd` (or `scripts/run` in a checkout of edp), or give the URL of \
                 a running one with --url URL or EDP_URL=URL"
                    .into(),
            ),
            Self::Unreachable { origin, .. } => Some(format!(
                "is edpd running there? Start it with `edpd` (or `scripts/run` in a checkout of edp), or fix the \
                 URL ({origin}; --url beats EDP_URL, which beats the config file)"
            )),
            _ => None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;
