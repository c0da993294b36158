//! From what people type (a name or an id) to the object. Ids are tried
//! first when the text looks like one; names must match exactly (the API's
//! `?name=` filter is a substring match).

use serde_json::Value;

use crate::api::segment;
use crate::cmd::Ctx;
use crate::error::{Failure, Result};
use crate::output::{status, text};

/// A kind of object the API lists: its path, list key and object key.
pub struct Kind {
    pub what: &'static str,
    pub path: &'static str,
    pub list_key: &'static str,
    pub object_key: &'static str,
    /// The command that lists them, for the "not found" hint.
    pub hint: &'static str,
}

pub const CLUSTER: Kind = Kind {
    what: "cluster",
    path: "/v2/clusters",
    list_key: "clusters",
    object_key: "cluster",
    hint: "edp clusters list",
};
pub const DATA_SOURCE: Kind = Kind {
    what: "data source",
    path: "/v2/data-sources",
    list_key: "data_sources",
    object_key: "data_source",
    hint: "edp data-sources list",
};
pub const BINARY: Kind = Kind {
    what: "job binary",
    path: "/v2/job-binaries",
    list_key: "binaries",
    object_key: "job_binary",
    hint: "GET /v2/job-binaries",
};

/// Whether `s` has the shape of the UUIDs edpd uses as ids.
pub fn looks_like_id(s: &str) -> bool {
    s.len() == 36
        && s.chars()
            .enumerate()
            .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// The objects named exactly `name`.
pub async fn named(ctx: &Ctx, kind: &Kind, name: &str) -> Result<Vec<Value>> {
    let found = ctx.api.list(kind.path, kind.list_key, &[("name", name.to_string())]).await?;
    Ok(found.into_iter().filter(|o| text(o, "name") == name).collect())
}

/// By id, else by exact name; `None` when neither exists.
pub async fn find(ctx: &Ctx, kind: &Kind, needle: &str) -> Result<Option<Value>> {
    if looks_like_id(needle) {
        match ctx.api.get(&format!("{}/{}", kind.path, segment(needle)), &[]).await {
            Ok(body) => return Ok(body.get(kind.object_key).cloned()),
            Err(Failure::Refused { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(named(ctx, kind, needle).await?.into_iter().next())
}

/// Like [`find`], but absence is a failure that says where to look.
pub async fn require(ctx: &Ctx, kind: &Kind, needle: &str) -> Result<Value> {
    find(ctx, kind, needle).await?.ok_or_else(|| {
        Failure::Missing(format!("no {} is named or has the id `{needle}` (see `{}`)", kind.what, kind.hint))
    })
}

/// The fewest characters of a job id `edp` takes as a prefix: fewer would
/// match several jobs too often to be worth typing.
pub const MIN_PREFIX: usize = 6;
/// Candidates shown when a prefix is ambiguous.
const CANDIDATES: usize = 10;

/// The job id for what was typed: a whole id, a unique prefix of one
/// (at least [`MIN_PREFIX`] characters), or the engine's id for the job
/// (a YARN application, a Spark driver, an Oozie workflow, a pid). Both are
/// looked up with the API's filters (`?id_prefix=`, `?engine_job_id=`).
pub async fn job(ctx: &Ctx, needle: &str) -> Result<String> {
    let needle = needle.trim();
    if needle.is_empty() {
        return Err(Failure::usage("the job id is empty"));
    }
    if looks_like_id(needle) {
        return Ok(needle.to_ascii_lowercase());
    }
    let query = |key: &'static str| {
        [(key, needle.to_string()), ("sort_by", "-created_at".into()), ("limit", (CANDIDATES + 1).to_string())]
    };
    let mut found = ctx.api.list("/v2/jobs", "jobs", &query("engine_job_id")).await?;
    if id_shaped(needle) && needle.len() >= MIN_PREFIX {
        for job in ctx.api.list("/v2/jobs", "jobs", &query("id_prefix")).await? {
            if !found.iter().any(|f| text(f, "id") == text(&job, "id")) {
                found.push(job);
            }
        }
    }
    choose(needle, &found)
}

/// The one job among those `needle` matched, or why there is not one.
fn choose(needle: &str, found: &[Value]) -> Result<String> {
    match found {
        [one] => Ok(text(one, "id")),
        [] if id_shaped(needle) && needle.len() < MIN_PREFIX => Err(Failure::usage(format!(
            "`{needle}` is too short for the start of a job id: give at least {MIN_PREFIX} characters, the whole \
             id, or the engine's job id"
        ))),
        [] => Err(Failure::Missing(format!(
            "no job has the id, an id starting with, or the engine job id `{needle}` (see `edp list`)"
        ))),
        many => {
            let more = if many.len() > CANDIDATES { ", and more" } else { "" };
            let lines: Vec<String> = many
                .iter()
                .take(CANDIDATES)
                .map(|j| {
                    let engine_id = text(j, "engine_job_id");
                    let engine_id =
                        if engine_id.is_empty() { String::new() } else { format!("  engine job {engine_id}") };
                    format!("  {}  {:<10} {}{engine_id}", text(j, "id"), status(j), text(j, "created_at"))
                })
                .collect();
            Err(Failure::usage(format!(
                "`{needle}` matches several jobs{more}; give more of the id:\n{}",
                lines.join("\n")
            )))
        }
    }
}

/// Could be the start of a job id: hexadecimal digits and `-`.
fn id_shaped(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// A value that must be one of `valid` (compared ignoring case): its
/// canonical spelling, or a usage error that lists the valid ones.
pub fn one_of(what: &str, raw: &str, valid: &[&str]) -> Result<String> {
    valid
        .iter()
        .find(|v| v.eq_ignore_ascii_case(raw.trim()))
        .map(|v| v.to_string())
        .ok_or_else(|| Failure::usage(format!("unknown {what} `{raw}`: use one of {}", valid.join(", "))))
}

/// Sahara's job statuses, as `edp list --status` takes them.
pub const JOB_STATUSES: [&str; 9] =
    ["PENDING", "PREP", "RUNNING", "SUSPENDED", "TOBEKILLED", "SUCCEEDED", "FAILED", "KILLED", "DONEWITHERROR"];
/// A flow's statuses.
pub const FLOW_STATUSES: [&str; 4] = ["RUNNING", "SUCCEEDED", "FAILED", "KILLED"];

/// The job types edpd's engines run (`GET /v2/job-types`).
pub struct JobTypes(Vec<String>);

impl JobTypes {
    pub async fn fetch(ctx: &Ctx) -> Result<Self> {
        let types = ctx.api.list("/v2/job-types", "job_types", &[]).await?;
        Ok(Self(types.iter().map(|t| text(t, "name")).filter(|n| !n.is_empty()).collect()))
    }

    /// The type's canonical spelling (`-t shell` → `Shell`), or a usage
    /// error listing the types edpd runs.
    pub fn canonical(&self, raw: &str) -> Result<String> {
        let valid: Vec<&str> = self.0.iter().map(String::as_str).collect();
        one_of("job type", raw, &valid).map_err(|e| match valid.is_empty() {
            true => {
                Failure::usage(format!("edpd has no engine that runs jobs (asked for a {raw} job); see `edp engines`"))
            }
            false => e,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(id: &str, engine: &str) -> Value {
        json!({"id": id, "engine_job_id": engine, "info": {"status": "RUNNING"}, "created_at": "2026-01-02T03:04:05"})
    }

    #[test]
    fn one_match_is_the_job_and_several_are_listed() {
        let a = job("3f0c12aa-0000-4000-8000-000000000001", "4242");
        let b = job("3f0c12bb-0000-4000-8000-000000000002", "");
        assert_eq!(choose("3f0c12a", std::slice::from_ref(&a)).unwrap(), text(&a, "id"));
        let ambiguous = choose("3f0c12", &[a, b]).unwrap_err();
        assert_eq!(ambiguous.exit_code(), crate::error::code::USAGE);
        let message = ambiguous.to_string();
        assert!(message.starts_with("`3f0c12` matches several jobs; give more of the id:"), "{message}");
        assert!(
            message.contains("3f0c12aa-0000-4000-8000-000000000001  RUNNING    2026-01-02T03:04:05  engine job 4242")
        );
        assert!(message.contains("3f0c12bb-0000-4000-8000-000000000002  RUNNING"), "{message}");
        let many: Vec<Value> = (0..=CANDIDATES).map(|i| job(&format!("3f0c12{i:02}"), "")).collect();
        assert!(choose("3f0c12", &many).unwrap_err().to_string().contains("several jobs, and more;"));
    }

    #[test]
    fn nothing_found_is_too_short_or_missing() {
        let short = choose("3f0c", &[]).unwrap_err();
        assert_eq!(short.exit_code(), crate::error::code::USAGE);
        assert!(short.to_string().contains("at least 6 characters"), "{short}");
        assert_eq!(choose("3f0c12", &[]).unwrap_err().exit_code(), crate::error::code::REFUSED);
        assert_eq!(choose("app", &[]).unwrap_err().exit_code(), crate::error::code::REFUSED);
    }

    #[test]
    fn enumerated_values_list_the_valid_ones() {
        assert_eq!(one_of("job status", "running", &JOB_STATUSES).unwrap(), "RUNNING");
        let e = one_of("flow status", "DONE", &FLOW_STATUSES).unwrap_err();
        assert_eq!(e.to_string(), "unknown flow status `DONE`: use one of RUNNING, SUCCEEDED, FAILED, KILLED");
        let types = JobTypes(vec!["Shell".into(), "Spark".into()]);
        assert_eq!(types.canonical("shell").unwrap(), "Shell");
        assert!(types.canonical("Shel").unwrap_err().to_string().ends_with("use one of Shell, Spark"));
    }
}
