use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// The whole `chorus.yaml`. Every section is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    #[serde(default)]
    pub registration: Registration,
    #[serde(default)]
    pub endpoints: Endpoints,
    #[serde(default)]
    pub server: Server,
    /// Where the data lives; embedded under the data directory unless a
    /// SurrealDB server is named (needed when several instances share it).
    #[serde(default)]
    pub database: Database,
    /// Where generation jobs and change notices travel between instances.
    #[serde(default)]
    pub streams: StreamsConfig,
    /// Code execution in containers (the Run button, `/v1/exec`).
    #[serde(default)]
    pub sandbox: SandboxSection,
    /// MCP servers whose tools the model may call, by name.
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, crate::mcp::McpServer>,
    /// What users may add themselves.
    #[serde(default)]
    pub mcp_settings: crate::mcp::McpSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SandboxSection {
    pub enabled: bool,
    /// The root filesystem scripts/build-rootfs.sh built (`CHORUS_SANDBOX_ROOTFS`
    /// overrides). Unset: `~/.cache/chorus/rootfs/v<version>`.
    pub rootfs: Option<String>,
    /// Executions at once; more wait their turn.
    pub concurrency: u32,
    pub memory_mb: u64,
    pub timeout_seconds: u64,
    pub pids: u32,
    pub cpus: f64,
    /// Per stream (stdout, stderr).
    pub output_kb: u64,
    /// The size of a session's `/mnt/data`.
    pub session_mb: u64,
}

