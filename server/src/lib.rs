//! The Chorus server: wiring, the axum router, and the routes that are not
//! server functions (SSE, health, assets).

mod assets;
pub mod cli;
mod code_api;
mod csrf;
mod openai_api;
mod sse;

use anyhow::Context;
use app::api::ssr::AppState;
use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum_login::AuthManagerLayerBuilder;
use chorus_auth::{AuthBackend, RegistrationPolicy, SurrealSessionStore};
use chorus_engine::Engine;
use chorus_gateway::Gateway;
use chorus_secrets::SecretBox;
use chorus_store::Store;
use chorus_streams::{RedisConfig, Streams};
use leptos::prelude::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use std::path::PathBuf;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The hidden subcommand that runs the code sandbox's helper (see `main`).
pub const SANDBOX_EXEC: &str = "sandbox-exec";

/// What `serve` needs.
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub config: chorus_config::Loaded,
}

/// Axum state: Leptos' options plus what server functions need.
#[derive(Clone)]
pub struct ServerState {
    pub leptos: LeptosOptions,
    pub app: AppState,
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(s: &ServerState) -> Self {
        s.leptos.clone()
    }
}

pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CHORUS_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,surrealdb=warn,surrealkv=warn,surrealdb_core=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Standard output is for what commands print (an API key, a group list).
        .with_writer(std::io::stderr)
        .try_init();
}

/// Opens the data directory and builds the whole application; the code sandbox's
/// helper is this executable (`chorus sandbox-exec`).
pub async fn build(
    data_dir: &std::path::Path,
    config: &chorus_config::Config,
) -> anyhow::Result<Router> {
    let program = std::env::current_exe().context("finding the chorus executable")?;
    build_with_helper(data_dir, config, program).await
}

/// [`build`] with the `chorus` executable to run as the sandbox helper given
/// (tests run the server inside a test binary, which is not one).
pub async fn build_with_helper(
    data_dir: &std::path::Path,
    config: &chorus_config::Config,
    chorus_executable: PathBuf,
) -> anyhow::Result<Router> {
    let secrets = secret_box(data_dir, config)?;
    let store = open_store(data_dir, &config.database).await?;
    let streams = open_streams(&config.streams).await?;
    let gateway = Gateway::from_config(&with_local_models(config, data_dir));
    let engine = Engine::start(store, gateway, streams, secrets)
        .await
        .context("starting the chat engine")?;
    let engine = match start_sandbox(data_dir, &config.sandbox, chorus_executable).await? {
        Some(sandbox) => engine.with_sandbox(sandbox),
        None => engine,
    };
    // Servers start on first use, so a broken one never delays start-up.
    let engine = engine.with_mcp(
        chorus_tools::Mcp::new(&config.mcp_servers).with_settings(config.mcp_settings.clone()),
    );
    Ok(router(engine, config))
}

/// The code sandbox, unless `sandbox.enabled` is false. A missing rootfs does not
/// stop the server: code execution reports itself unavailable with the reason.
async fn start_sandbox(
    data_dir: &std::path::Path,
    section: &chorus_config::SandboxSection,
    program: PathBuf,
) -> anyhow::Result<Option<chorus_sandbox::Sandbox>> {
    if !section.enabled {
        return Ok(None);
    }
    let rootfs = std::env::var("CHORUS_SANDBOX_ROOTFS")
        .ok()
        .or_else(|| section.rootfs.clone())
        .map_or_else(chorus_sandbox::default_rootfs, PathBuf::from);
    let config = chorus_sandbox::SandboxConfig {
        rootfs,
        work_dir: data_dir.join("sandbox"),
        helper: chorus_sandbox::HelperCommand {
            program,
            args: vec![SANDBOX_EXEC.into()],
        },
        concurrency: section.concurrency as usize,
        limits: chorus_sandbox::Limits {
            memory_bytes: section.memory_mb << 20,
            pids: i64::from(section.pids),
            cpus: section.cpus,
            timeout: std::time::Duration::from_secs(section.timeout_seconds),
            output_bytes: (section.output_kb << 10) as usize,
            session_bytes: section.session_mb << 20,
            ..chorus_sandbox::Limits::default()
        },
    };
    let sandbox = chorus_sandbox::Sandbox::start(config)
        .await
        .context("preparing the code sandbox's directory")?;
    if let Some(reason) = sandbox.health().reason {
        tracing::warn!("code execution is unavailable: {reason}");
    }
    Ok(Some(sandbox))
}

