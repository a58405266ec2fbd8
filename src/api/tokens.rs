//! API tokens and roles. `tokens.yaml` holds `- {name, role, sha256}`: the SHA-256 of each
//! token, never the token. The file is checked (one `stat`) on every call and re-read when it
//! changed, so removing a line revokes a token without a restart. A file that no longer parses
//! refuses every token (fail closed: a broken edit must not keep a revoked token valid).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// What a caller may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watch, list, read everything the monitor shows.
    Viewer,
    /// + ack, snooze, resolve, reopen, notify retry.
    Responder,
    /// + edit rules.
    Admin,
}

impl Role {
    /// Lower-case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    /// Parses [`Role::as_str`].
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Role::Viewer),
            "responder" => Some(Role::Responder),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// One line of `tokens.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who: recorded with every write the token makes.
    pub name: String,
    /// What the token may do.
    pub role: Role,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Token name (`local` without a tokens file).
    pub name: String,
    /// Role.
    pub role: Role,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token was sent.
    #[error(
        "no API token: this daemon requires one (set TFDRIFT_TOKEN or pass --token-file; an admin creates tokens with `tfdrift api token`)"
    )]
    Missing,
    /// The token matches no entry.
    #[error(
        "the API token is not known to this daemon (mistyped, revoked, or made for another daemon): ask its admin for a token"
    )]
    Unknown,
    /// The tokens file cannot be read or parsed.
    #[error(
        "the daemon's tokens file is unreadable, so every token is refused (its log says why; the admin must fix it)"
    )]
    FileBroken,
}

/// Hex SHA-256 of a token.
#[must_use]
pub fn hash(token: &str) -> String {
    let d = Sha256::digest(token.trim().as_bytes());
    d.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A new random token (256 bits, hex) with the `tokens.yaml` line that admits it.
pub fn generate(name: &str, role: Role) -> Result<(String, String), getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let token = bytes.iter().fold(String::from("tfd_"), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    });
    let line = format!(
        "- {{name: {}, role: {}, sha256: {}}}",
        serde_json::to_string(name).unwrap_or_default(),
        role.as_str(),
        hash(&token)
    );
    Ok((token, line))
}

/// Parses `tokens.yaml` text; errors name the file and position.
pub fn parse(path: &Path, text: &str) -> Result<Vec<TokenEntry>, String> {
    let entries: Vec<TokenEntry> = if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    for e in &entries {
        if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{}: entry '{}': sha256 must be 64 hex digits (the line `tfdrift api token` prints)",
                path.display(),
                e.name
            ));
        }
    }
    Ok(entries)
}

type Stamp = (SystemTime, u64);

/// The file's stamp when last read, and what it held (or why it was refused).
type Cached = (Option<Stamp>, Result<Vec<TokenEntry>, String>);

/// `tokens.yaml`, re-read when its modification time or size changes.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    cache: Mutex<Cached>,
}

impl TokenFile {
    /// Loads the file; an error here (missing, unparseable) stops the daemon's start.
    pub fn open(path: &Path) -> Result<Self, String> {
        let f = TokenFile {
            path: path.to_path_buf(),
            cache: Mutex::new((None, Ok(Vec::new()))),
        };
        f.current()?;
        Ok(f)
    }

    fn stamp(&self) -> Option<Stamp> {
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    fn current(&self) -> Result<Vec<TokenEntry>, String> {
        let stamp = self.stamp();
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if stamp.is_none() || cache.0 != stamp {
            let loaded = std::fs::read_to_string(&self.path)
                .map_err(|e| format!("cannot read tokens file {}: {e}", self.path.display()))
                .and_then(|t| parse(&self.path, &t));
            match &loaded {
                Ok(e) => {
                    tracing::info!(path = %self.path.display(), tokens = e.len(), "API tokens loaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "API tokens file rejected; every token is refused until it is fixed");
                }
            }
            *cache = (stamp, loaded);
        }
        cache.1.clone()
    }

    /// The caller a token stands for.
    pub fn authenticate(&self, token: Option<&str>) -> Result<Caller, TokenError> {
        let token = token
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(TokenError::Missing)?;
        let entries = self.current().map_err(|_| TokenError::FileBroken)?;
        let h = hash(token);
        entries
            .iter()
            .find(|e| e.sha256.eq_ignore_ascii_case(&h))
            .map(|e| Caller {
                name: e.name.clone(),
                role: e.role,
            })
            .ok_or(TokenError::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_authenticate_and_revocation_needs_no_restart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens.yaml");
        let (t1, l1) = generate("alice", Role::Responder).unwrap();
        let (t2, l2) = generate("bob", Role::Viewer).unwrap();
        assert!(!l1.contains(&t1), "the line must not hold the token");
        std::fs::write(&p, format!("{l1}\n{l2}\n")).unwrap();
        let f = TokenFile::open(&p).unwrap();
        assert_eq!(f.authenticate(Some(&t1)).unwrap().name, "alice");
        assert_eq!(f.authenticate(Some(&t2)).unwrap().role, Role::Viewer);
        assert_eq!(f.authenticate(Some("nope")), Err(TokenError::Unknown));
        assert_eq!(f.authenticate(None), Err(TokenError::Missing));
        std::fs::write(&p, format!("{l2}\n")).unwrap();
        assert_eq!(f.authenticate(Some(&t1)), Err(TokenError::Unknown));
        std::fs::write(&p, "- {name: x, role: god, sha256: 12}\n").unwrap();
        assert_eq!(f.authenticate(Some(&t2)), Err(TokenError::FileBroken));
    }
}
