//! `engines`, `clusters`, `data-sources`, `templates`: what jobs run on and
//! with.

use serde_json::{Map, Value, json};

use crate::args::{ClustersCommand, DataSourcesCommand, TemplatesCommand};
use crate::cmd::Ctx;
use crate::cmd::resolve::JobTypes;
use crate::error::{Failure, Result, code};
use crate::output::{self, note, table, text};

pub async fn engines(ctx: &Ctx) -> Result<i32> {
    let body = ctx.api.get("/v2/engines", &[]).await?;
    if ctx.json {
        output::json(&body);
        return Ok(code::OK);
    }
    let engines = body["engines"].as_array().cloned().unwrap_or_default();
    let rows = engines
        .iter()
        .map(|e| {
            let caps: Vec<String> = e["capabilities"]
                .as_object()
                .map(|c| c.iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k.clone()).collect())
                .unwrap_or_default();
            vec![text(e, "id"), text(e, "version"), list(&e["job_types"]), caps.join(","), text(e, "title")]
        })
        .collect();
    table(&["ID", "VERSION", "JOB TYPES", "CAPABILITIES", "TITLE"], rows);
    for refused in body["refused"].as_array().into_iter().flatten() {
        println!("refused: {}: {}", text(refused, "file"), text(refused, "reason"));
    }
    Ok(code::OK)
}

pub async fn clusters(ctx: &Ctx, command: ClustersCommand) -> Result<i32> {
    match command {
        ClustersCommand::List => {
            let clusters = ctx.api.list("/v2/clusters", "clusters", &[]).await?;
            if ctx.json {
                output::json(&Value::Array(clusters));
                return Ok(code::OK);
            }
            let rows = clusters
                .iter()
                .map(|c| {
                    vec![
                        text(c, "name"),
                        text(c, "id"),
                        text(c, "plugin_name"),
                        text(c, "status"),
                        text(c, "status_description"),
                    ]
                })
                .collect();
            table(&["NAME", "ID", "ENGINE", "STATUS", "DETAIL"], rows);
        }
        ClustersCommand::Add { name, engine, configs, description } => {
            let mut cluster_configs = Map::new();
            for (key, raw) in configs {
                // JSON when it parses, so ports are numbers and nested
                // settings are objects; otherwise the text itself.
                let value = serde_json::from_str(&raw).unwrap_or(Value::String(raw));
                cluster_configs.insert(key, value);
            }
            let body = json!({
                "name": name,
                "plugin_name": engine,
                "cluster_configs": cluster_configs,
                "description": description.unwrap_or_default(),
            });
            let cluster = ctx.api.post("/v2/clusters", &body).await?["cluster"].clone();
            if ctx.json {
                output::json(&cluster);
            } else {
                println!(
                    "cluster `{}` registered: {} ({})",
                    text(&cluster, "name"),
                    text(&cluster, "id"),
                    text(&cluster, "status")
                );
            }
            if text(&cluster, "status") == "Error" {
                // Registered all the same; edpd checks again at each launch.
                note(format!("the engine cannot use it yet: {}", text(&cluster, "status_description")));
            }
        }
    }
    Ok(code::OK)
}

pub async fn data_sources(ctx: &Ctx, command: DataSourcesCommand) -> Result<i32> {
    match command {
        DataSourcesCommand::List => {
            let sources = ctx.api.list("/v2/data-sources", "data_sources", &[]).await?;
            if ctx.json {
                output::json(&Value::Array(sources));
                return Ok(code::OK);
            }
            let rows =
                sources.iter().map(|d| vec![text(d, "name"), text(d, "id"), text(d, "type"), text(d, "url")]).collect();
            table(&["NAME", "ID", "TYPE", "URL"], rows);
        }
        DataSourcesCommand::Add { name, location, kind, description } => {
            let url = if location.starts_with('/') { format!("file://{location}") } else { location };
            let kind = match kind {
                Some(k) => k,
                None => url
                    .split_once("://")
                    .map(|(scheme, _)| scheme.to_string())
                    .ok_or_else(|| Failure::usage(format!("cannot tell the type of `{url}`: give --type")))?,
            };
            let body = json!({"name": name, "type": kind, "url": url, "description": description.unwrap_or_default()});
            let source = ctx.api.post("/v2/data-sources", &body).await?["data_source"].clone();
            if ctx.json {
                output::json(&source);
            } else {
                println!("data source `{}` registered: {}", text(&source, "name"), text(&source, "id"));
            }
        }
    }
    Ok(code::OK)
}

pub async fn templates(ctx: &Ctx, command: TemplatesCommand) -> Result<i32> {
    let TemplatesCommand::List { kind } = command;
    let mut query = Vec::new();
    if let Some(kind) = kind {
        query.push(("type", JobTypes::fetch(ctx).await?.canonical(&kind)?));
    }
    let templates = ctx.api.list("/v2/job-templates", "job_templates", &query).await?;
    if ctx.json {
        output::json(&Value::Array(templates));
        return Ok(code::OK);
    }
    let names = |v: &Value| -> String {
        v.as_array().map(|a| a.iter().map(|b| text(b, "name")).collect::<Vec<_>>().join(",")).unwrap_or_default()
    };
    let rows = templates
        .iter()
        .map(|t| vec![text(t, "name"), text(t, "id"), text(t, "type"), names(&t["mains"]), names(&t["libs"])])
        .collect();
    table(&["NAME", "ID", "TYPE", "MAINS", "LIBS"], rows);
    Ok(code::OK)
}

fn list(v: &Value) -> String {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")).unwrap_or_default()
}
