//! Execution statuses: Sahara's names. Engines report a subset
//! (`wire::JobStatus`); the job manager adds `TOBEKILLED` while a cancel is
//! under way.

use edp_engine_api::wire::JobStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Prep,
    Running,
    Suspended,
    ToBeKilled,
    Succeeded,
    Failed,
    Killed,
    DoneWithError,
}

impl Status {
    /// Not finished: the job manager still has work to do on these.
    pub const ACTIVE: [Status; 5] = [Self::Pending, Self::Prep, Self::Running, Self::Suspended, Self::ToBeKilled];

    pub const ALL: [Status; 9] = [
        Self::Pending,
        Self::Prep,
        Self::Running,
        Self::Suspended,
        Self::ToBeKilled,
        Self::Succeeded,
        Self::Failed,
        Self::Killed,
        Self::DoneWithError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToBeKilled => "TOBEKILLED",
            Self::Pending => JobStatus::Pending.as_str(),
            Self::Prep => JobStatus::Prep.as_str(),
            Self::Running => JobStatus::Running.as_str(),
            Self::Suspended => JobStatus::Suspended.as_str(),
            Self::Succeeded => JobStatus::Succeeded.as_str(),
            Self::Failed => JobStatus::Failed.as_str(),
            Self::Killed => JobStatus::Killed.as_str(),
            Self::DoneWithError => JobStatus::DoneWithError.as_str(),
        }
    }

    /// Case-insensitive, as Sahara compares.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str().eq_ignore_ascii_case(s))
    }

    pub fn is_terminal(self) -> bool {
        !Self::ACTIVE.contains(&self)
    }
}

impl From<JobStatus> for Status {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Pending => Self::Pending,
            JobStatus::Prep => Self::Prep,
            JobStatus::Running => Self::Running,
            JobStatus::Suspended => Self::Suspended,
            JobStatus::Succeeded => Self::Succeeded,
            JobStatus::Failed => Self::Failed,
            JobStatus::Killed => Self::Killed,
            JobStatus::DoneWithError => Self::DoneWithError,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
