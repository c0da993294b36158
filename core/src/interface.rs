//! Job template interfaces (Sahara's "job interface arguments"): named
//! arguments a template declares, which a launch fills by name and which
//! land in `configs`, `params` or positional `args`.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::job_types;

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Argument {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub mapping_type: MappingType,
    pub location: String,
    #[serde(default)]
    pub value_type: ValueType,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    /// Position in the declaration, added when the template is stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<usize>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum MappingType {
    Args,
    Configs,
    Params,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    #[default]
    String,
    Number,
    DataSource,
}

/// Checks a template's interface against Sahara's rules and returns it with
/// each argument's `order`.
pub fn check(job_type: &str, raw: Vec<Value>) -> Result<Value> {
    let args: Vec<Argument> = raw
        .into_iter()
        .map(|v| serde_json::from_value(v).map_err(|e| Error::Validation(format!("interface: {e}"))))
        .collect::<Result<_>>()?;
    let mut names = HashSet::new();
    let mut places = HashSet::new();
    let mut positions = Vec::new();
    for arg in &args {
        if arg.name.is_empty() || !names.insert(arg.name.as_str()) {
            return Err(Error::Validation(format!(
                "interface: argument names must be unique and non-empty ('{}')",
                arg.name
            )));
        }
        if !places.insert((arg.mapping_type, arg.location.as_str())) {
            return Err(Error::Validation(format!(
                "interface: two arguments map to the same {:?} location '{}'",
                arg.mapping_type, arg.location
            )));
        }
        if !job_types::accepts(job_type, arg.mapping_type) {
            return Err(Error::Validation(format!("interface: job type {job_type} takes no {:?}", arg.mapping_type)));
        }
        if !arg.required && arg.default.is_none() {
            return Err(Error::Validation(format!(
                "interface: argument '{}' is optional, so it needs a default",
                arg.name
            )));
        }
        if arg.mapping_type == MappingType::Args {
            let index: usize = arg.location.parse().map_err(|_| {
                Error::Validation(format!(
                    "interface: argument '{}' maps to args, so its location must be an index",
                    arg.name
                ))
            })?;
            positions.push(index);
        }
    }
    positions.sort_unstable();
    if positions.iter().enumerate().any(|(i, p)| i != *p) {
        return Err(Error::Validation("interface: args locations must be 0..n-1 with no gaps".into()));
    }
    let with_order: Vec<Value> = args
        .into_iter()
        .enumerate()
        .map(|(order, arg)| {
            serde_json::to_value(Argument { order: Some(order), ..arg }).expect("interface arguments serialise")
        })
        .collect();
    Ok(Value::Array(with_order))
}

impl Argument {
    /// Its value is a secret: its name, or the config or param it sets,
    /// looks like one (`redact::is_secret_key`).
    pub fn is_secret(&self) -> bool {
        crate::redact::is_secret_key(&self.name)
            || (self.mapping_type != MappingType::Args && crate::redact::is_secret_key(&self.location))
    }
}

/// The names of a stored interface's secret arguments.
pub fn secret_names(declared: &Value) -> Vec<String> {
    let Value::Array(items) = declared else { return Vec::new() };
    items
        .iter()
        .filter_map(|v| serde_json::from_value::<Argument>(v.clone()).ok())
        .filter(Argument::is_secret)
        .map(|a| a.name)
        .collect()
}

