//! Sahara's job types and their rules on binaries and arguments. Engines may
//! add types; these are the ones whose rules Sahara fixed.

use crate::interface::MappingType;

/// (type, mains, libs, accepted mapping types).
#[derive(Clone, Copy)]
pub enum Binaries {
    Forbidden,
    Optional,
    Required,
    ExactlyOne,
}

struct Rule {
    name: &'static str,
    mains: Binaries,
    libs: Binaries,
    accepts: &'static [MappingType],
}

use Binaries::*;
use MappingType::*;

const RULES: &[Rule] = &[
    Rule { name: "MapReduce", mains: Forbidden, libs: Required, accepts: &[Configs] },
    Rule { name: "MapReduce.Streaming", mains: Forbidden, libs: Optional, accepts: &[Configs] },
    Rule { name: "Java", mains: Forbidden, libs: Required, accepts: &[Configs, Args] },
    Rule { name: "Pig", mains: ExactlyOne, libs: Optional, accepts: &[Configs, Params, Args] },
    Rule { name: "Hive", mains: ExactlyOne, libs: Optional, accepts: &[Configs, Params] },
    Rule { name: "Shell", mains: ExactlyOne, libs: Optional, accepts: &[Configs, Params, Args] },
    Rule { name: "Spark", mains: ExactlyOne, libs: Optional, accepts: &[Configs, Args] },
    Rule { name: "Storm", mains: ExactlyOne, libs: Optional, accepts: &[Args] },
    Rule { name: "Storm.Pyleus", mains: ExactlyOne, libs: Optional, accepts: &[] },
    Rule { name: "Python", mains: ExactlyOne, libs: Optional, accepts: &[Configs, Params, Args] },
];

pub fn known(name: &str) -> bool {
    RULES.iter().any(|r| r.name == name)
}

/// Whether a template of this type may map interface arguments there.
/// Types Sahara did not define accept everything.
pub fn accepts(job_type: &str, mapping: MappingType) -> bool {
    RULES.iter().find(|r| r.name == job_type).is_none_or(|r| r.accepts.contains(&mapping))
}

/// Sahara's rule on mains and libs for this type, if it has one.
pub fn binaries(job_type: &str) -> Option<(Binaries, Binaries)> {
    RULES.iter().find(|r| r.name == job_type).map(|r| (r.mains, r.libs))
}
