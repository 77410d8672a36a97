//! The helper as its own binary, for the crate's tests and benchmarks; the
//! server runs the same code as `chorus sandbox-exec`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.as_slice() {
        [flag, state, group] if flag == "--cleanup" => {
            chorus_sandbox::helper::cleanup_main(state.as_ref(), group)
        }
        _ => chorus_sandbox::helper::main(),
    };
    std::process::exit(code);
}