/// Fills `job_configs` from the launch's `interface` values. `resolve_ds`
/// turns a data-source id into its URL for `data_source` arguments.
/// Returns the values of secret arguments, which are never shown.
pub fn apply(
    declared: &Value,
    given: &Map<String, Value>,
    configs: &mut Map<String, Value>,
    params: &mut Map<String, Value>,
    args: &mut Vec<String>,
    resolve_ds: &dyn Fn(&str) -> Result<String>,
) -> Result<Vec<String>> {
    let mut secrets = Vec::new();
    let declared: Vec<Argument> = match declared {
        Value::Array(items) => items
            .iter()
            .map(|v| {
                serde_json::from_value(v.clone())
                    .map_err(|e| Error::Internal(format!("stored interface is malformed: {e}")))
            })
            .collect::<Result<_>>()?,
        _ => Vec::new(),
    };
    if let Some(unknown) = given.keys().find(|k| !declared.iter().any(|a| &a.name == *k)) {
        return Err(Error::Validation(format!("interface: the template declares no argument '{unknown}'")));
    }
    let mut positional = BTreeMap::new();
    for arg in &declared {
        let target = match arg.mapping_type {
            MappingType::Configs => Some(&mut *configs),
            MappingType::Params => Some(&mut *params),
            MappingType::Args => None,
        };
        let value = match given.get(&arg.name) {
            Some(v) => Some(scalar(&arg.name, v)?),
            None => None,
        };
        let value = match (value, &target) {
            (Some(v), Some(map)) => {
                if let Some(existing) = map.get(&arg.location).map(text)
                    && existing != v
                {
                    return Err(Error::Validation(format!(
                        "interface argument '{}' and job_configs give '{}' different values",
                        arg.name, arg.location
                    )));
                }
                Some(v)
            }
            (Some(v), None) => Some(v),
            (None, Some(map)) if map.contains_key(&arg.location) => None,
            (None, _) => arg.default.clone(),
        };
        let value = match value {
            Some(v) => v,
            None if target.as_ref().is_some_and(|m| m.contains_key(&arg.location)) => continue,
            None if arg.required => {
                return Err(Error::Validation(format!("interface argument '{}' is required", arg.name)));
            }
            None => continue,
        };
        let value = match arg.value_type {
            ValueType::Number if value.parse::<f64>().is_err() => {
                return Err(Error::Validation(format!("interface argument '{}' must be a number", arg.name)));
            }
            ValueType::DataSource => resolve_ds(&value)?,
            _ => value,
        };
        if arg.is_secret() {
            secrets.push(value.clone());
        }
        match target {
            Some(map) => {
                map.insert(arg.location.clone(), Value::String(value));
            }
            None => {
                positional.insert(arg.location.parse::<usize>().unwrap_or(usize::MAX), value);
            }
        }
    }
    if !positional.is_empty() {
        let mut merged: Vec<String> = positional.into_values().collect();
        merged.append(args);
        *args = merged;
    }
    Ok(secrets)
}

fn scalar(name: &str, v: &Value) -> Result<String> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(text(v)),
        _ => Err(Error::Validation(format!("interface argument '{name}' must be a string or a number"))),
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
    fn positional_arguments_come_first_and_defaults_fill_in() {
        let declared = check(
            "Shell",
            vec![
                json!({"name": "first", "mapping_type": "args", "location": "0"}),
                json!({"name": "second", "mapping_type": "args", "location": "1", "required": false, "default": "d"}),
                json!({"name": "mode", "mapping_type": "params", "location": "MODE"}),
            ],
        )
        .unwrap();
        let (mut configs, mut params, mut args) = (Map::new(), Map::new(), vec!["user".to_string()]);
        let given = json!({"first": "a", "mode": 3});
        apply(&declared, given.as_object().unwrap(), &mut configs, &mut params, &mut args, &|_| unreachable!())
            .unwrap();
        assert_eq!(args, ["a", "d", "user"]);
        assert_eq!(params["MODE"], "3");
    }

    #[test]
    fn gaps_unknown_names_and_missing_required_values_are_refused() {
        assert!(check("Shell", vec![json!({"name": "x", "mapping_type": "args", "location": "1"})]).is_err());
        assert!(check("MapReduce", vec![json!({"name": "x", "mapping_type": "args", "location": "0"})]).is_err());
        let declared = check("Shell", vec![json!({"name": "x", "mapping_type": "params", "location": "X"})]).unwrap();
        let (mut c, mut p, mut a) = (Map::new(), Map::new(), vec![]);
        assert!(apply(&declared, &Map::new(), &mut c, &mut p, &mut a, &|_| unreachable!()).is_err());
        let given = json!({"y": 1});
        assert!(apply(&declared, given.as_object().unwrap(), &mut c, &mut p, &mut a, &|_| unreachable!()).is_err());
    }
}
