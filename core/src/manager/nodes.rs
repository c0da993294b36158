//! The edpd processes sharing the database, as each says it is alive
//! (`nodes`): where a host-bound job's node can be reached, and which
//! nodes have gone quiet.
//!
//! Each node writes its row at start and then every [`BEAT`]. A node not
//! seen for `node_timeout` is *lost*: its host-bound jobs are not failed
//! (they may well be running, and come back with their node), but their
//! `info.node_lost` says since when nobody has heard of them; the node's
//! first poll of each after it returns replaces that.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

use crate::Edp;
use crate::entity::{job_execution, node};
use crate::error::Result;
use crate::status::Status;
use crate::time;

use super::rows;

/// How often a node says it is alive.
const BEAT: Duration = Duration::from_secs(5);
/// How often a node looks for lost ones.
const LOOK_FOR_LOST: Duration = Duration::from_secs(10);

/// When this node last wrote its row and looked for lost nodes.
#[derive(Default)]
pub(crate) struct Heart {
    last: Mutex<Option<(Instant, Instant)>>,
    instance: Mutex<Option<String>>,
}

/// Writes this node's row (at start, a new instance), then marks the jobs
/// of lost nodes, each at its own rhythm.
pub(crate) async fn beat(edp: &Edp) -> Result<()> {
    let heart = &edp.jobs().heart;
    let now = Instant::now();
    let (beat_due, look_due) = match *heart.last.lock().expect("heart") {
        None => (true, true),
        Some((beat, look)) => (now - beat >= BEAT, now - look >= LOOK_FOR_LOST),
    };
    if beat_due {
        write(edp).await?;
    }
    if look_due {
        mark_lost(edp).await?;
    }
    let mut last = heart.last.lock().expect("heart");
    let (beat, look) = last.unwrap_or((now, now));
    *last = Some((if beat_due { now } else { beat }, if look_due { now } else { look }));
    Ok(())
}

async fn write(edp: &Edp) -> Result<()> {
    let instance = {
        let mut instance = edp.jobs().heart.instance.lock().expect("instance");
        instance.get_or_insert_with(|| uuid::Uuid::new_v4().to_string()).clone()
    };
    let now = time::now();
    let row = node::ActiveModel {
        id: Set(edp.settings().node_id.clone()),
        instance: Set(instance),
        public_url: Set(edp.settings().public_url.clone().unwrap_or_default()),
        started_at: Set(now),
        last_seen: Set(now),
    };
    node::Entity::insert(row)
        .on_conflict(
            OnConflict::column(node::Column::Id)
                .update_columns([node::Column::Instance, node::Column::PublicUrl, node::Column::LastSeen])
                .to_owned(),
        )
        .exec(edp.db())
        .await?;
    Ok(())
}

/// Where a node is, if it is known and alive.
pub(crate) async fn reachable(edp: &Edp, node_id: &str) -> Result<Option<node::Model>> {
    let cutoff = time::now() - chrono::Duration::from_std(edp.settings().node_timeout).unwrap_or_default();
    Ok(crate::db::by_key(node::Entity::find_by_id(node_id), edp.db()).await?.filter(|n| n.last_seen >= cutoff))
}

/// Says, on each unfinished host-bound job of a node gone quiet, since when.
async fn mark_lost(edp: &Edp) -> Result<()> {
    let cutoff = time::now() - chrono::Duration::from_std(edp.settings().node_timeout).unwrap_or_default();
    let lost: Vec<node::Model> = node::Entity::find()
        .filter(node::Column::LastSeen.lt(cutoff))
        .filter(node::Column::Id.ne(edp.settings().node_id.clone()))
        .all(edp.db())
        .await?;
    for node in lost {
        let jobs = job_execution::Entity::find()
            .filter(job_execution::Column::NodeId.eq(node.id.clone()))
            .filter(job_execution::Column::HostBound.eq(true))
            .filter(job_execution::Column::Status.is_in(Status::ACTIVE.iter().map(|s| s.as_str())))
            .all(edp.db())
            .await?;
        for job in jobs.into_iter().filter(|j| j.info.get("node_lost").is_none()) {
            let status = rows::status(&job);
            let mut changes = rows::blank();
            changes.info = Set(rows::info_with(&job, status, "node_lost", lost_note(&node.id, node.last_seen)));
            rows::write_if(edp, &job.id, status, changes).await?;
            tracing::warn!(execution = %job.id, node = %node.id, "the node running this job has gone quiet");
        }
    }
    Ok(())
}

fn lost_note(node: &str, since: DateTime<Utc>) -> serde_json::Value {
    json!(format!(
        "runs on node {node}, not heard from since {}; it is looked at again when that node is back",
        since.format("%Y-%m-%dT%H:%M:%SZ")
    ))
}
