use std::path::PathBuf;

use clap::Parser;
use edp_server::{config::Settings, startup::Application, telemetry};

/// edpd allocates and frees many small objects per request (rows, JSON,
/// headers); glibc's malloc spent a quarter of a `GET /v2/jobs/{id}` in
/// `_int_free`/`malloc_consolidate` (BENCHMARKS.md, issue 16). Plugins keep
/// their own allocator: what crosses the ABI is freed by its owner's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// edpd: launch, poll and cancel data-processing jobs through one REST API.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// A configuration file (default: ./edp.toml when present).
    #[arg(long, short)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log);
    let app = Application::build(settings).await?;
    // Tests and scripts read this line to learn the port when it was 0.
    println!("edpd listening on http://{}", app.addr());
    app.run_until_stopped().await?;
    Ok(())
}
