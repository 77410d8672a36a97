//! Checks serde cannot express: URLs, uniqueness, non-empty lists, and what each
//! provider section needs.

use crate::schema::{Config, Credential, Endpoint, Kind};
use std::collections::HashSet;

pub fn validate(config: &Config) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    for (path, ep) in config.endpoints.all() {
        let mut err = |key: &str, msg: String| errors.push((format!("{path}.{key}"), msg));
        let name = ep.name.trim();
        if name.is_empty() {
            err("name", "expected a non-empty name".into());
        } else if !names.insert(name.to_lowercase()) {
            err(
                "name",
                format!("another endpoint is already named {name:?}: names must be unique"),
            );
        }
        endpoint(ep, &mut err);
    }
    for (i, d) in config.registration.allowed_domains.iter().enumerate() {
        if d.trim().is_empty() || d.contains('@') {
            errors.push((
                format!("registration.allowedDomains[{i}]"),
                format!("expected a domain such as \"example.com\", got {d:?}"),
            ));
        }
    }
    if config.streams.backend == crate::schema::StreamsBackend::Redis {
        match &config.streams.redis.url {
            None => errors.push((
                "streams.redis.url".into(),
                "expected the Redis server's URL, such as \"redis://127.0.0.1:6379/0\", because streams.backend is redis".into(),
            )),
            Some(u) if !u.starts_with("redis://") && !u.starts_with("rediss://") => errors.push((
                "streams.redis.url".into(),
                format!("expected a redis:// or rediss:// URL, got {u:?}"),
            )),
            _ => {}
        }
    }
    if let Some(u) = &config.database.url
        && !(u.starts_with("ws://") || u.starts_with("wss://"))
    {
        errors.push((
            "database.url".into(),
            format!("expected the ws:// URL of a SurrealDB server, such as \"ws://127.0.0.1:8000\", got {u:?}"),
        ));
    }
    crate::mcp::validate(&config.mcp_servers, &mut errors);
    let sb = &config.sandbox;
    let mut positive = |key: &str, ok: bool, expected: &str| {
        if !ok {
            errors.push((format!("sandbox.{key}"), format!("expected {expected}")));
        }
    };
    positive(
        "concurrency",
        sb.concurrency >= 1,
        "at least 1 execution at once",
    );
    positive("memoryMb", sb.memory_mb >= 32, "at least 32 (MiB)");
    positive(
        "timeoutSeconds",
        (1..=3600).contains(&sb.timeout_seconds),
        "between 1 and 3600 seconds",
    );
    positive("pids", sb.pids >= 8, "at least 8 processes");
    positive(
        "cpus",
        sb.cpus > 0.0 && sb.cpus <= 64.0,
        "a number of CPUs greater than 0, such as 1 or 0.5",
    );
    positive("outputKb", sb.output_kb >= 1, "at least 1 (KiB)");
    positive("sessionMb", sb.session_mb >= 1, "at least 1 (MiB)");
    if config.server.session_hours == 0 {
        errors.push((
            "server.sessionHours".into(),
            "expected a number of hours greater than 0".into(),
        ));
    }
    errors
}

fn endpoint(ep: &Endpoint, err: &mut dyn FnMut(&str, String)) {
    if ep.kind == Kind::Local {
        return local_endpoint(ep, err);
    }
    let needs_key = !matches!(ep.kind, Kind::Bedrock | Kind::Vertex);
    match &ep.api_key {
        None if needs_key => {
            let vars = ep.kind.key_variables();
            let hint = if vars.is_empty() {
                String::new()
            } else {
                format!(", or set {}", vars.join(" or "))
            };
            err(
                "apiKey",
                format!("expected an API key, a ${{VARIABLE}} reference, or \"user_provided\"{hint}"),
            );
        }
        Some(Credential::Value(v)) if v.trim().is_empty() => err(
            "apiKey",
            "expected an API key, a ${VARIABLE} reference, or \"user_provided\"; got an empty string".into(),
        ),
        _ => {}
    }
    match &ep.base_url {
        Some(Credential::Value(v)) => match url::Url::parse(v) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => err(
                "baseURL",
                format!("expected an http(s) URL such as \"https://api.example.com/v1\" or \"user_provided\", got {v:?}"),
            ),
        },
        None if matches!(ep.kind, Kind::Custom | Kind::Azure) => err(
            "baseURL",
            "expected the endpoint's URL, such as \"https://api.example.com/v1\", or \"user_provided\"".into(),
        ),
        _ => {}
    }
    let has_deployments = ep.kind == Kind::Azure && !ep.deployments.is_empty();
    if ep.models.default.is_empty() && !ep.models.fetch && !has_deployments {
        err(
            "models.default",
            "expected at least one model name (or `fetch: true` to ask the endpoint)".into(),
        );
    }
    for (j, m) in ep.models.default.iter().enumerate() {
        if m.trim().is_empty() {
            err(
                &format!("models.default[{j}]"),
                "expected a model name, got an empty string".into(),
            );
        }
    }
    if let Some(api) = &ep.api
        && !(ep.kind == Kind::OpenAi && matches!(api.as_str(), "chat" | "responses"))
    {
        err(
            "api",
            format!(
                "expected \"responses\" or \"chat\" (only under endpoints.openAI), got {api:?}"
            ),
        );
    }
    match ep.kind {
        Kind::Azure if ep.api_version.as_deref().is_none_or(|v| v.trim().is_empty()) => err(
            "apiVersion",
            "expected the Azure OpenAI API version, such as \"2024-10-21\"".into(),
        ),
        Kind::Bedrock => {
            if ep.region.is_none() {
                err(
                    "region",
                    "expected an AWS region such as \"us-east-1\" (or set AWS_REGION)".into(),
                );
            }
            if ep.access_key_id.is_none() || ep.secret_access_key.is_none() {
                err(
                    "accessKeyId",
                    "expected accessKeyId and secretAccessKey (or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into(),
                );
            }
        }
        Kind::Vertex if ep.service_account_file.is_none() => err(
            "serviceAccountFile",
            "expected the path of a service-account JSON key (or set GOOGLE_APPLICATION_CREDENTIALS)".into(),
        ),
        _ => {}
    }
}

/// `endpoints.local[]`: a model file and how to run it; no keys or URLs.
fn local_endpoint(ep: &Endpoint, err: &mut dyn FnMut(&str, String)) {
    if ep.path.as_deref().is_none_or(|p| p.trim().is_empty()) {
        err(
            "path",
            "expected the path of a GGUF model file, such as \"models/SmolLM2-135M-Instruct.Q4_1.gguf\" (relative to the data directory)".into(),
        );
    }
    if ep.api_key.is_some() || ep.base_url.is_some() {
        err(
            "apiKey",
            "a local model runs inside Chorus: expected no apiKey or baseURL".into(),
        );
    }
    if let Some(t) = ep.threads
        && !(1..=256).contains(&t)
    {
        err("threads", format!("expected 1 to 256 CPU threads, got {t}"));
    }
    if let Some(n) = ep.context_size
        && !(256..=131_072).contains(&n)
    {
        err(
            "contextSize",
            format!("expected a context size of 256 to 131072 tokens, got {n}"),
        );
    }
}
