use super::*;
use std::path::Path;

const FILE: &str = "config/chorus.yaml";

fn env(name: &str) -> Option<String> {
    match name {
        "GROQ_API_KEY" => Some("gsk-test".into()),
        "ORG" => Some("acme".into()),
        "ANTHROPIC_API_KEY" => Some("sk-ant-env".into()),
        "AWS_REGION" => Some("eu-west-1".into()),
        "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".into()),
        "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Loaded, ConfigErrors> {
    load_str(text, Path::new(FILE), &env)
}

fn only_error(text: &str) -> String {
    let errs = load(text).expect_err("the file should be refused");
    assert_eq!(errs.0.len(), 1, "expected exactly one error, got {errs}");
    errs.0[0].to_string()
}

const GROQ: &str = r#"
version: 1.2.1
cache: true
endpoints:
  custom:
    - name: "Groq"
      apiKey: "${GROQ_API_KEY}"
      baseURL: "https://api.groq.com/openai/v1/"
      models:
        default: ["llama3-70b-8192", "mixtral-8x7b-32768"]
        fetch: false
      titleConvo: true
      titleModel: "mixtral-8x7b-32768"
      modelDisplayLabel: "groq"
      iconURL: "https://example.com/groq.png"
      addParams:
        safe_prompt: true
        max_tokens: 512
      dropParams: ["stop", "user", "frequency_penalty"]
      headers:
        X-Org: "${ORG}-chat"
    - name: "Mine"
      apiKey: "user_provided"
      baseURL: "user_provided"
      models:
        fetch: true
"#;

#[test]
fn a_librechat_file_loads_with_env_and_reports_unknown_keys() {
    let loaded = load(GROQ).unwrap();
    let eps = &loaded.config.endpoints.custom;
    assert_eq!(eps.len(), 2);
    let groq = &eps[0];
    assert_eq!(groq.api_key, Some(Credential::Value("gsk-test".into())));
    assert_eq!(
        groq.base_url.as_ref().and_then(Credential::value),
        Some("https://api.groq.com/openai/v1/")
    );
    assert_eq!(
        groq.models.default,
        ["llama3-70b-8192", "mixtral-8x7b-32768"]
    );
    assert!(groq.title_convo);
    assert_eq!(
        groq.title_model_for("llama3-70b-8192"),
        "mixtral-8x7b-32768"
    );
    assert_eq!(groq.label(), "groq");
    assert_eq!(groq.add_params["max_tokens"], serde_json::json!(512));
    assert_eq!(groq.drop_params, ["stop", "user", "frequency_penalty"]);
    assert_eq!(groq.headers["X-Org"], "acme-chat");
    assert_eq!(eps[1].api_key, Some(Credential::UserProvided));
    assert_eq!(eps[1].base_url, Some(Credential::UserProvided));
    assert!(loaded.config.registration.enabled);
    assert!(loaded.ignored_keys.contains(&"version".to_string()));
    assert!(
        loaded
            .ignored_keys
            .contains(&"endpoints.custom[0].iconURL".to_string())
    );
}

#[test]
fn empty_or_missing_file_gives_defaults() {
    let loaded = load("").unwrap();
    assert!(loaded.config.endpoints.custom.is_empty());
    assert!(loaded.config.registration.enabled);
    let missing = load_optional(Path::new("/nonexistent/chorus.yaml")).unwrap();
    assert!(missing.source.is_none());
}

#[test]
fn registration_can_be_turned_off() {
    let loaded = load("registration:\n  enabled: false\n").unwrap();
    assert!(!loaded.config.registration.enabled);
}

#[test]
fn yaml_syntax_error_names_file_and_line() {
    let msg = only_error("endpoints:\n  custom: [\n    - name: x\n");
    assert!(
        msg.starts_with("config/chorus.yaml: not valid YAML (line"),
        "{msg}"
    );
}

#[test]
fn wrong_type_names_path_and_expected_shape() {
    let msg = only_error("registration:\n  enabled: \"sometimes\"\n");
    assert_eq!(
        msg,
        "config/chorus.yaml: registration.enabled: invalid type: string \"sometimes\", expected a boolean"
    );
}

#[test]
fn custom_must_be_a_list() {
    let msg = only_error("endpoints:\n  custom:\n    name: Groq\n");
    assert!(
        msg.starts_with(
            "config/chorus.yaml: endpoints.custom: invalid type: map, expected a sequence"
        ),
        "{msg}"
    );
}

