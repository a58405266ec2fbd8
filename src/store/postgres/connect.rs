//! From `store:` settings to a connection manager: the URL, the password source, the user,
//! timeouts, and TLS (rustls with the system roots unless `sslmode=disable`). Nothing here
//! prints the password: what is shown is [`display`]'s `postgres://user@host:port/db`.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};

use super::DEFAULT_POOL;
use crate::store::{StoreError, StoreSettings};

pub(super) fn config_err(msg: impl Into<String>) -> StoreError {
    StoreError::Config(msg.into())
}

/// The password: `password_env`, else `password_file`, else what the URL or `PGPASSWORD` give.
fn password(settings: &StoreSettings) -> Result<Option<String>, StoreError> {
    if settings.password_env.is_some() && settings.password_file.is_some() {
        return Err(config_err(
            "both store.password_env and store.password_file are set: keep one",
        ));
    }
    if let Some(var) = &settings.password_env {
        return std::env::var(var).map(Some).map_err(|_| {
            config_err(format!(
                "store.password_env names '{var}', which is not set (export it, or use store.password_file)"
            ))
        });
    }
    if let Some(file) = &settings.password_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            config_err(format!(
                "store.password_file '{file}' cannot be read: {e} (check the path and its permissions)"
            ))
        })?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()))
}

/// `postgres://user@host:port/db`: what errors and logs show.
fn display(cfg: &tokio_postgres::Config) -> String {
    let host = cfg
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    let port = cfg
        .get_ports()
        .first()
        .map_or(String::new(), |p| format!(":{p}"));
    format!(
        "postgres://{}@{host}{port}/{}",
        cfg.get_user().unwrap_or(""),
        cfg.get_dbname().unwrap_or("")
    )
}

/// `postgres://user@host:port/db` for a configured URL (never its password); a URL that does
/// not parse shows as `postgres (invalid URL)`.
#[must_use]
pub fn describe_url(url: &str) -> String {
    url.parse::<tokio_postgres::Config>()
        .map_or_else(|_| "postgres (invalid URL)".to_string(), |c| display(&c))
}

fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(errors = ?found.errors, "No system root certificates found: a TLS connection to PostgreSQL will fail to verify (install ca-certificates, or set sslmode=disable on a trusted network)");
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| config_err(format!("TLS set-up for PostgreSQL failed: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The pool's connection manager, the URL as shown, and the pool size.
pub(super) fn manager(settings: &StoreSettings) -> Result<(Manager, String, usize), StoreError> {
    let Some(url) = settings.url.as_deref() else {
        return Err(config_err("store.url is not set"));
    };
    if settings.path.is_some() {
        return Err(config_err(
            "both store.path (SQLite) and store.url (PostgreSQL) are set: keep one",
        ));
    }
    let mut cfg: tokio_postgres::Config = url.parse().map_err(|e| {
            config_err(format!(
                "store.url is not a PostgreSQL URL ({e}); expected postgres://user@host:5432/db?sslmode=require"
            ))
        })?;
    if let Some(p) = password(settings)? {
        cfg.password(p);
    }
    if cfg.get_user().is_none()
        && let Ok(user) = std::env::var("PGUSER").or_else(|_| std::env::var("USER"))
    {
        cfg.user(&user);
    }
    if cfg.get_connect_timeout().is_none() {
        cfg.connect_timeout(Duration::from_secs(10));
    }
    cfg.application_name("tfdrift");
    let size = settings.pool.unwrap_or(DEFAULT_POOL);
    if size == 0 {
        return Err(config_err(
            "store.pool is 0: it needs at least 1 connection (default 16)",
        ));
    }
    let shown = display(&cfg);
    let mgr_cfg = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let mgr = if cfg.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        Manager::from_config(cfg, tokio_postgres::NoTls, mgr_cfg)
    } else {
        Manager::from_config(cfg, tls()?, mgr_cfg)
    };
    Ok((mgr, shown, size))
}
