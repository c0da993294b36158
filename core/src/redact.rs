//! What must never be shown: secrets users put in job configs.

use serde_json::Value;

/// Config keys holding credentials. Sahara blanks the swift and s3 keys; we
/// blank anything that looks like a secret, wherever it is.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "credential", "accesskey", "access.key", "private"]
        .iter()
        .any(|needle| k.contains(needle))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
