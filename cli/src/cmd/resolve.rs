//! From what people type (a name or an id) to the object. Ids are tried
//! first when the text looks like one; names must match exactly (the API's
//! `?name=` filter is a substring match).

use serde_json::Value;

use crate::api::segment;
use crate::cmd::Ctx;
use crate::error::{Failure, Result};
use crate::output::text;

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
