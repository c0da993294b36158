//! `edp`: the command-line client of edpd. Thin: parse, run, turn the
//! outcome into an exit code (see `error::code` and cli/README.md).

mod api;
mod args;
mod cmd;
mod config;
mod error;
mod flowfile;
mod jobfile;
mod output;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("edp: cannot start: {e}");
            std::process::exit(error::code::SERVER);
        }
    };
    let code = match runtime.block_on(cmd::run(cli)) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("edp: {failure}");
            if let Some(hint) = failure.hint() {
                eprintln!("edp: {hint}");
            }
            failure.exit_code()
        }
    };
    std::process::exit(code);
}
