use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The code sandbox's helper runs containers with libcontainer, which must
    // stay out of a multi-threaded process: dispatch before any runtime exists.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("sandbox-exec") {
        let code = match &args[2..] {
            [flag, state, group] if flag == "--cleanup" => {
                chorus_sandbox::helper::cleanup_main(state.as_ref(), group)
            }
            _ => chorus_sandbox::helper::main(),
        };
        return ExitCode::from(code as u8);
    }
    let cli = chorus_server::cli::Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime")
        .block_on(chorus_server::cli::run(cli))
}
