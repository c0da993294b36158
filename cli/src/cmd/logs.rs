//! `edp logs`: a job's log, read in chunks by byte offset; with --follow,
//! the server-sent events of `GET /v2/jobs/{id}/logs?follow=true` written
//! out as they come. A dropped connection is resumed from the last offset
//! seen, so nothing is printed twice or lost.

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::api::segment;
use crate::args::LogsArgs;
use crate::cmd::{Ctx, resolve};
use crate::error::{Failure, Result, code};
use crate::output::{self, note, outcome_code, text};

/// Attempts to resume a follow that ended without its `end` event.
const RESUMES: u32 = 5;

pub async fn run(ctx: &Ctx, mut args: LogsArgs) -> Result<i32> {
    args.id = resolve::job(ctx, &args.id).await?;
    let path = format!("/v2/jobs/{}/logs", segment(&args.id));
    if args.follow { follow(ctx, &path, &args).await } else { read_all(ctx, &path, &args).await }
}

async fn read_all(ctx: &Ctx, path: &str, args: &LogsArgs) -> Result<i32> {
    let mut offset = 0u64;
    let mut all = String::new();
    let last = loop {
        let mut query = vec![("offset", offset.to_string())];
        if let Some(stream) = &args.stream {
            query.push(("stream", stream.clone()));
        }
        let chunk = ctx.api.get(path, &query).await?["log"].clone();
        let data = text(&chunk, "data");
        let next = chunk["next_offset"].as_u64().unwrap_or(offset);
        if ctx.json {
            all.push_str(&data);
        } else {
            write_out(&data)?;
        }
        let done = data.is_empty() || next <= offset;
        offset = next;
        if done {
            break chunk;
        }
    };
    if ctx.json {
        output::json(&json!({
            "stream": last["stream"],
            "streams": last["streams"],
            "data": all,
            "next_offset": offset,
            "complete": last["complete"],
        }));
    }
    Ok(code::OK)
}

async fn follow(ctx: &Ctx, path: &str, args: &LogsArgs) -> Result<i32> {
    let mut offset = 0u64;
    let mut resumes = 0;
    loop {
        let mut query = vec![("follow", "true".to_string()), ("offset", offset.to_string())];
        if let Some(stream) = &args.stream {
            query.push(("stream", stream.clone()));
        }
        let response = ctx.api.open_stream(path, &query).await?;
        let mut body = response.bytes_stream();
        let mut parser = Sse::default();
        let mut progressed = false;
        loop {
            let bytes = match body.next().await {
                Some(Ok(bytes)) => bytes,
                // Read errors and the end of the body alike: resume below.
                Some(Err(_)) | None => break,
            };
            for (event, data) in parser.push(&bytes) {
                let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                if ctx.json {
                    let mut line = json!({"event": event});
                    if let (Value::Object(line), Value::Object(data)) = (&mut line, &data) {
                        line.extend(data.clone());
                    }
                    println!("{line}");
                }
                match event.as_str() {
                    "log" => {
                        if !ctx.json {
                            write_out(&text(&data, "data"))?;
                        }
                        offset = data["next_offset"].as_u64().unwrap_or(offset);
                        progressed = true;
                    }
                    "end" => {
                        let status = text(&data, "status");
                        if !ctx.json && status != "SUCCEEDED" {
                            let rc = data.get("return_code").filter(|v| !v.is_null());
                            let rc = rc.map(|v| format!(", return code {v}")).unwrap_or_default();
                            note(format!("job {} ended {status}{rc}", args.id));
                        }
                        return Ok(outcome_code(&status));
                    }
                    "error" => {
                        let name = text(&data, "error_name");
                        let message = text(&data, "error_message");
                        return Err(if name == "NOT_FOUND" {
                            Failure::Refused { status: 404, name, message }
                        } else {
                            Failure::Server { status: 500, name, message }
                        });
                    }
                    _ => {}
                }
            }
        }
        // The stream ended without `end`: edpd restarted or a proxy cut us.
        resumes = if progressed { 1 } else { resumes + 1 };
        if resumes > RESUMES {
            return Err(Failure::Protocol("the log stream keeps ending before the job does".into()));
        }
        tokio::time::sleep(Duration::from_millis(500) * resumes).await;
    }
}

fn write_out(data: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    // Flushed per chunk: someone is watching, and lines must show at once.
    match out.write_all(data.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // `edp logs ID | head`: the reader left; that is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(code::OK),
        Err(e) => Err(Failure::usage(format!("cannot write the log: {e}"))),
    }
}

/// A server-sent events parser: bytes in, complete `(event, data)` out.
/// Lines are split on `\n` (a `\r` before it dropped), so a multi-byte
/// character cut between two network chunks is never decoded half.
#[derive(Default)]
struct Sse {
    pending: Vec<u8>,
    event: String,
    data: Vec<String>,
}

impl Sse {
    fn push(&mut self, bytes: &[u8]) -> Vec<(String, String)> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || !self.event.is_empty() {
                    let event =
                        if self.event.is_empty() { "message".to_string() } else { std::mem::take(&mut self.event) };
                    out.push((event, std::mem::take(&mut self.data).join("\n")));
                }
                continue;
            }
            if line.starts_with(':') {
                continue; // keep-alive comment
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = value.to_string(),
                "data" => self.data.push(value.to_string()),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_chunks() {
        let mut sse = Sse::default();
        assert!(sse.push(b"event: log\ndata: {\"a\"").is_empty());
        let got = sse.push(b":1}\n\n: keep-alive\n\nevent: end\r\ndata: {}\r\n\r\n");
        assert_eq!(got, vec![("log".into(), "{\"a\":1}".into()), ("end".into(), "{}".into())]);
        let snow = "data: \u{2603}\n\n".as_bytes();
        assert!(sse.push(&snow[..8]).is_empty());
        assert_eq!(sse.push(&snow[8..]), vec![("message".into(), "\u{2603}".into())]);
    }
}