impl Default for SandboxSection {
    fn default() -> Self {
        SandboxSection {
            enabled: true,
            rootfs: None,
            concurrency: 4,
            memory_mb: 768,
            timeout_seconds: 30,
            pids: 128,
            cpus: 1.0,
            output_kb: 1024,
            session_mb: 128,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Database {
    /// `ws://host:port` of a SurrealDB server (`CHORUS_DATABASE_URL` overrides).
    /// Unset: the embedded database in the data directory.
    #[serde(default)]
    pub url: Option<String>,
    /// Root user and password for that server (`${ENV}` references work).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamsConfig {
    /// `local` (one instance, the default) or `redis` (several instances).
    #[serde(default)]
    pub backend: StreamsBackend,
    #[serde(default)]
    pub redis: RedisSection,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamsBackend {
    #[default]
    Local,
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedisSection {
    /// `redis://host:port/db` (`CHORUS_REDIS_URL` overrides and selects Redis).
    #[serde(default)]
    pub url: Option<String>,
    /// Prepended to every key and channel, so deployments can share a server.
    #[serde(default = "default_redis_prefix")]
    pub prefix: String,
}

impl Default for RedisSection {
    fn default() -> Self {
        Self {
            url: None,
            prefix: default_redis_prefix(),
        }
    }
}

fn default_redis_prefix() -> String {
    "chorus".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// Whether people may create their own accounts (admins can always create users
    /// with `chorus user create`).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// When non-empty, only emails at these domains may register.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

impl Default for Registration {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_domains: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Server {
    /// Mark the session cookie `Secure`. Browsers accept Secure cookies from
    /// `http://localhost` and `http://127.0.0.1`; turn this off only when serving
    /// plain HTTP on another host name (not recommended).
    #[serde(default = "yes")]
    pub secure_cookies: bool,
    /// How long a session lasts without activity, in hours.
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
    /// The key that seals secrets users store (their own provider keys): 32
    /// random bytes as hex or base64. `CHORUS_SECRET_KEY` overrides it; with
    /// neither, one is generated into the data directory. Instances that share
    /// a database must share this key.
    #[serde(default)]
    pub secret_key: Option<String>,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            secure_cookies: true,
            session_hours: default_session_hours(),
            secret_key: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_session_hours() -> u32 {
    24 * 7
}

/// Model endpoints: LibreChat's `custom[]` list of OpenAI-compatible servers, plus
/// one optional section per provider with its own wire protocol.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    #[serde(default)]
    pub custom: Vec<Endpoint>,
    /// OpenAI itself (key from `OPENAI_API_KEY` when not given).
    #[serde(default, rename = "openAI")]
    pub openai: Option<Endpoint>,
    /// Anthropic's Messages API (`ANTHROPIC_API_KEY`).
    #[serde(default)]
    pub anthropic: Option<Endpoint>,
    /// Google Gemini API (`GOOGLE_KEY` or `GEMINI_API_KEY`).
    #[serde(default)]
    pub google: Option<Endpoint>,
    /// Azure OpenAI (`AZURE_OPENAI_API_KEY`); needs `baseURL`, `apiVersion`, `deployments`.
    #[serde(default, rename = "azureOpenAI")]
    pub azure: Option<Endpoint>,
    /// AWS Bedrock Converse (credentials and region from the standard AWS variables
    /// when not given).
    #[serde(default)]
    pub bedrock: Option<Endpoint>,
    /// Google Vertex AI, Gemini and Claude models (`GOOGLE_APPLICATION_CREDENTIALS`).
    #[serde(default, rename = "vertexAI")]
    pub vertex: Option<Endpoint>,
    /// GGUF models run inside Chorus on the CPU: `name`, `path`, `models`,
    /// `threads`, `contextSize`.
    #[serde(default)]
    pub local: Vec<Endpoint>,
}

impl Endpoints {
    /// Every endpoint with the key path it was configured at, provider sections first.
    pub fn all(&self) -> Vec<(String, &Endpoint)> {
        let named = [
            ("openAI", &self.openai),
            ("anthropic", &self.anthropic),
            ("google", &self.google),
            ("azureOpenAI", &self.azure),
            ("bedrock", &self.bedrock),
            ("vertexAI", &self.vertex),
        ];
        let mut out: Vec<(String, &Endpoint)> = named
            .into_iter()
            .filter_map(|(key, ep)| ep.as_ref().map(|ep| (format!("endpoints.{key}"), ep)))
            .collect();
        out.extend(
            self.custom
                .iter()
                .enumerate()
                .map(|(i, ep)| (format!("endpoints.custom[{i}]"), ep)),
        );
        out.extend(
            self.local
                .iter()
                .enumerate()
                .map(|(i, ep)| (format!("endpoints.local[{i}]"), ep)),
        );
        out
    }

    pub(crate) fn named_mut(&mut self) -> [(&mut Option<Endpoint>, Kind); 6] {
        [
            (&mut self.openai, Kind::OpenAi),
            (&mut self.anthropic, Kind::Anthropic),
            (&mut self.google, Kind::Google),
            (&mut self.azure, Kind::Azure),
            (&mut self.bedrock, Kind::Bedrock),
            (&mut self.vertex, Kind::Vertex),
        ]
    }
}

/// Which wire protocol an endpoint speaks (set by the section it is in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    /// `endpoints.custom[]`: OpenAI Chat Completions.
    #[default]
    Custom,
    OpenAi,
    Anthropic,
    Google,
    Azure,
    Bedrock,
    Vertex,
    /// `endpoints.local[]`: a GGUF model run in-process.
    Local,
}

impl Kind {
    /// The name shown when the section gives none.
    pub fn default_name(self) -> &'static str {
        match self {
            Kind::Custom => "",
            Kind::OpenAi => "OpenAI",
            Kind::Anthropic => "Anthropic",
            Kind::Google => "Google",
            Kind::Azure => "Azure OpenAI",
            Kind::Bedrock => "Bedrock",
            Kind::Vertex => "Vertex AI",
            Kind::Local => "Local",
        }
    }

    /// Environment variables that hold the API key when the file gives none.
    pub fn key_variables(self) -> &'static [&'static str] {
        match self {
            Kind::OpenAi => &["OPENAI_API_KEY"],
            Kind::Anthropic => &["ANTHROPIC_API_KEY"],
            Kind::Google => &["GOOGLE_KEY", "GEMINI_API_KEY"],
            Kind::Azure => &["AZURE_OPENAI_API_KEY"],
            Kind::Custom | Kind::Bedrock | Kind::Vertex | Kind::Local => &[],
        }
    }

    /// The provider's public API when the file gives no `baseURL`.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Kind::OpenAi => Some("https://api.openai.com/v1"),
            Kind::Anthropic => Some("https://api.anthropic.com"),
            Kind::Google => Some("https://generativelanguage.googleapis.com"),
            Kind::Custom | Kind::Azure | Kind::Bedrock | Kind::Vertex | Kind::Local => None,
        }
    }
}

/// Where the built-in local model lives, relative to the data directory.
pub const BUILTIN_LOCAL_MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

/// One endpoint. `endpoints.custom[]` entries have `librechat.yaml`'s shape; the
/// provider sections share it and add their own keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    /// Set from the section, not read from the file.
    #[serde(skip)]
    pub kind: Kind,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub api_key: Option<Credential>,
    #[serde(default, rename = "baseURL")]
    pub base_url: Option<Credential>,
    #[serde(default)]
    pub models: Models,
    #[serde(default)]
    pub title_convo: bool,
    /// Model used for titles; `current_model` (LibreChat's spelling) or absent
    /// means the conversation's model.
    #[serde(default)]
    pub title_model: Option<String>,
    #[serde(default)]
    pub model_display_label: Option<String>,
    /// Extra body fields merged into every request.
    #[serde(default)]
    pub add_params: BTreeMap<String, serde_json::Value>,
    /// Body fields removed from every request.
    #[serde(default)]
    pub drop_params: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `openAI`: `responses` (default) or `chat` (Chat Completions).
    #[serde(default)]
    pub api: Option<String>,
    /// `azureOpenAI`: the `api-version` query parameter.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `azureOpenAI`: model name → deployment name.
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    /// `bedrock` and `vertexAI`: the region (`us-east-1`, `us-east5`, …).
    #[serde(default)]
    pub region: Option<String>,
    /// `bedrock`: static credentials (else `AWS_ACCESS_KEY_ID`, …).
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
    #[serde(default)]
    pub session_token: Option<String>,
    /// `vertexAI`: a service-account JSON key file.
    #[serde(default)]
    pub service_account_file: Option<String>,
    /// `vertexAI`: the project (else the service account's).
    #[serde(default)]
    pub project_id: Option<String>,
    /// `local`: the GGUF model file (relative paths are under the data directory).
    #[serde(default)]
    pub path: Option<String>,
    /// `local`: CPU threads for one generation (default 1).
    #[serde(default)]
    pub threads: Option<u32>,
    /// `local`: context window in tokens (default 2048).
    #[serde(default)]
    pub context_size: Option<u32>,
}

impl Endpoint {
    /// The model a fresh install chats with when no endpoint is configured:
    /// SmolLM2-135M-Instruct, which `scripts/fetch-model.sh` puts in the data
    /// directory. Small and fast on any CPU, and demo quality.
    pub fn builtin_local() -> Self {
        Self {
            kind: Kind::Local,
            name: "Local".into(),
            model_display_label: Some("Local: SmolLM2 135M (tiny, demo quality)".into()),
            models: Models {
                default: vec!["SmolLM2-135M-Instruct".into()],
                fetch: false,
            },
            path: Some(BUILTIN_LOCAL_MODEL.into()),
            ..Self::default()
        }
    }

