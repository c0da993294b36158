//! One module per command group; [`run`] dispatches. Every command returns
//! its exit code on success (a waited-for job's outcome) or a `Failure`.

mod catalog;
mod dry_run;
mod flows;
mod jobs;
mod logs;
mod monitor;
mod prepare;
mod resolve;
mod submit;

pub use prepare::sanitize;

use crate::api::Client;
use crate::args::{Cli, Command};
use crate::config::{self, Settings};
use crate::error::Result;

/// What every command needs.
pub struct Ctx {
    pub api: Client,
    pub settings: Settings,
    pub json: bool,
}

pub async fn run(cli: Cli) -> Result<i32> {
    let settings = config::load(&cli.global)?;
    let ctx = Ctx { api: Client::new(&settings)?, settings, json: cli.global.json };
    match cli.command {
        Command::Submit(args) => submit::run(&ctx, *args).await,
        Command::List(args) => jobs::list(&ctx, args).await,
        Command::Status { id } => jobs::status(&ctx, &id).await,
        Command::Monitor { id } => jobs::monitor(&ctx, &id).await,
        Command::Logs(args) => logs::run(&ctx, args).await,
        Command::Rerun { id, wait } => jobs::rerun(&ctx, &id, wait).await,
        Command::Cancel { id, wait } => jobs::cancel(&ctx, &id, wait).await,
        Command::Engines => catalog::engines(&ctx).await,
        Command::Clusters(c) => catalog::clusters(&ctx, c).await,
        Command::DataSources(c) => catalog::data_sources(&ctx, c).await,
        Command::Templates(c) => catalog::templates(&ctx, c).await,
        Command::Flow(c) => flows::run(&ctx, c).await,
    }
}
