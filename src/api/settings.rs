//! `api:` (the daemon serves the team-mode API) and `daemon:` (a monitor attaches to one) in a
//! profile, with the safety rule: an API listening beyond loopback needs TLS and tokens.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

fn default_listen() -> String {
    "127.0.0.1:7443".into()
}

/// `api:` in a profile.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    /// Address to listen on (default `127.0.0.1:7443`; port 0 picks a free one, logged).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Server certificate and key (PEM); `client_ca` also requires client certificates (mTLS).
    #[serde(default)]
    pub tls: Option<ApiTls>,
    /// `tokens.yaml`: `- {name, role, sha256}` entries. Without it (loopback only) every caller
    /// is `local` with the admin role.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// Journal entries buffered per watcher before it is told it lagged (default 1024, at least
    /// 512).
    #[serde(default)]
    pub watch_buffer: Option<usize>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: default_listen(),
            tls: None,
            tokens_file: None,
            watch_buffer: None,
        }
    }
}

/// `api.tls`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiTls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// CA that signs client certificates: when set, clients must present one (mTLS).
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// `daemon:` in a profile: where a monitor attaches.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    /// `https://host:7443` (TLS) or `http://127.0.0.1:7443` (plaintext loopback).
    pub url: String,
    /// Environment variable holding the token (default `TFDRIFT_TOKEN`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// File holding the token (instead of the environment).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the daemon's certificate (default: the system roots).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
}

/// Why the API cannot start as configured.
#[derive(Debug, thiserror::Error)]
pub enum ApiSettingsError {
    /// `listen` is not `host:port`.
    #[error("api.listen '{0}' is not an address (write it as 127.0.0.1:7443 or [::1]:7443)")]
    Listen(String),
    /// Non-loopback without TLS or tokens.
    #[error(
        "api.listen '{listen}' is reachable from other machines, so the API needs {missing}: \
         add `tls: {{cert: …, key: …}}` and `tokens_file: …` under `api:` (tokens: \
         `tfdrift api token --name NAME --role viewer`), or listen on 127.0.0.1"
    )]
    Exposed {
        /// The address.
        listen: String,
        /// What is missing.
        missing: &'static str,
    },
}

impl ApiSettings {
    /// The listen address, refused when it is beyond loopback without TLS and tokens.
    pub fn checked_addr(&self) -> Result<SocketAddr, ApiSettingsError> {
        let addr: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| ApiSettingsError::Listen(self.listen.clone()))?;
        if !addr.ip().is_loopback() {
            let missing = match (self.tls.is_some(), self.tokens_file.is_some()) {
                (false, false) => "TLS and tokens",
                (false, true) => "TLS",
                (true, false) => "tokens",
                (true, true) => "",
            };
            if !missing.is_empty() {
                return Err(ApiSettingsError::Exposed {
                    listen: self.listen.clone(),
                    missing,
                });
            }
        }
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_listen_needs_tls_and_tokens() {
        let mut s = ApiSettings {
            listen: "0.0.0.0:7443".into(),
            ..ApiSettings::default()
        };
        let e = s.checked_addr().unwrap_err().to_string();
        assert!(
            e.contains("TLS and tokens") && e.contains("0.0.0.0:7443"),
            "{e}"
        );
        s.tokens_file = Some("t.yaml".into());
        assert!(
            s.checked_addr()
                .unwrap_err()
                .to_string()
                .contains("needs TLS:")
        );
        s.tls = Some(ApiTls {
            cert: "c".into(),
            key: "k".into(),
            client_ca: None,
        });
        assert!(s.checked_addr().is_ok());
        assert!(ApiSettings::default().checked_addr().is_ok());
        s.listen = "nope".into();
        assert!(s.checked_addr().is_err());
    }
}