#[test]
fn missing_required_key_names_the_entry() {
    let msg = only_error(
        "endpoints:\n  custom:\n    - name: A\n      apiKey: k\n      models: {default: [m]}\n",
    );
    assert_eq!(
        msg,
        "config/chorus.yaml: endpoints.custom[0].baseURL: expected the endpoint's URL, such as \"https://api.example.com/v1\", or \"user_provided\""
    );
}

#[test]
fn bad_base_url_is_explained() {
    let msg = only_error(
        "endpoints:\n  custom:\n    - name: A\n      apiKey: k\n      baseURL: api.groq.com\n      models: {default: [m]}\n",
    );
    assert!(
        msg.starts_with("config/chorus.yaml: endpoints.custom[0].baseURL: expected an http(s) URL"),
        "{msg}"
    );
    assert!(msg.contains("\"api.groq.com\""), "{msg}");
}

#[test]
fn unset_env_variable_names_variable_and_path() {
    let msg = only_error(
        "endpoints:\n  custom:\n    - name: A\n      apiKey: \"${OPENROUTER_KEY}\"\n      baseURL: https://x.test/v1\n      models: {default: [m]}\n",
    );
    assert_eq!(
        msg,
        "config/chorus.yaml: endpoints.custom[0].apiKey: environment variable OPENROUTER_KEY is not set"
    );
}

#[test]
fn malformed_reference_is_refused() {
    let msg = only_error("endpoints:\n  custom:\n    - name: A\n      apiKey: \"${OOPS\"\n");
    assert!(
        msg.contains("endpoints.custom[0].apiKey: unclosed `${`"),
        "{msg}"
    );
}

#[test]
fn models_are_required_unless_fetched() {
    let msg = only_error(
        "endpoints:\n  custom:\n    - name: A\n      apiKey: k\n      baseURL: https://x.test/v1\n      models: {default: []}\n",
    );
    assert_eq!(
        msg,
        "config/chorus.yaml: endpoints.custom[0].models.default: expected at least one model name (or `fetch: true` to ask the endpoint)"
    );
}

#[test]
fn duplicate_names_and_several_errors_are_all_reported() {
    let text = "endpoints:\n  custom:\n    - name: A\n      apiKey: k\n      baseURL: https://x.test/v1\n      models: {default: [m]}\n    - name: a\n      apiKey: ''\n      baseURL: https://y.test/v1\n      models: {default: [m]}\n";
    let errs = load(text).unwrap_err();
    let all = errs.to_string();
    assert_eq!(errs.0.len(), 2, "{all}");
    assert!(
        all.contains("endpoints.custom[1].name: another endpoint is already named \"a\""),
        "{all}"
    );
    assert!(
        all.contains("endpoints.custom[1].apiKey: expected an API key"),
        "{all}"
    );
}

#[test]
fn unreadable_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_file(&dir.path().join("nope.yaml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.yaml: cannot read the file"), "{err}");
}

#[test]
fn provider_sections_take_keys_and_regions_from_the_usual_variables() {
    let loaded = load(
        "endpoints:\n  anthropic:\n    models: {default: [claude-sonnet-4-5]}\n  bedrock:\n    models: {default: [anthropic.claude-3-haiku-20240307-v1:0]}\n  azureOpenAI:\n    apiKey: az-key\n    baseURL: https://acme.openai.azure.com\n    apiVersion: 2024-10-21\n    deployments: {gpt-4o: acme-gpt4o}\n",
    )
    .unwrap();
    let all = loaded.config.endpoints.all();
    let names: Vec<&str> = all.iter().map(|(_, e)| e.name.as_str()).collect();
    assert_eq!(names, ["Anthropic", "Azure OpenAI", "Bedrock"]);
    let (path, anthropic) = &all[0];
    assert_eq!(path, "endpoints.anthropic");
    assert_eq!(anthropic.kind, Kind::Anthropic);
    assert_eq!(
        anthropic.api_key,
        Some(Credential::Value("sk-ant-env".into()))
    );
    assert_eq!(
        anthropic.base_url,
        Some(Credential::Value("https://api.anthropic.com".into()))
    );
    let bedrock = all[2].1;
    assert_eq!(bedrock.region.as_deref(), Some("eu-west-1"));
    assert_eq!(bedrock.access_key_id.as_deref(), Some("AKIDEXAMPLE"));
    assert_eq!(all[1].1.deployments["gpt-4o"], "acme-gpt4o");
}

