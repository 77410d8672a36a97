//! `chorus.yaml`: the configuration schema, `${ENV}` interpolation and validation.
//!
//! The `endpoints` section reads LibreChat's `librechat.yaml` shape, so a LibreChat
//! user can bring their file. Keys Chorus does not know are reported as warnings
//! (LibreChat files carry many), never silently dropped. Every error names the file,
//! the key path (`endpoints.custom[2].baseURL`) and what was expected.

mod error;
mod interpolate;
mod mcp;
mod resolve;
mod schema;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use mcp::{
    McpServer, McpSettings, McpTransport, ServerInstructions, USER_PLACEHOLDERS, UserVar,
    placeholders,
};
pub use schema::*;

use std::path::{Path, PathBuf};

/// A parsed, interpolated and validated configuration, plus what was ignored.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// Where it came from (`None` for the built-in defaults).
    pub source: Option<PathBuf>,
    /// Key paths present in the file that Chorus does not use.
    pub ignored_keys: Vec<String>,
}

/// Reads and validates `path`.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors::one(ConfigError::new(
            path,
            "",
            format!("cannot read the file: {e}"),
        ))
    })?;
    load_str(&text, path, &|name| std::env::var(name).ok())
}

/// Reads `path` when it exists, else returns the defaults.
pub fn load_optional(path: &Path) -> Result<Loaded, ConfigErrors> {
    if path.exists() {
        load_file(path)
    } else {
        Ok(Loaded {
            config: Config::default(),
            source: None,
            ignored_keys: Vec::new(),
        })
    }
}

/// Parses `text` as if read from `file`, resolving `${VAR}` with `env`.
pub fn load_str(
    text: &str,
    file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigErrors> {
    let mut value: serde_yaml_ng::Value = if text.trim().is_empty() {
        serde_yaml_ng::Value::Mapping(Default::default())
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            ConfigErrors::one(ConfigError::new(
                file,
                "",
                format!("not valid YAML{at}: {e}"),
            ))
        })?
    };
    if value.is_null() {
        value = serde_yaml_ng::Value::Mapping(Default::default());
    }
    interpolate::resolve_env(&mut value, env).map_err(|errs| {
        ConfigErrors(
            errs.into_iter()
                .map(|(path, msg)| ConfigError::new(file, &path, msg))
                .collect(),
        )
    })?;

    let mut ignored_keys = Vec::new();
    let mut on_ignored = |path: serde_ignored::Path<'_>| ignored_keys.push(ignored_path(&path));
    let deserializer = serde_ignored::Deserializer::new(value, &mut on_ignored);
    let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = display_path(&e.path().to_string());
        ConfigErrors::one(ConfigError::new(
            file,
            &path,
            expected_message(e.inner().to_string()),
        ))
    })?;

    resolve::resolve(&mut config, env);
    let errors = validate::validate(&config);
    if !errors.is_empty() {
        return Err(ConfigErrors(
            errors
                .into_iter()
                .map(|(path, msg)| ConfigError::new(file, &path, msg))
                .collect(),
        ));
    }
    Ok(Loaded {
        config,
        source: Some(file.to_path_buf()),
        ignored_keys,
    })
}

/// serde_path_to_error writes `endpoints.custom[0].name`; the root is `.`.
fn display_path(p: &str) -> String {
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

/// `endpoints.custom[0].iconURL`, the same notation as errors use.
fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => {
            let parent = ignored_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

/// serde's messages say "invalid type: string \"x\", expected a boolean"; keep them
/// but make the untagged ones readable.
fn expected_message(msg: String) -> String {
    msg.replace(
        "data did not match any variant of untagged enum",
        "unexpected value for",
    )
}

#[cfg(test)]
mod tests;
