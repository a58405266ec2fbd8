//! The gate every API call passes: protocol version first (a different major is refused with
//! both versions named), then the token (UNAUTHENTICATED with what to do), then — in each
//! handler — the role the call needs (PERMISSION_DENIED naming it).

use std::sync::Arc;

use tonic::{Request, Status};

use super::tokens::{Caller, Role, TokenFile};
use super::{PROTOCOL_HEADER, PROTOCOL_MAJOR, protocol};

/// Checks version and token; put in front of the service with `with_interceptor`.
#[derive(Debug, Clone)]
pub struct Gate {
    tokens: Option<Arc<TokenFile>>,
}

impl Gate {
    /// `tokens: None`: every caller is `local` with the admin role (loopback only).
    #[must_use]
    pub fn new(tokens: Option<Arc<TokenFile>>) -> Self {
        Gate { tokens }
    }

    /// Whether the client's version can talk to this daemon.
    pub fn check_version<T>(req: &Request<T>) -> Result<(), Status> {
        let theirs = req
            .metadata()
            .get(PROTOCOL_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let major = theirs
            .as_deref()
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.trim().parse::<u32>().ok());
        if major == Some(PROTOCOL_MAJOR) {
            return Ok(());
        }
        let theirs = theirs.map_or_else(
            || "no version (no `tfdrift-protocol` metadata)".to_string(),
            |v| format!("protocol {v}"),
        );
        Err(Status::failed_precondition(format!(
            "incompatible client: this daemon speaks tfdrift protocol {} and the client sent {theirs}; \
             use a tfdrift client release that speaks protocol {PROTOCOL_MAJOR}.x",
            protocol()
        )))
    }

    /// The caller a request's token stands for.
    pub fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        let Some(tokens) = &self.tokens else {
            return Ok(Caller {
                name: "local".into(),
                role: Role::Admin,
            });
        };
        let token = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or(v));
        tokens
            .authenticate(token)
            .map_err(|e| Status::unauthenticated(e.to_string()))
    }
}

impl tonic::service::Interceptor for Gate {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        Self::check_version(&req)?;
        let caller = self.caller(&req)?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// The caller the gate admitted, if its role is at least `need`.
pub fn require<T>(req: &Request<T>, need: Role, what: &str) -> Result<Caller, Status> {
    let caller =
        req.extensions().get::<Caller>().cloned().ok_or_else(|| {
            Status::internal("request reached a handler without passing the gate")
        })?;
    if caller.role >= need {
        Ok(caller)
    } else {
        Err(Status::permission_denied(format!(
            "{what} needs the {} role; the token '{}' has the {} role (ask the daemon's admin)",
            need.as_str(),
            caller.name,
            caller.role.as_str()
        )))
    }
}