#[test]
fn provider_sections_say_what_they_miss() {
    let msg = only_error("endpoints:\n  openAI:\n    models: {default: [gpt-4o]}\n");
    assert_eq!(
        msg,
        "config/chorus.yaml: endpoints.openAI.apiKey: expected an API key, a ${VARIABLE} reference, or \"user_provided\", or set OPENAI_API_KEY"
    );
    let msg = only_error(
        "endpoints:\n  azureOpenAI:\n    apiKey: k\n    baseURL: https://acme.openai.azure.com\n    deployments: {gpt-4o: d}\n",
    );
    assert_eq!(
        msg,
        "config/chorus.yaml: endpoints.azureOpenAI.apiVersion: expected the Azure OpenAI API version, such as \"2024-10-21\""
    );
    let msg = only_error("endpoints:\n  vertexAI:\n    models: {default: [gemini-2.5-flash]}\n");
    assert!(
        msg.starts_with("config/chorus.yaml: endpoints.vertexAI.serviceAccountFile: expected the path of a service-account JSON key"),
        "{msg}"
    );
    let msg = only_error(
        "endpoints:\n  openAI:\n    apiKey: k\n    api: completions\n    models: {default: [gpt-4o]}\n",
    );
    assert_eq!(
        msg,
        "config/chorus.yaml: endpoints.openAI.api: expected \"responses\" or \"chat\" (only under endpoints.openAI), got \"completions\""
    );
}

#[test]
fn scale_out_settings_are_checked() {
    let err = only_error("streams:\n  backend: redis\n");
    assert!(
        err.contains("streams.redis.url: expected the Redis server's URL"),
        "{err}"
    );
    let err = only_error("streams:\n  backend: kafka\n");
    assert!(err.contains("streams.backend"), "{err}");
    assert!(err.contains("local") && err.contains("redis"), "{err}");
    let err = only_error("database:\n  url: http://db:8000\n");
    assert!(
        err.contains("database.url: expected the ws:// URL"),
        "{err}"
    );
    let ok = load("streams:\n  backend: redis\n  redis: {url: 'redis://127.0.0.1:6379/0'}\ndatabase: {url: 'ws://db:8000', user: root, password: pw}\n").unwrap();
    assert_eq!(ok.config.streams.backend, StreamsBackend::Redis);
    assert_eq!(ok.config.streams.redis.prefix, "chorus");
    assert_eq!(ok.config.database.url.as_deref(), Some("ws://db:8000"));
}

#[test]
fn local_models_need_a_file_and_sane_limits() {
    let ok = load("endpoints:\n  local:\n    - path: models/SmolLM2-135M-Instruct.Q4_1.gguf\n      threads: 2\n      contextSize: 4096\n").unwrap();
    let ep = &ok.config.endpoints.local[0];
    assert_eq!(ep.kind, Kind::Local);
    assert_eq!(ep.name, "Local");
    assert_eq!(ep.models.default, ["SmolLM2-135M-Instruct.Q4_1"]);
    assert_eq!((ep.threads, ep.context_size), (Some(2), Some(4096)));

    let err = only_error("endpoints:\n  local:\n    - name: Tiny\n");
    assert!(
        err.contains("endpoints.local[0].path: expected the path of a GGUF model file"),
        "{err}"
    );
    let err = only_error("endpoints:\n  local:\n    - path: m.gguf\n      threads: 0\n");
    assert!(
        err.contains("endpoints.local[0].threads: expected 1 to 256 CPU threads, got 0"),
        "{err}"
    );
    let err = only_error("endpoints:\n  local:\n    - path: m.gguf\n      contextSize: 10\n");
    assert!(err.contains("endpoints.local[0].contextSize"), "{err}");
    let err = only_error("endpoints:\n  local:\n    - path: m.gguf\n      baseURL: http://x\n");
    assert!(err.contains("expected no apiKey or baseURL"), "{err}");
}

#[test]
fn sandbox_limits_are_checked() {
    let err = only_error("sandbox:\n  timeoutSeconds: 0\n");
    assert!(
        err.contains("sandbox.timeoutSeconds: expected between 1 and 3600 seconds"),
        "{err}"
    );
    let err = only_error("sandbox:\n  memoryMb: lots\n");
    assert!(err.contains("sandbox.memoryMb"), "{err}");
    let cfg = load("sandbox:\n  concurrency: 2\n").unwrap().config;
    assert_eq!(cfg.sandbox.concurrency, 2);
    assert_eq!(cfg.sandbox.timeout_seconds, 30, "defaults fill the rest");
}