    pub fn label(&self) -> &str {
        self.model_display_label.as_deref().unwrap_or(&self.name)
    }

    /// The model that writes titles for a conversation held with `current`.
    pub fn title_model_for<'a>(&'a self, current: &'a str) -> &'a str {
        match self.title_model.as_deref() {
            None | Some("current_model") => current,
            Some(m) => m,
        }
    }

    /// Whether each user must store their own key (or URL) before using it.
    pub fn needs_user_credentials(&self) -> bool {
        self.user_provides_key() || self.user_provides_base_url()
    }

    /// Each user supplies the API key (`apiKey: user_provided`).
    pub fn user_provides_key(&self) -> bool {
        self.api_key == Some(Credential::UserProvided)
    }

    /// Each user supplies the base URL (`baseURL: user_provided`).
    pub fn user_provides_base_url(&self) -> bool {
        self.base_url == Some(Credential::UserProvided)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Models {
    #[serde(default)]
    pub default: Vec<String>,
    /// Ask the endpoint's `/models` for the list (falls back to `default`).
    #[serde(default)]
    pub fetch: bool,
}

/// A key or URL given in the file, or `user_provided`: each user stores their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Value(String),
    UserProvided,
}

impl Credential {
    pub fn value(&self) -> Option<&str> {
        match self {
            Credential::Value(v) => Some(v),
            Credential::UserProvided => None,
        }
    }
}

impl<'de> Deserialize<'de> for Credential {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(if s == "user_provided" {
            Credential::UserProvided
        } else {
            Credential::Value(s)
        })
    }
}
