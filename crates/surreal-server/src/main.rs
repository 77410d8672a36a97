//! `chorus-surreal start --bind 127.0.0.1:8000 --user root --pass … memory`
//! (or `surrealkv://path`): the same CLI and server as SurrealDB's own `surreal`
//! binary, which cannot be installed on machines without network access to its
//! release downloads.

#![recursion_limit = "256"]

fn main() -> std::process::ExitCode {
    surrealdb_server::init(surrealdb_server::core::CommunityComposer())
}
