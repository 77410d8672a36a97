use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The code sandbox's helper runs containers with libcontainer, which must
    // stay out of a multi-threaded process: dispatch before any runtime exists.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(chorus_server::SANDBOX_EXEC) {
        let code = chorus_sandbox::helper::run_from_args(&args[2..]);
        return ExitCode::from(code as u8);
    }
    let cli = chorus_server::cli::Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime")
        .block_on(chorus_server::cli::run(cli))
}
