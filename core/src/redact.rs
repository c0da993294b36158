//! What must never be shown: secrets users put in job configs.

use serde_json::Value;

/// Config keys holding credentials. Sahara blanks the swift and s3 keys; we
/// blank anything that looks like a secret, wherever it is.
pub fn is_secret_key(key: &str) -> bool {
    // Compared in place, ASCII case ignored: every config key of every job
    // shown goes through here (no lower-cased copy each time).
    let key = key.as_bytes();
    ["password", "secret", "token", "credential", "accesskey", "access.key", "private"]
        .iter()
        .any(|needle| key.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes())))
}

/// `job_configs` with secret values blanked (Sahara shows `""`), and the
/// internal keys Sahara strips (`proxy_configs`, `trusts`) removed.
pub fn job_configs(mut configs: Value) -> Value {
    if let Some(obj) = configs.as_object_mut() {
        obj.remove("proxy_configs");
        obj.remove("trusts");
        for section in ["configs", "params"] {
            if let Some(Value::Object(map)) = obj.get_mut(section) {
                for (key, value) in map.iter_mut() {
                    if is_secret_key(key) {
                        *value = Value::String(String::new());
                    }
                }
            }
        }
    }
    configs
}

/// What a response may not show of a launch: the values of its secrets
/// (secret job configs and interface arguments, write-only cluster configs,
/// callback tokens), wherever an engine or a user echoed them.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secrets(Vec<String>);

/// What a secret is replaced with.
pub const MASK: &str = "***";

impl Secrets {
    pub fn add(&mut self, value: impl Into<String>) {
        let value = value.into();
        if !value.is_empty() && !self.0.contains(&value) {
            self.0.push(value);
        }
    }

    /// The values of the secret-looking keys of `configs`/`params` objects.
    pub fn add_keyed(&mut self, map: &serde_json::Map<String, Value>) {
        for (key, value) in map {
            if is_secret_key(key) {
                self.add(text(value));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What an execution row keeps to mask (`extra.masked`), and its
    /// callback token.
    pub fn of_execution(extra: &Value) -> Self {
        let mut secrets: Secrets =
            extra.get("masked").and_then(|m| serde_json::from_value(m.clone()).ok()).unwrap_or_default();
        if let Some(token) = extra.get("callback_token").and_then(Value::as_str) {
            secrets.add(token);
        }
        secrets
    }

    /// Every string in `value` with each secret masked. A secret of four or
    /// more characters is masked wherever it occurs (`--conf k=s3cret`,
    /// a URL's query); a shorter one only where a string is exactly it,
    /// lest every `1` in a document be masked.
    pub fn scrub(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.scrub_str(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.scrub(v)),
            _ => {}
        }
    }

    pub fn scrub_str(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.0 {
            if out == *secret {
                return MASK.to_string();
            }
            if secret.chars().count() >= 4 {
                out = out.replace(secret.as_str(), MASK);
            }
        }
        out
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_keys_whatever_their_case() {
        for key in ["password", "fs.s3a.secret.key", "X-Auth-TOKEN", "fs.s3a.Access.Key", "AccessKeyId", "ssh_private"]
        {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["", "pass", "mapred.reduce.tasks", "tok", "access_k"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn blanks_secrets_and_strips_internal_keys() {
        let shown = job_configs(json!({
            "configs": {"fs.swift.service.sahara.password": "p", "mapred.reduce.tasks": "2"},
            "params": {"API_TOKEN": "t"},
            "proxy_configs": {"x": 1},
            "args": ["a"]
        }));
        assert_eq!(
            shown,
            json!({"configs": {"fs.swift.service.sahara.password": "", "mapred.reduce.tasks": "2"}, "params": {"API_TOKEN": ""}, "args": ["a"]})
        );
    }

    #[test]
    fn secrets_are_masked_wherever_they_are_echoed() {
        let mut secrets = Secrets::default();
        secrets.add("s3cret-value");
        secrets.add("42");
        let mut doc = json!({"argv": ["--keytab", "s3cret-value", "--conf", "k=s3cret-value", "42", "1420"]});
        secrets.scrub(&mut doc);
        assert_eq!(doc, json!({"argv": ["--keytab", "***", "--conf", "k=***", "***", "1420"]}));
    }
}