#[test]
fn mcp_servers_in_librechat_shape_load_with_inferred_transports() {
    let loaded = load(
        "mcpServers:\n  everything:\n    command: npx\n    args: [\"-y\", \"@modelcontextprotocol/server-everything\"]\n    env: {ORG: \"${ORG}\"}\n    timeout: 5000\n  remote:\n    url: https://mcp.example.com/mcp\n    headers: {Authorization: \"Bearer ${GROQ_API_KEY}\"}\n    serverInstructions: true\n  legacy:\n    type: sse\n    url: http://127.0.0.1:9000/sse\n",
    )
    .unwrap();
    let servers = &loaded.config.mcp_servers;
    assert_eq!(servers["everything"].transport(), Some(McpTransport::Stdio));
    assert_eq!(servers["everything"].env["ORG"], "acme");
    assert_eq!(servers["everything"].call_timeout().as_millis(), 5000);
    assert_eq!(
        servers["remote"].transport(),
        Some(McpTransport::StreamableHttp)
    );
    assert_eq!(
        servers["remote"].headers["Authorization"],
        "Bearer gsk-test"
    );
    assert_eq!(
        servers["remote"].server_instructions,
        Some(ServerInstructions::Use(true))
    );
    assert_eq!(servers["legacy"].transport(), Some(McpTransport::Sse));
    assert!(loaded.ignored_keys.is_empty(), "{:?}", loaded.ignored_keys);
}

#[test]
fn an_mcp_server_without_command_or_url_names_the_entry() {
    assert_eq!(
        only_error("mcpServers:\n  broken:\n    args: [x]\n"),
        "config/chorus.yaml: mcpServers.broken: expected either `command` (a local server run over stdio) or `url` (a remote server)"
    );
    assert_eq!(
        only_error("mcpServers:\n  web:\n    type: streamable-http\n    url: ftp://x\n"),
        "config/chorus.yaml: mcpServers.web.url: expected an http:// or https:// URL"
    );
    let msg = only_error("mcpServers:\n  x:\n    type: carrier-pigeon\n    url: http://x\n");
    assert!(
        msg.starts_with("config/chorus.yaml: mcpServers.x.type: unknown variant `carrier-pigeon`"),
        "{msg}"
    );
}

#[test]
fn per_user_mcp_values_are_declared_before_they_are_used() {
    let loaded = load(
        "mcpServers:\n  github:\n    url: https://mcp.example.com/mcp\n    headers: {Authorization: \"Bearer {{GITHUB_TOKEN}}\", X-User: \"{{LIBRECHAT_USER_EMAIL}}\"}\n    customUserVars:\n      GITHUB_TOKEN: {title: GitHub token, description: A fine-grained token}\n  whoami:\n    command: who\n    args: [\"{{CHORUS_USER_ID}}\"]\n  shared:\n    command: npx\n",
    )
    .unwrap();
    let servers = &loaded.config.mcp_servers;
    let var = &servers["github"].custom_user_vars["GITHUB_TOKEN"];
    assert_eq!(var.title.as_deref(), Some("GitHub token"));
    assert!(servers["github"].is_per_user());
    // The user's identity alone makes a connection per user too.
    assert!(servers["whoami"].is_per_user());
    assert!(!servers["shared"].is_per_user());

    assert_eq!(
        only_error(
            "mcpServers:\n  gh:\n    url: https://x/mcp\n    headers: {Authorization: \"Bearer {{TOKEN}}\"}\n"
        ),
        "config/chorus.yaml: mcpServers.gh: uses {{TOKEN}}, which `customUserVars` does not declare (expected one of its names, or LIBRECHAT_USER_ID, LIBRECHAT_USER_EMAIL, CHORUS_USER_ID, CHORUS_USER_EMAIL)"
    );
    assert_eq!(
        only_error(
            "mcpServers:\n  gh:\n    url: https://x/mcp\n    customUserVars:\n      \"MY TOKEN\": {title: T}\n"
        ),
        "config/chorus.yaml: mcpServers.gh.customUserVars.MY TOKEN: expected a name of letters, digits and '_' (it is used as {{NAME}})"
    );
}
