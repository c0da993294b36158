//! `edp submit --dry-run`: what the engine would run, asked of edpd with
//! nothing created. Every decision a submission makes (which binary is
//! reused or under which name a file would be uploaded, which template is
//! reused or which version would be created, which data source) is made
//! with reads only; what does not exist yet goes to `POST /v2/jobs/dry-run`
//! inline, and edpd stores nothing of it.
//!
//! Printed for people: a command line that can be pasted into a shell
//! (each word shell-quoted), with everything else as `#` comments; notes
//! and warnings on stderr. `--json`: the server's `dry_run` object.

use serde_json::{Value, json};

use crate::cmd::Ctx;
use crate::cmd::prepare::{self, BinaryPlan, TemplatePlan};
use crate::cmd::submit::{self, SourcePlan};
use crate::error::{Result, code};
use crate::jobfile::Layer;
use crate::output::{self, note, shell_quote, text};

pub async fn run(ctx: &Ctx, spec: &Layer, name: &str, kind: &str, job_configs: Value, cluster: &Value) -> Result<i32> {
    let mut mains = Vec::new();
    for raw in spec.mains.iter().flatten() {
        mains.push((raw.clone(), prepare::plan_binary(ctx, raw).await?));
    }
    let mut libs = Vec::new();
    for raw in spec.libs.iter().flatten() {
        libs.push((raw.clone(), prepare::plan_binary(ctx, raw).await?));
    }
    let mut would = Vec::new();
    for (raw, plan) in mains.iter().chain(&libs) {
        match plan {
            BinaryPlan::Existing(_) => {}
            BinaryPlan::Upload { name, .. } => would.push(format!("upload {raw} as job binary `{name}`")),
            BinaryPlan::Register { name, .. } => would.push(format!("register {raw} as job binary `{name}`")),
        }
    }

    let ids = |plans: &[(String, BinaryPlan)]| plans.iter().map(|(_, p)| p.existing_id()).collect::<Option<Vec<_>>>();
    let existing = ids(&mains).zip(ids(&libs));
    let binaries = existing.as_ref().map(|(m, l)| (m.as_slice(), l.as_slice()));
    let mut body = json!({"cluster_id": text(cluster, "id"), "job_configs": job_configs});
    match prepare::plan_template(ctx, name, kind, binaries).await? {
        TemplatePlan::Existing(template) => body["job_template_id"] = json!(text(&template, "id")),
        TemplatePlan::Create { name: new_name, .. } => {
            would.push(format!("create template `{new_name}`"));
            let inline = |plans: &[(String, BinaryPlan)]| plans.iter().map(|(_, p)| p.inline()).collect::<Vec<_>>();
            body["job_template"] =
                json!({"name": new_name, "type": kind, "mains": inline(&mains), "libs": inline(&libs)});
        }
    }
    for (role, raw) in [("input", &spec.input), ("output", &spec.output)] {
        let Some(raw) = raw else { continue };
        match submit::plan_data_source(ctx, raw).await? {
            SourcePlan::Existing(id) => body[format!("{role}_id")] = json!(id),
            SourcePlan::Create { name, kind, url } => {
                would.push(format!("register {url} as data source `{name}`"));
                body[role] = json!({"name": name, "type": kind, "url": url});
            }
        }
    }

    let answer = ctx.api.post("/v2/jobs/dry-run", &body).await?;
    let dry = &answer["dry_run"];
    for warning in dry["warnings"].as_array().into_iter().flatten() {
        note(format!("warning: {}", warning.as_str().unwrap_or_default()));
    }
    if ctx.json {
        output::json(dry);
    } else {
        print(dry, &would);
    }
    Ok(code::OK)
}

/// The engine's request for people (see the module comment).
fn print(dry: &Value, would: &[String]) {
    let kind = text(dry, "kind");
    let request = &dry["request"];
    println!("# what the engine would run ({kind}); nothing was submitted or created");
    match (kind.as_str(), request) {
        ("argv" | "spark-submit", Value::Object(req)) => {
            if let Some(cwd) = req.get("cwd").and_then(Value::as_str) {
                println!("# in {cwd}");
            }
            let words = |v: Option<&Value>| -> Vec<String> {
                v.and_then(Value::as_array).into_iter().flatten().map(|w| word(w).to_string()).collect()
            };
            let env: Vec<(String, String)> = req
                .get("env")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), word(v).to_string()))
                .collect();
            println!("{}", output::command_line(&env, &words(req.get("argv"))));
        }
        ("rest", Value::Object(req)) => {
            let body = req.get("body").map(Value::to_string).unwrap_or_default();
            let argv = [
                "curl",
                "-X",
                req.get("method").and_then(Value::as_str).unwrap_or("POST"),
                req.get("url").and_then(Value::as_str).unwrap_or_default(),
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &body,
            ];
            println!("{}", argv.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" "));
        }
        (_, Value::String(s)) => println!("{s}"),
        (_, other) => output::json(other),
    }
    if let Some(Value::Object(files)) = dry.get("files")
        && !files.is_empty()
    {
        println!("# files it would stage:");
        for (name, place) in files {
            println!("#   {name} -> {}", place.as_str().unwrap_or_default());
        }
    }
    if !would.is_empty() {
        println!("# a submission would also {}", would.join(", "));
    }
}

/// A JSON string as is; anything else as JSON text.
fn word(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => s.into(),
        other => other.to_string().into(),
    }
}
