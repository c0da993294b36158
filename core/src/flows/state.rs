//! The states of flows and of their jobs.

/// A flow job's state. Stored by name; the three kinds of skip show as
/// `SKIPPED` with their reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobState {
    Waiting,
    Running,
    Succeeded,
    Failed,
    Killed,
    /// Its outputs existed (`use_existing`): it satisfies its dependants.
    SkippedExisting,
    /// A producer failed or was skipped for failing: it never ran.
    SkippedUpstream,
    /// The flow was cancelled before it started.
    SkippedCancelled,
}

impl JobState {
    const ALL: [Self; 8] = [
        Self::Waiting,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Killed,
        Self::SkippedExisting,
        Self::SkippedUpstream,
        Self::SkippedCancelled,
    ];

    pub(crate) fn stored(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
            Self::SkippedExisting => "SKIPPED_EXISTING",
            Self::SkippedUpstream => "SKIPPED_UPSTREAM",
            Self::SkippedCancelled => "SKIPPED_CANCELLED",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        Self::ALL.into_iter().find(|st| st.stored() == s).unwrap_or(Self::Waiting)
    }

    /// What users see.
    pub(crate) fn shown(self) -> &'static str {
        match self {
            Self::SkippedExisting | Self::SkippedUpstream | Self::SkippedCancelled => "SKIPPED",
            other => other.stored(),
        }
    }

    /// Its dependants may run.
    pub(crate) fn satisfies(self) -> bool {
        matches!(self, Self::Succeeded | Self::SkippedExisting)
    }

    /// Its dependants never will.
    pub(crate) fn blocks(self) -> bool {
        matches!(self, Self::Failed | Self::Killed | Self::SkippedUpstream | Self::SkippedCancelled)
    }

    pub(crate) fn is_done(self) -> bool {
        !matches!(self, Self::Waiting | Self::Running)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowStatus {
    Running,
    Succeeded,
    Failed,
    Killed,
}

impl FlowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        }
    }
}
