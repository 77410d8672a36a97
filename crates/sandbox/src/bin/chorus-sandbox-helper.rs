//! The helper as its own binary, for the crate's tests and benchmarks; the
//! server runs the same code as `chorus sandbox-exec`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(chorus_sandbox::helper::run_from_args(&args));
}
