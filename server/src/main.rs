use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    chorus_server::cli::run(chorus_server::cli::Cli::parse()).await
}
