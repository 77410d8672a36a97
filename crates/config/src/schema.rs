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
}

impl Default for Server {
    fn default() -> Self {
        Self {
            secure_cookies: true,
            session_hours: default_session_hours(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_session_hours() -> u32 {
    24 * 7
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    #[serde(default)]
    pub custom: Vec<CustomEndpoint>,
}

/// An OpenAI-compatible endpoint, in `librechat.yaml`'s `endpoints.custom[]` shape.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomEndpoint {
    pub name: String,
    pub api_key: Credential,
    #[serde(rename = "baseURL")]
    pub base_url: Credential,
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
}

impl CustomEndpoint {
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
}

#[derive(Debug, Clone, Deserialize)]
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
