//! Where the server is and who we are: flags, over the environment
//! (`EDP_URL`, `EDP_TOKEN`, `EDP_CONFIG`; empty means unset), over
//! `~/.config/edp/config.toml`, over the defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::args::Global;
use crate::error::{DEFAULT_ORIGIN, Failure, Result};

pub const DEFAULT_URL: &str = "http://127.0.0.1:8386";
/// The cluster every edpd declares out of the box.
pub const DEFAULT_CLUSTER: &str = "local";

/// `config.toml`. Unknown keys are errors: a misspelt `tokn` silently
/// ignored would send requests without a token.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    url: Option<String>,
    token: Option<String>,
    default_cluster: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Normalised: no trailing `/`, no `/v2`.
    pub url: String,
    /// Where the URL came from, for "cannot reach edpd" ("from --url",
    /// "from EDP_URL", the config file, or the default).
    pub url_source: String,
    pub token: Option<String>,
    pub default_cluster: String,
}

pub fn load(global: &Global) -> Result<Settings> {
    let config = global.config.clone().or_else(|| env("EDP_CONFIG").map(PathBuf::from));
    let file = match &config {
        // Asked for by name: it must exist.
        Some(path) => read(path)?,
        None => match default_path() {
            Some(path) if path.exists() => read(&path)?,
            _ => FileConfig::default(),
        },
    };
    let from_file = || config.clone().or_else(default_path).map(|p| format!("from `url` in {}", p.display()));
    let (url, url_source) = match (global.url.clone(), env("EDP_URL"), file.url) {
        (Some(url), _, _) => (url, "from --url".to_string()),
        (None, Some(url), _) => (url, "from EDP_URL".to_string()),
        (None, None, Some(url)) => (url, from_file().unwrap_or_else(|| "from the config file".into())),
        (None, None, None) => (DEFAULT_URL.to_string(), DEFAULT_ORIGIN.to_string()),
    };
    Ok(Settings {
        url: normalise_url(&url)?,
        url_source,
        token: global.token.clone().or_else(|| env("EDP_TOKEN")).or(file.token).filter(|t| !t.is_empty()),
        default_cluster: file.default_cluster.unwrap_or_else(|| DEFAULT_CLUSTER.to_string()),
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// `$XDG_CONFIG_HOME/edp/config.toml`, else `$HOME/.config/edp/config.toml`.
/// A relative XDG_CONFIG_HOME is invalid by the spec and ignored.
pub fn default_path() -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("edp").join("config.toml"))
}

fn read(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read the config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Failure::usage(format!("config file {}: {e}", path.display())))
}

/// Accepts `host:port`, a trailing `/` and a trailing `/v2` (what people
/// copy from curl examples), and gives the bare base URL.
fn normalise_url(raw: &str) -> Result<String> {
    let mut url = raw.trim().to_string();
    if !url.contains("://") {
        url = format!("http://{url}");
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Failure::usage(format!("server URL `{raw}` must be http:// or https://")));
    }
    while url.ends_with('/') {
        url.pop();
    }
    if let Some(stripped) = url.strip_suffix("/v2") {
        url = stripped.to_string();
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        assert_eq!(normalise_url("http://h:1/").unwrap(), "http://h:1");
        assert_eq!(normalise_url("http://h:1/v2/").unwrap(), "http://h:1");
        assert_eq!(normalise_url("h:1").unwrap(), "http://h:1");
        assert!(normalise_url("ftp://h").is_err());
    }
}