/// The SurrealDB server named by `CHORUS_DATABASE_URL` or `database.url`, else
/// the embedded database in `data_dir`.
async fn open_store(
    data_dir: &std::path::Path,
    database: &chorus_config::Database,
) -> anyhow::Result<Store> {
    let url = std::env::var("CHORUS_DATABASE_URL")
        .ok()
        .or_else(|| database.url.clone());
    let Some(url) = url else {
        return Store::open_dir(data_dir)
            .await
            .with_context(|| format!("opening the database in {}", data_dir.display()));
    };
    let user = std::env::var("CHORUS_DATABASE_USER")
        .ok()
        .or_else(|| database.user.clone())
        .unwrap_or_else(|| "root".into());
    let password = std::env::var("CHORUS_DATABASE_PASSWORD")
        .ok()
        .or_else(|| database.password.clone())
        .context("database.password (or CHORUS_DATABASE_PASSWORD) is needed to sign in to the database server")?;
    Store::open_server(&url, &user, &password)
        .await
        .with_context(|| format!("connecting to the database server {url}"))
}

/// Redis when `CHORUS_REDIS_URL` is set or `streams.backend` is `redis`, else
/// in-process streams.
async fn open_streams(config: &chorus_config::StreamsConfig) -> anyhow::Result<Streams> {
    let url = std::env::var("CHORUS_REDIS_URL").ok().or_else(|| {
        (config.backend == chorus_config::StreamsBackend::Redis)
            .then(|| config.redis.url.clone())
            .flatten()
    });
    let Some(url) = url else {
        return Ok(Streams::local());
    };
    let redis = RedisConfig {
        url,
        prefix: config.redis.prefix.clone(),
    };
    Streams::redis(redis)
        .await
        .map_err(anyhow::Error::msg)
        .context("starting the Redis streams backend (streams.backend: redis)")
}

