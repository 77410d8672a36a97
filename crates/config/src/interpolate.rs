//! `${VAR}` references in string values, as in `librechat.yaml`.

use serde_yaml_ng::Value;

/// Replaces every `${NAME}` in every string value. Unset variables are errors
/// (with the key path), because a silently empty API key fails much later and
/// much less clearly.
pub fn resolve_env(
    value: &mut Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Vec<(String, String)>> {
    let mut errors = Vec::new();
    walk(value, String::new(), env, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn walk(
    value: &mut Value,
    path: String,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<(String, String)>,
) {
    match value {
        Value::String(s) => match substitute(s, env) {
            Ok(Some(new)) => *s = new,
            Ok(None) => {}
            Err(msg) => errors.push((path, msg)),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{path}[{i}]"), env, errors);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = match key {
                    Value::String(k) => k.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                walk(item, child, env, errors);
            }
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path, env, errors),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `Ok(None)` when `s` holds no reference.
fn substitute(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<String>, String> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!(
                "unclosed `${{` in {s:?}: expected `${{VARIABLE_NAME}}`"
            ));
        };
        let name = &after[..end];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`${{{name}}}` is not a variable reference: expected `${{VARIABLE_NAME}}` (letters, digits, _)"
            ));
        }
        match env(name) {
            Some(v) => out.push_str(&v),
            None => return Err(format!("environment variable {name} is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}
