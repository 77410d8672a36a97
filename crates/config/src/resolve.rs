//! Fills what a provider section leaves out: its kind, its name, and
//! credentials from the provider's usual environment variables.

use crate::schema::{Config, Credential, Kind};

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn resolve(config: &mut Config, env: Env<'_>) {
    let first = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()));
    for (slot, kind) in config.endpoints.named_mut() {
        let Some(ep) = slot.as_mut() else { continue };
        ep.kind = kind;
        if ep.name.trim().is_empty() {
            ep.name = kind.default_name().to_string();
        }
        if ep.api_key.is_none() {
            ep.api_key = first(kind.key_variables()).map(Credential::Value);
        }
        if ep.base_url.is_none() {
            ep.base_url = kind
                .default_base_url()
                .map(|u| Credential::Value(u.to_string()));
        }
        match kind {
            Kind::Bedrock => {
                ep.region = ep
                    .region
                    .take()
                    .or_else(|| first(&["AWS_REGION", "AWS_DEFAULT_REGION"]));
                if ep.access_key_id.is_none() && ep.secret_access_key.is_none() {
                    ep.access_key_id = first(&["AWS_ACCESS_KEY_ID"]);
                    ep.secret_access_key = first(&["AWS_SECRET_ACCESS_KEY"]);
                    ep.session_token = first(&["AWS_SESSION_TOKEN"]);
                }
            }
            Kind::Vertex => {
                ep.service_account_file = ep
                    .service_account_file
                    .take()
                    .or_else(|| first(&["GOOGLE_APPLICATION_CREDENTIALS"]));
                ep.region.get_or_insert_with(|| "us-central1".into());
            }
            _ => {}
        }
    }
    for ep in &mut config.endpoints.local {
        ep.kind = Kind::Local;
        if ep.name.trim().is_empty() {
            ep.name = Kind::Local.default_name().to_string();
        }
        // The model is the file: name it after the file when the list is empty.
        if ep.models.default.is_empty()
            && let Some(stem) = ep
                .path
                .as_deref()
                .map(std::path::Path::new)
                .and_then(|p| p.file_stem())
        {
            ep.models.default = vec![stem.to_string_lossy().into_owned()];
        }
    }
}