/// The key that seals users' stored secrets: `CHORUS_SECRET_KEY`, else
/// `server.secretKey`, else a key generated once into the data directory.
fn secret_box(
    data_dir: &std::path::Path,
    config: &chorus_config::Config,
) -> anyhow::Result<SecretBox> {
    if let Ok(key) = std::env::var("CHORUS_SECRET_KEY") {
        return Ok(SecretBox::from_key_text(&key, "CHORUS_SECRET_KEY")?);
    }
    if let Some(key) = &config.server.secret_key {
        return Ok(SecretBox::from_key_text(key, "server.secretKey")?);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    Ok(SecretBox::load_or_create(&data_dir.join("secret.key"))?)
}

/// The whole application around a running engine (tests build their own
/// engine to set up data first).
pub fn router(engine: Engine, config: &chorus_config::Config) -> Router {
    let store = engine.store().clone();
    let app_state = AppState {
        engine,
        registration: RegistrationPolicy {
            enabled: config.registration.enabled,
            allowed_domains: config.registration.allowed_domains.clone(),
        },
    };
    let leptos = LeptosOptions::builder()
        .output_name("chorus")
        .site_pkg_dir("pkg")
        .build();
    let state = ServerState {
        leptos,
        app: app_state.clone(),
    };

    let sessions = SurrealSessionStore::new(store.clone());
    sessions.spawn_cleanup();
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name("chorus_session")
        .with_http_only(true)
        .with_secure(config.server.secure_cookies)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(i64::from(
            config.server.session_hours,
        ))));
    let auth_layer = AuthManagerLayerBuilder::new(AuthBackend::new(store), session_layer).build();

    // Uploads may be as large as a session's /mnt/data (axum's default is 2 MB).
    let upload_limit =
        axum::extract::DefaultBodyLimit::max((config.sandbox.session_mb << 20) as usize);
    let routes = generate_route_list(app::App);
    let context = move || leptos::prelude::provide_context(app_state.clone());
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/api/jobs/{id}/events", get(sse::job_events))
        .route("/api/events", get(sse::user_events))
        .route("/v1/models", get(openai_api::models))
        .route(
            "/v1/chat/completions",
            axum::routing::post(openai_api::chat_completions),
        )
        .route("/v1/exec", axum::routing::post(code_api::exec))
        .route(
            "/v1/upload",
            axum::routing::post(code_api::upload).layer(upload_limit),
        )
        .route(
            "/v1/upload/batch",
            axum::routing::post(code_api::upload).layer(upload_limit),
        )
        .route("/v1/files/{session}", get(code_api::list_files))
        .route(
            "/v1/files/{session}/{file}",
            axum::routing::delete(code_api::delete_file),
        )
        .route("/v1/download/{session}/{file}", get(code_api::download))
        .route("/v1/health", get(code_api::health))
        .route(
            "/api/code/files/{session}/{file}",
            get(code_api::browser_download),
        )
        .route(
            "/api/code/upload/{conversation}",
            axum::routing::post(code_api::browser_upload).layer(upload_limit),
        )
        .route(
            "/api/attachments",
            axum::routing::post(code_api::attach).layer(upload_limit),
        )
        .route(
            "/api/agents/{id}/files",
            axum::routing::post(code_api::agent_files).layer(upload_limit),
        )
        .leptos_routes_with_context(&state, routes, context, {
            let options = state.leptos.clone();
            move || app::shell(options.clone())
        })
        .fallback(assets::static_or_not_found)
        .layer(axum::middleware::from_fn(csrf::same_origin_writes))
        .layer(auth_layer)
        .layer(no_framing_by_others())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}

/// Pages may be framed only by Chorus itself (the agent builder's test
/// chat), never by another site (clickjacking).
fn no_framing_by_others() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    )
}

/// The config the gateway runs: local model paths made absolute under the data
/// directory, and, when no endpoint is configured at all, the built-in small
/// model, so a fresh install can chat with no API key.
fn with_local_models(
    config: &chorus_config::Config,
    data_dir: &std::path::Path,
) -> chorus_config::Config {
    let mut config = config.clone();
    if config.endpoints.all().is_empty() {
        config
            .endpoints
            .local
            .push(chorus_config::Endpoint::builtin_local());
    }
    for ep in &mut config.endpoints.local {
        if let Some(path) = &mut ep.path
            && std::path::Path::new(path.as_str()).is_relative()
        {
            *path = data_dir.join(&*path).to_string_lossy().into_owned();
        }
    }
    config
}

async fn ready(State(state): State<ServerState>) -> impl IntoResponse {
    match state.app.engine.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database not ready"),
    }
}

/// Runs until Ctrl-C / SIGTERM.
pub async fn serve(options: ServeOptions) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    if options.config.config.server.secure_cookies && !options.addr.ip().is_loopback() {
        tracing::warn!(
            "session cookies are marked Secure: browsers keep them only over HTTPS or on localhost. \
             Serve Chorus behind HTTPS, or set server.secureCookies: false for plain HTTP on a trusted network"
        );
    }
    let router = build(&options.data_dir, &options.config.config).await?;
    let listener = tokio::net::TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("listening on {}", options.addr))?;
    tracing::info!(
        addr = %options.addr,
        data_dir = %options.data_dir.display(),
        config = %options.config.source.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into()),
        ready_in_ms = started.elapsed().as_millis() as u64,
        "Chorus is listening on http://{}",
        options.addr
    );
    // Streamed answers are many small writes: without TCP_NODELAY, Nagle's
    // algorithm holds each back until the client's delayed ACK (~40 ms).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
