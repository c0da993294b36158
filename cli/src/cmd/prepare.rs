//! What a launch refers to, made to exist: job binaries (local files
//! uploaded, URLs registered) and the job template. Both are reused when
//! an identical one exists, so submitting the same job again adds nothing.
//!
//! - A local file becomes an internal binary named after the file; its
//!   SHA-256 is recorded in the binary's description (`sha256:<hex>`). A
//!   binary of that name with that hash is reused. If the name is taken by
//!   other content, the binary is named `<stem>-<first 8 hex><.ext>`, so
//!   the extension (which engines look at) is kept.
//! - A `file://`, `hdfs://` or `internal-db://` URL reuses any binary with
//!   that exact URL, else registers one.
//! - Every decision is made with reads only (`plan_binary`,
//!   `plan_template`), so `submit --dry-run` can show what a submission
//!   would use, or name, without creating anything.
//! - A template named N is reused when its type, mains and libs (in order)
//!   are the ones asked for; versions `N-v2`, `N-v3`... are considered too.
//!   Otherwise a new template is created: N if free, else the next `N-vK`.
//!   Old jobs keep pointing at the template they ran with.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::segment;
use crate::cmd::Ctx;
use crate::cmd::resolve::{self, BINARY};
use crate::error::{Failure, Result};
use crate::output::{note, text};

/// The longest name edpd takes for binaries and templates.
const NAME_MAX: usize = 80;

/// What a `--main`/`--lib` entry comes to, decided without writing
/// anything: a dry run stops here, a submission carries it out.
pub enum BinaryPlan {
    /// An existing job binary, reused.
    Existing(Value),
    /// A local file, to upload as an internal binary named `name`.
    Upload { path: PathBuf, bytes: Vec<u8>, name: String, marker: String },
    /// A URL, to register as a job binary named `name`.
    Register { url: String, name: String },
}

impl BinaryPlan {
    /// The binary as a dry run's inline template names it: an id, or
    /// `{"name", "url"}` (no `url`: a file the submission would upload).
    pub fn inline(&self) -> Value {
        match self {
            Self::Existing(binary) => json!(text(binary, "id")),
            Self::Upload { name, .. } => json!({"name": name}),
            Self::Register { url, name } => json!({"name": name, "url": url}),
        }
    }

    /// The id, when the binary exists already.
    pub fn existing_id(&self) -> Option<String> {
        match self {
            Self::Existing(binary) => Some(text(binary, "id")),
            _ => None,
        }
    }
}

