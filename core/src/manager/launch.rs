//! Launching a PENDING execution: `run_job`, then record what the engine
//! said. A transient failure is retried with backoff (the execution id makes
//! `run_job` idempotent); anything else fails the job with the reason.
//!
//! Every write is under the launch's lease: if this node lost it (it hung
//! past the lease, another node took over and launched), nothing it learnt
//! is written, and the engine, asked twice with one submission tag, started
//! the job once.

use sea_orm::Set;

use crate::Edp;
use crate::db::Commit;
use crate::error::Result;
use crate::status::Status;
use crate::time;

use super::lease::{self, Claimed};
use super::{policy, poll, rows};

pub(crate) async fn launch(edp: &Edp, claimed: Claimed) -> Result<()> {
    let Claimed { row, lease } = claimed;
    let Some(engine) = edp.engines().get(&row.engine) else {
        let reason = format!("engine '{}' is not loaded", row.engine);
        let failed = rows::finish(&row, Status::Failed, &reason);
        if rows::settle(edp, Commit::Flushed, &lease, Status::Pending, failed).await? {
            crate::observe::job_ended(&row, Status::Failed, Some(&reason));
        }
        return Ok(());
    };
    let request = rows::request(&row)?;

    match engine.client.run_job(&request, edp.settings().launch_timeout).await {
        Ok(launched) => {
            let engine_job_id = launched.engine_job_id.clone();
            let mut extra = row.extra.clone();
            extra["engine"] = launched.extra;
            let mut recorded = rows::blank();
            recorded.engine_job_id = Set(Some(launched.engine_job_id));
            recorded.extra = Set(extra);
            recorded.start_time = Set(Some(time::now()));
            recorded.attempts = Set(0);

            let status = Status::from(launched.status);
            let mut launched_row = recorded.clone();
            launched_row.status = Set(status.as_str().into());
            launched_row.info = Set(rows::info(status, launched.info));
            if status.is_terminal() {
                launched_row.end_time = Set(Some(time::now()));
                launched_row.next_action_at = Set(None);
                launched_row = policy::on_end(&row, status, launched_row).1;
            } else {
                launched_row.next_action_at = Set(Some(policy::cap(&row, rows::later(poll::first_poll(&engine)))));
            }
            // Unflushed: lost, the launch is resumed and its submission
            // tag finds the job the engine has (`run_job` is idempotent).
            if rows::settle(edp, Commit::Unflushed, &lease, Status::Pending, launched_row).await? {
                crate::observe::job_launched(&row, &engine_job_id, status);
            } else {
                // A cancel came while the engine was launching: keep
                // TOBEKILLED, record what the kill needs, cancel now.
                recorded.next_action_at = Set(Some(time::now()));
                if rows::settle_any(edp, Commit::Unflushed, &lease, recorded).await? {
                    crate::observe::job_launched(&row, &engine_job_id, Status::ToBeKilled);
                }
                edp.jobs().wake();
            }
        }
        Err(e) if e.is_transient() && row.attempts + 1 < edp.settings().launch_attempts => {
            let attempts = row.attempts + 1;
            let mut retry = rows::blank();
            retry.attempts = Set(attempts);
            retry.next_action_at = Set(Some(rows::later(std::time::Duration::from_secs(1 << attempts.min(6)))));
            retry.info = Set(rows::info_with(&row, Status::Pending, "launch_error", e.to_string().into()));
            if rows::settle(edp, Commit::Unflushed, &lease, Status::Pending, retry).await? {
                crate::observe::launch_retried(&row, attempts, &e);
            } else {
                lease::release(edp, &lease).await?;
                edp.jobs().wake();
            }
        }
        Err(e) => {
            let failed = rows::finish(&row, Status::Failed, &e.to_string());
            let ending = crate::observe::ending(&failed);
            // Flushed: lost, the launch would be tried again after a user
            // was told it failed.
            if rows::settle(edp, Commit::Flushed, &lease, Status::Pending, failed).await? {
                crate::observe::ended(&row, ending);
            } else {
                lease::release(edp, &lease).await?;
                edp.jobs().wake();
            }
        }
    }
    Ok(())
}
