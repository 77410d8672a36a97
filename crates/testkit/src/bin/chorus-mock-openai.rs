//! Runs the mock OpenAI upstream on a port, for the browser tests.

use chorus_testkit::{MockOpenAi, MockOptions};
use clap::Parser;
use std::time::Duration;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: std::net::SocketAddr,
    #[arg(long, default_value = "sk-test")]
    api_key: String,
    /// Delay between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 40)]
    token_delay_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let mock = MockOpenAi::start_on(
        args.addr,
        MockOptions {
            api_key: Some(args.api_key),
            token_delay: Duration::from_millis(args.token_delay_ms),
            ..MockOptions::default()
        },
    )
    .await;
    // The browser-test runner reads this line to learn the port.
    println!("listening on {}", mock.addr);
    std::future::pending::<()>().await;
}
