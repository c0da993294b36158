//! `list`, `status`, `monitor`, `rerun`, `cancel`: job executions once
//! launched.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::api::segment;
use crate::args::ListArgs;
use crate::cmd::monitor::{self, Until};
use crate::cmd::resolve::{self, CLUSTER, JOB_STATUSES};
use crate::cmd::{Ctx, submit};
use crate::error::{Failure, Result, code};
use crate::output::{
    self, duration, elapsed, fields, is_terminal, note, progress, shell_quote, status as job_status, table, text,
};

pub async fn list(ctx: &Ctx, args: ListArgs) -> Result<i32> {
    if !(1..=1000).contains(&args.limit) {
        return Err(Failure::usage("--limit must be between 1 and 1000"));
    }
    let mut query = vec![("sort_by", "-created_at".to_string()), ("limit", args.limit.to_string())];
    let statuses: Vec<String> = args
        .status
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| resolve::one_of("job status", s, &JOB_STATUSES))
        .collect::<Result<_>>()?;
    if !statuses.is_empty() {
        query.push(("status", statuses.join(",")));
    }
    if let Some(cluster) = &args.cluster {
        query.push(("cluster_id", text(&resolve::require(ctx, &CLUSTER, cluster).await?, "id")));
    }
    let body = ctx.api.get("/v2/jobs", &query).await?;
    let jobs = body["jobs"].as_array().cloned().unwrap_or_default();
    if ctx.json {
        output::json(&Value::Array(jobs));
        return Ok(code::OK);
    }
    let templates = names(ctx, "/v2/job-templates", "job_templates").await?;
    let clusters = names(ctx, "/v2/clusters", "clusters").await?;
    let name_of = |map: &HashMap<String, String>, id: String| map.get(&id).cloned().unwrap_or(id);
    let rows = jobs
        .iter()
        .map(|j| {
            vec![
                text(j, "id"),
                job_status(j),
                name_of(&templates, text(j, "job_template_id")),
                name_of(&clusters, text(j, "cluster_id")),
                text(j, "created_at"),
                elapsed(j).map(duration).unwrap_or_default(),
                text(j, "return_code"),
            ]
        })
        .collect();
    table(&["ID", "STATUS", "TEMPLATE", "CLUSTER", "CREATED", "ELAPSED", "RC"], rows);
    if body.pointer("/markers/next").is_some_and(|m| !m.is_null()) {
        note(format!("showing the {} most recent; --limit shows more", jobs.len()));
    }
    Ok(code::OK)
}

/// id → name for a whole collection; the table shows names.
async fn names(ctx: &Ctx, path: &str, key: &str) -> Result<HashMap<String, String>> {
    Ok(ctx.api.list(path, key, &[]).await?.iter().map(|o| (text(o, "id"), text(o, "name"))).collect())
}

pub async fn status(ctx: &Ctx, id: &str) -> Result<i32> {
    let id = resolve::job(ctx, id).await?;
    let job = get(ctx, &id).await?;
    if ctx.json {
        output::json(&job);
        return Ok(code::OK);
    }
    // Names are a nicety: an object deleted since still shows by id.
    let named = |path: String, key: &'static str| async move {
        ctx.api.get(&path, &[]).await.ok().map(|b| text(&b[key], "name")).filter(|n| !n.is_empty())
    };
    let template_id = text(&job, "job_template_id");
    let cluster_id = text(&job, "cluster_id");
    let template = named(format!("/v2/job-templates/{}", segment(&template_id)), "job_template").await;
    let cluster = named(format!("/v2/clusters/{}", segment(&cluster_id)), "cluster").await;
    let with_id = |name: Option<String>, id: String| match name {
        Some(n) => format!("{n} ({id})"),
        None => id,
    };
    let mut rows = vec![
        ("id", text(&job, "id")),
        ("status", job_status(&job)),
        ("template", with_id(template, template_id)),
        ("cluster", with_id(cluster, cluster_id)),
        ("engine", text(&job, "engine")),
        ("engine job", text(&job, "engine_job_id")),
        ("return code", text(&job, "return_code")),
        ("created", text(&job, "created_at")),
        ("started", text(&job, "start_time")),
        ("ended", text(&job, "end_time")),
        ("elapsed", elapsed(&job).map(duration).unwrap_or_default()),
    ];
    if let Some(p) = progress(&job) {
        rows.push(("progress", p));
    }
    for key in ["reason", "cancel_error", "poll_error"] {
        if let Some(why) = job.pointer(&format!("/info/{key}")).and_then(Value::as_str) {
            rows.push((key, why.to_string()));
        }
    }
    let args = job.pointer("/job_configs/args").and_then(Value::as_array).filter(|a| !a.is_empty());
    if let Some(args) = args {
        let quoted: Vec<String> = args.iter().map(|a| shell_quote(a.as_str().unwrap_or(&a.to_string()))).collect();
        rows.push(("args", quoted.join(" ")));
    }
    fields(&rows);
    Ok(code::OK)
}

pub async fn monitor(ctx: &Ctx, id: &str) -> Result<i32> {
    let id = resolve::job(ctx, id).await?;
    let job = monitor::watch(ctx, &id, Until::End).await?;
    if ctx.json {
        output::json(&job);
    }
    Ok(monitor::exit_code(&job))
}

/// A new job from the request that made this one (`POST .../rerun`),
/// printed as `submit` prints one.
pub async fn rerun(ctx: &Ctx, id: &str, wait: bool) -> Result<i32> {
    let id = resolve::job(ctx, id).await?;
    let answer = ctx.api.post(&format!("/v2/jobs/{}/rerun", segment(&id)), &json!({})).await?;
    let job = &answer["job"];
    note(format!("job {} submitted again from {id} ({})", text(job, "id"), job_status(job)));
    submit::launched_job(ctx, job, wait).await
}

/// Sahara's cancel (PATCH `info.status = cancel`). A finished job is left
/// as it is. With --wait: 0 when the job ends KILLED, 1 when it ended some
/// other way or edpd could not confirm the cancel.
pub async fn cancel(ctx: &Ctx, id: &str, wait: bool) -> Result<i32> {
    let id = &resolve::job(ctx, id).await?;
    let answer = ctx.api.patch(&format!("/v2/jobs/{}", segment(id)), &json!({"info": {"status": "cancel"}})).await?;
    let job = answer["job"].clone();
    let st = job_status(&job);
    if !wait {
        if ctx.json {
            output::json(&job);
        } else if is_terminal(&st) && st != "KILLED" {
            println!("job {id} had already ended: {st}");
        } else {
            println!("job {id}: cancel requested ({st})");
        }
        return Ok(code::OK);
    }
    if !ctx.json {
        println!("job {id}: cancel requested ({st}); waiting");
    }
    let done = monitor::watch(ctx, id, Until::CancelSettled).await?;
    if ctx.json {
        output::json(&done);
    }
    Ok(if job_status(&done) == "KILLED" { code::OK } else { code::JOB_FAILED })
}

async fn get(ctx: &Ctx, id: &str) -> Result<Value> {
    Ok(ctx.api.get(&format!("/v2/jobs/{}", segment(id)), &[]).await?["job"].clone())
}
