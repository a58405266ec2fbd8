//! Generic webhook: the alert JSON (`tfdrift.alert/v1`), signed with
//! `X-Tfdrift-Signature: sha256=<hex HMAC-SHA256 of the body>` when a secret is configured.
//! Digests and resolutions are wrapped: `{"type": "digest", "alerts": […]}`,
//! `{"type": "resolve", "alert": {…}}` (a drift's end adds `"event": "drift.resolved"` and
//! `"drift": {…}` with the reason). An alert that opens or updates a drift carries
//! `"drift": {"event": "drift.opened" | "drift.updated", …}`.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Message;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Tfdrift-Signature";

/// The body for a message.
#[must_use]
pub fn render(msg: &Message) -> Value {
    match msg {
        Message::Alert {
            alert,
            repeats,
            drift,
        } => {
            let mut v = serde_json::to_value(alert).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                if *repeats > 0 {
                    m.insert("repeats".into(), json!(repeats));
                }
                // The alert's own `event` is the cloud event: the drift's event name
                // (`drift.opened` / `drift.updated`) is `drift.event`.
                if let Some(n) = drift {
                    m.insert("drift".into(), json!(n));
                }
            }
            v
        }
        Message::Resolve { alert, drift: None } => json!({"type": "resolve", "alert": alert}),
        Message::Resolve {
            alert,
            drift: Some(n),
        } => json!({"type": "resolve", "event": "drift.resolved", "alert": alert, "drift": n}),
        Message::Digest { alerts } => {
            json!({"type": "digest", "count": alerts.len(), "alerts": alerts})
        }
    }
}

/// `sha256=<hex>` of the body under `secret`.
#[must_use]
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + bytes.len() * 2);
    hex.push_str("sha256=");
    for b in bytes {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