/// The job binary for one `--main`/`--lib` entry, made to exist.
pub async fn binary(ctx: &Ctx, raw: &str) -> Result<Value> {
    // A second round only when a concurrent submission took a name between
    // our look-up and our create.
    for round in 0..2 {
        let created = match plan_binary(ctx, raw).await? {
            BinaryPlan::Existing(binary) => return Ok(binary),
            BinaryPlan::Upload { path, bytes, name, marker } => {
                create_internal(ctx, &name, &bytes, &marker).await.map(|b| (b, format!("uploaded {}", path.display())))
            }
            BinaryPlan::Register { url, name } => ctx
                .api
                .post(BINARY.path, &json!({"name": name, "url": url}))
                .await
                .map(|b| (b["job_binary"].clone(), format!("registered {url}"))),
        };
        match created {
            Ok((binary, what)) => {
                note(format!("{what} as job binary `{}`", text(&binary, "name")));
                return Ok(binary);
            }
            Err(e) if round == 0 && e.error_name() == Some("NAME_ALREADY_EXISTS") => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the second round returns")
}

/// What [`binary`] would do (see the module comment), with reads only.
pub async fn plan_binary(ctx: &Ctx, raw: &str) -> Result<BinaryPlan> {
    if let Some(internal) = raw.strip_prefix("internal-db://") {
        let body = ctx.api.get(&format!("/v2/job-binary-internals/{}", segment(internal)), &[]).await?;
        let name = text(&body["job_binary_internal"], "name");
        return by_url(ctx, raw, if name.is_empty() { "binary".into() } else { sanitize(&name) }).await;
    }
    if raw.contains("://") {
        let last = raw.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        return by_url(ctx, raw, sanitize(last)).await;
    }
    let path = Path::new(raw);
    if path.is_file() {
        return upload(ctx, path).await;
    }
    // Binary names have no `/`: this was meant as a file.
    if raw.contains('/') || path.exists() {
        return Err(Failure::usage(format!("`{raw}` is not a readable file")));
    }
    resolve::find(ctx, &BINARY, raw)
        .await?
        .map(BinaryPlan::Existing)
        .ok_or_else(|| Failure::usage(format!("`{raw}` is neither a file nor the name or id of a job binary")))
}

async fn upload(ctx: &Ctx, path: &Path) -> Result<BinaryPlan> {
    let bytes = std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let digest = hex(&Sha256::digest(&bytes));
    let marker = format!("sha256:{digest}");
    let base = sanitize(&path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let names = [base.clone(), suffixed(&base, &digest[..8])];
    for name in &names {
        match resolve::named(ctx, &BINARY, name).await?.into_iter().next() {
            Some(found) if text(&found, "description").contains(&marker) => return Ok(BinaryPlan::Existing(found)),
            Some(_) => continue,
            None => return Ok(BinaryPlan::Upload { path: path.to_path_buf(), bytes, name: name.clone(), marker }),
        }
    }
    Err(Failure::usage(format!(
        "job binaries `{}` and `{}` exist with other content than {}; rename the file",
        names[0],
        names[1],
        path.display()
    )))
}

async fn create_internal(ctx: &Ctx, name: &str, bytes: &[u8], marker: &str) -> Result<Value> {
    let internal = ctx.api.put_bytes(&format!("/v2/job-binary-internals/{name}"), bytes.to_vec()).await?;
    let internal_id = text(&internal["job_binary_internal"], "id");
    let body = json!({
        "name": name,
        "url": format!("internal-db://{internal_id}"),
        "description": format!("uploaded by edp; {marker}"),
    });
    match ctx.api.post("/v2/job-binaries", &body).await {
        Ok(created) => Ok(created["job_binary"].clone()),
        Err(e) => {
            // Leave no orphaned bytes behind; the original error matters more.
            let _ = ctx.api.delete(&format!("/v2/job-binary-internals/{}", segment(&internal_id))).await;
            Err(e)
        }
    }
}

async fn by_url(ctx: &Ctx, url: &str, base: String) -> Result<BinaryPlan> {
    let all = ctx.api.list(BINARY.path, BINARY.list_key, &[]).await?;
    if let Some(found) = all.iter().find(|b| text(b, "url") == url) {
        return Ok(BinaryPlan::Existing(found.clone()));
    }
    let taken = |n: &str| all.iter().any(|b| text(b, "name") == n);
    let name = if taken(&base) { suffixed(&base, &hex(&Sha256::digest(url.as_bytes()))[..8]) } else { base };
    Ok(BinaryPlan::Register { url: url.to_string(), name })
}

/// What [`template`] would do, with reads only.
pub enum TemplatePlan {
    Existing(Value),
    /// To create as `name`; `versioned` when `NAME` was taken by another
    /// type or other binaries.
    Create {
        name: String,
        versioned: bool,
    },
}

/// The template to launch: reused or created (see the module comment).
pub async fn template(
    ctx: &Ctx,
    name: &str,
    kind: &str,
    mains: &[String],
    libs: &[String],
    description: Option<&str>,
) -> Result<Value> {
    for round in 0..2 {
        let (new_name, versioned) = match plan_template(ctx, name, kind, Some((mains, libs))).await? {
            TemplatePlan::Existing(same) => return Ok(same),
            TemplatePlan::Create { name, versioned } => (name, versioned),
        };
        let body = json!({
            "name": new_name,
            "type": kind,
            "mains": mains,
            "libs": libs,
            "description": description.unwrap_or("created by edp submit"),
        });
        match ctx.api.post("/v2/job-templates", &body).await {
            Ok(created) => {
                if versioned {
                    note(format!("template `{name}` exists with another type or binaries; created `{new_name}`"));
                } else {
                    note(format!("created template `{new_name}`"));
                }
                return Ok(created["job_template"].clone());
            }
            Err(e) if round == 0 && e.error_name() == Some("NAME_ALREADY_EXISTS") => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("the second round returns")
}

/// The template named `name` (or a version of it) with this type and these
/// binaries, else the name a new one would get. `binaries` is `None` when
/// some do not exist yet, so that no template can match.
pub async fn plan_template(
    ctx: &Ctx,
    name: &str,
    kind: &str,
    binaries: Option<(&[String], &[String])>,
) -> Result<TemplatePlan> {
    let existing = ctx.api.list("/v2/job-templates", "job_templates", &[("name", name.to_string())]).await?;
    let family: Vec<(u32, &Value)> =
        existing.iter().filter_map(|t| version_of(&text(t, "name"), name).map(|v| (v, t))).collect();
    if let Some((mains, libs)) = binaries
        && let Some((_, same)) = family.iter().filter(|(_, t)| matches(t, kind, mains, libs)).max_by_key(|(v, _)| *v)
    {
        return Ok(TemplatePlan::Existing((*same).clone()));
    }
    let next = family.iter().map(|(v, _)| *v).max().map_or(1, |v| v + 1);
    Ok(if next == 1 {
        TemplatePlan::Create { name: name.to_string(), versioned: false }
    } else {
        TemplatePlan::Create { name: format!("{name}-v{next}"), versioned: true }
    })
}

/// 1 for `base` itself, K for `base-vK` (K ≥ 2).
fn version_of(candidate: &str, base: &str) -> Option<u32> {
    if candidate == base {
        return Some(1);
    }
    let k: u32 = candidate.strip_prefix(base)?.strip_prefix("-v")?.parse().ok()?;
    (k >= 2).then_some(k)
}

fn matches(template: &Value, kind: &str, mains: &[String], libs: &[String]) -> bool {
    let ids = |key: &str| -> Vec<String> {
        template[key].as_array().map(|a| a.iter().map(|b| text(b, "id")).collect()).unwrap_or_default()
    };
    text(template, "type").eq_ignore_ascii_case(kind) && ids("mains") == mains && ids("libs") == libs
}

/// A file name as edpd takes names: letters, digits, `-`, `_`, `.`,
/// starting with a letter or digit, at most 80 characters (keeping the
/// extension when cutting).
pub fn sanitize(raw: &str) -> String {
    let cleaned: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect();
    let trimmed = cleaned.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let name = if trimmed.is_empty() { "binary".to_string() } else { trimmed.to_string() };
    fit(&name, "")
}

/// `run.sh` + `1a2b3c4d` → `run-1a2b3c4d.sh`.
fn suffixed(name: &str, tag: &str) -> String {
    fit(name, &format!("-{tag}"))
}

/// `stem + tag + ext` cut to [`NAME_MAX`] by shortening the stem.
fn fit(name: &str, tag: &str) -> String {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    };
    let room = NAME_MAX.saturating_sub(tag.len() + ext.len()).max(1);
    let stem: String = stem.chars().take(room).collect();
    format!("{stem}{tag}{ext}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(sanitize("my script.sh"), "my_script.sh");
        assert_eq!(sanitize(".hidden"), "hidden");
        assert_eq!(sanitize(""), "binary");
        assert_eq!(suffixed("run.sh", "1a2b3c4d"), "run-1a2b3c4d.sh");
        assert_eq!(suffixed("Makefile", "1a2b3c4d"), "Makefile-1a2b3c4d");
        let long = format!("{}.jar", "x".repeat(100));
        assert_eq!(sanitize(&long).len(), NAME_MAX);
        assert!(suffixed(&sanitize(&long), "1a2b3c4d").ends_with("-1a2b3c4d.jar"));
    }

    #[test]
    fn versions() {
        assert_eq!(version_of("etl", "etl"), Some(1));
        assert_eq!(version_of("etl-v3", "etl"), Some(3));
        assert_eq!(version_of("etl-v1", "etl"), None);
        assert_eq!(version_of("etl-daily", "etl"), None);
    }
}
