//! Checks serde cannot express: URLs, uniqueness, non-empty lists.

use crate::schema::{Config, Credential};
use std::collections::HashSet;

pub fn validate(config: &Config) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut names = HashSet::new();
    for (i, ep) in config.endpoints.custom.iter().enumerate() {
        let at = |key: &str| format!("endpoints.custom[{i}].{key}");
        let name = ep.name.trim();
        if name.is_empty() {
            errors.push((at("name"), "expected a non-empty name".into()));
        } else if !names.insert(name.to_lowercase()) {
            errors.push((
                at("name"),
                format!("another endpoint is already named {name:?}: names must be unique"),
            ));
        }
        if let Credential::Value(v) = &ep.base_url {
            match url::Url::parse(v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => errors.push((
                    at("baseURL"),
                    format!("expected an http(s) URL such as \"https://api.example.com/v1\" or \"user_provided\", got {v:?}"),
                )),
            }
        }
        if let Credential::Value(v) = &ep.api_key
            && v.trim().is_empty()
        {
            errors.push((
                at("apiKey"),
                "expected an API key, a ${VARIABLE} reference, or \"user_provided\"; got an empty string".into(),
            ));
        }
        if ep.models.default.is_empty() && !ep.models.fetch {
            errors.push((
                at("models.default"),
                "expected at least one model name (or `fetch: true` to ask the endpoint)".into(),
            ));
        }
        for (j, m) in ep.models.default.iter().enumerate() {
            if m.trim().is_empty() {
                errors.push((
                    at(&format!("models.default[{j}]")),
                    "expected a model name, got an empty string".into(),
                ));
            }
        }
    }
    for (i, d) in config.registration.allowed_domains.iter().enumerate() {
        if d.trim().is_empty() || d.contains('@') {
            errors.push((
                format!("registration.allowedDomains[{i}]"),
                format!("expected a domain such as \"example.com\", got {d:?}"),
            ));
        }
    }
    if config.server.session_hours == 0 {
        errors.push((
            "server.sessionHours".into(),
            "expected a number of hours greater than 0".into(),
        ));
    }
    errors
}
