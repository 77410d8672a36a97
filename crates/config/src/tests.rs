use super::*;
use std::path::Path;

const FILE: &str = "config/chorus.yaml";

fn env(name: &str) -> Option<String> {
    match name {
        "GROQ_API_KEY" => Some("gsk-test".into()),
        "ORG" => Some("acme".into()),
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
    assert_eq!(groq.api_key, Credential::Value("gsk-test".into()));
    assert_eq!(
        groq.base_url.value(),
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
    assert_eq!(eps[1].api_key, Credential::UserProvided);
    assert_eq!(eps[1].base_url, Credential::UserProvided);
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
        "config/chorus.yaml: endpoints.custom[0]: missing field `baseURL`"
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
