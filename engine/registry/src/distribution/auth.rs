//! Credentials as clients send them: the base64 JSON of `X-Registry-Auth` (1.5), the body of
//! `POST /auth`, the `auth` field of `.dockercfg` / `config.json` entries, and a build's
//! credentials per registry in `X-Registry-Config` (1.9).

use super::DistributionError;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An AuthConfig object. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// base64 of `username:password`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serveraddress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identitytoken: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrytoken: Option<String>,
}

/// Decodes base64 in any of the alphabets clients use (standard or URL-safe, padded or not).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let text = text.trim();
    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD].iter().find_map(|e| e.decode(text).ok())
}

impl AuthConfig {
    /// The `X-Registry-Auth` header: empty means no credentials; `{}` too.
    pub fn from_header(value: &str) -> Result<AuthConfig, DistributionError> {
        if value.trim().is_empty() {
            return Ok(AuthConfig::default());
        }
        let bytes = decode_base64(value)
            .ok_or_else(|| DistributionError::Invalid("X-Registry-Auth is not valid base64".into()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| DistributionError::Invalid(format!("X-Registry-Auth is not an AuthConfig JSON object: {e}")))
    }

    /// Username and password, from their fields or from `auth`.
    pub fn user_password(&self) -> Option<(String, String)> {
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            if !u.is_empty() {
                return Some((u.clone(), p.clone()));
            }
        }
        let decoded = decode_base64(self.auth.as_deref()?)?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        (!u.is_empty()).then(|| (u.to_string(), p.to_string()))
    }

    /// The `host:port` a server address names, unless it is the default index.
    pub fn registry_host(&self) -> Option<String> {
        let address = self.serveraddress.as_deref()?.trim();
        let bare = address.trim_start_matches("https://").trim_start_matches("http://");
        let host = bare.split('/').next().unwrap_or_default();
        let default = host.is_empty() || host.ends_with("docker.io") || host == "index.docker.io";
        (!default).then(|| with_port(host))
    }
}

fn with_port(host: &str) -> String {
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    }
}

/// A build's credentials per registry: the `X-Registry-Config` header, base64 JSON of a
/// ConfigFile (`{"configs": {SERVER: AuthConfig}}` as 2014 clients send it, or the bare map of
/// servers later clients send). Servers are keyed as clients write them (`host:port`,
/// `https://index.docker.io/v1/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfigs(BTreeMap<String, AuthConfig>);

impl AuthConfigs {
    /// Decodes the header; an empty one holds no credentials.
    pub fn from_header(value: &str) -> Result<AuthConfigs, DistributionError> {
        if value.trim().is_empty() {
            return Ok(AuthConfigs::default());
        }
        let bad = |why: String| DistributionError::Invalid(format!("X-Registry-Config is not a ConfigFile: {why}"));
        let bytes = decode_base64(value).ok_or_else(|| bad("not valid base64".into()))?;
        let mut config: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if let Some(configs) = config.get_mut("configs").filter(|c| c.is_object()) {
            config = configs.take();
        }
        serde_json::from_value(config).map(AuthConfigs).map_err(|e| bad(e.to_string()))
    }

    /// The credentials for the registry at `host` (`host[:port]`), or for the default index
    /// when `host` is `None` (keyed by a Docker Hub address or by `index`, the daemon's own);
    /// none when the config does not name that server.
    pub fn lookup(&self, host: Option<&str>, index: Option<&str>) -> AuthConfig {
        let wanted = host.or(index).map(with_port);
        let found = self.0.iter().find(|(server, _)| {
            let named = AuthConfig { serveraddress: Some((*server).clone()), ..Default::default() }.registry_host();
            match named {
                Some(named) => wanted.as_deref() == Some(named.as_str()),
                None => host.is_none(),
            }
        });
        found.map(|(_, auth)| auth.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_forms() {
        let json = r#"{"username":"bob","password":"secret","serveraddress":"127.0.0.1:5000"}"#;
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode(json);
        let auth = AuthConfig::from_header(&url_safe).unwrap();
        assert_eq!(auth.user_password(), Some(("bob".into(), "secret".into())));
        assert_eq!(auth.registry_host().as_deref(), Some("127.0.0.1:5000"));
        let auth = AuthConfig { auth: Some("Ym9iOnNlY3JldA==".into()), ..Default::default() };
        assert_eq!(auth.user_password(), Some(("bob".into(), "secret".into())));
        assert!(AuthConfig::from_header("!!!").is_err());
        assert_eq!(AuthConfig::from_header("").unwrap(), AuthConfig::default());
        let hub = AuthConfig { serveraddress: Some("https://index.docker.io/v1/".into()), ..Default::default() };
        assert_eq!(hub.registry_host(), None);
    }

    #[test]
    fn registry_configs() {
        let bob = r#"{"username":"bob","password":"secret"}"#;
        let old = format!(
            r#"{{"configs":{{"http://127.0.0.1:5000/v1/":{bob},"https://index.docker.io/v1/":{{"auth":"YTpi"}}}}}}"#
        );
        let configs = AuthConfigs::from_header(&base64::engine::general_purpose::STANDARD.encode(&old)).unwrap();
        let found = configs.lookup(Some("127.0.0.1:5000"), Some("127.0.0.1:7000"));
        assert_eq!(found.user_password(), Some(("bob".into(), "secret".into())));
        assert_eq!(configs.lookup(None, Some("127.0.0.1:7000")).user_password(), Some(("a".into(), "b".into())));
        assert_eq!(configs.lookup(Some("127.0.0.1:5001"), None), AuthConfig::default());
        let map = format!(r#"{{"127.0.0.1:7000":{bob}}}"#);
        let configs = AuthConfigs::from_header(&base64::engine::general_purpose::URL_SAFE.encode(&map)).unwrap();
        assert_eq!(configs.lookup(None, Some("127.0.0.1:7000")).username.as_deref(), Some("bob"));
        assert_eq!(AuthConfigs::from_header("").unwrap(), AuthConfigs::default());
        assert!(AuthConfigs::from_header("e30").is_ok());
        assert!(AuthConfigs::from_header("W10=").is_err());
    }
}
