//! Generic webhook: the alert JSON (`tfdrift.alert/v1`), signed when a secret is configured with
//! `X-Tfdrift-Timestamp: <unix seconds>` and
//! `X-Tfdrift-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` (as Slack and Stripe
//! sign): the timestamp is inside the MAC, so a receiver that rejects old timestamps cannot be
//! fed a captured request again later.
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
/// The timestamp header (unix seconds when the request was signed).
pub const TIMESTAMP_HEADER: &str = "X-Tfdrift-Timestamp";
/// How old a signed request [`verify`] still accepts, in seconds (either way, for clock skew).
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

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

/// `sha256=<hex>` HMAC-SHA256 of `message` under `secret`.
#[must_use]
pub fn signature(secret: &[u8], message: &[u8]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(message);
    let bytes = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + bytes.len() * 2);
    hex.push_str("sha256=");
    for b in bytes {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// What is signed: `<timestamp>.<body>`.
#[must_use]
pub fn signed_message(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut m = format!("{timestamp}.").into_bytes();
    m.extend_from_slice(body);
    m
}

/// The timestamp and signature headers for `body` sent at `timestamp` (unix seconds).
#[must_use]
pub fn signature_headers(secret: &[u8], body: &[u8], timestamp: i64) -> [(String, String); 2] {
    [
        (TIMESTAMP_HEADER.to_string(), timestamp.to_string()),
        (
            SIGNATURE_HEADER.to_string(),
            signature(secret, &signed_message(timestamp, body)),
        ),
    ]
}

/// What a receiver does (the README shows the same in shell and Python): the signature matches
/// `<timestamp>.<body>` (compared in constant time) and the timestamp is within `tolerance_secs`
/// of `now`.
#[must_use]
pub fn verify(
    secret: &[u8],
    body: &[u8],
    timestamp: &str,
    signature_header: &str,
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if (now - ts).abs() > tolerance_secs {
        return false;
    }
    let Some(hex) = signature_header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(given) = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(&signed_message(ts, body));
    mac.verify_slice(&given).is_ok()
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

    #[test]
    fn the_timestamp_is_signed_and_checked() {
        let body = br#"{"id":"tfd-1"}"#;
        let [(th, ts), (sh, sig)] = signature_headers(b"k", body, 1_700_000_000);
        assert_eq!((th.as_str(), ts.as_str()), (TIMESTAMP_HEADER, "1700000000"));
        assert_eq!(sh, SIGNATURE_HEADER);
        assert_eq!(sig, signature(b"k", b"1700000000.{\"id\":\"tfd-1\"}"));
        assert!(verify(b"k", body, &ts, &sig, 1_700_000_100, 300));
        // Replayed later, with another timestamp, another body or key: rejected.
        assert!(!verify(b"k", body, &ts, &sig, 1_700_000_400, 300));
        assert!(!verify(b"k", body, "1700000300", &sig, 1_700_000_300, 300));
        assert!(!verify(b"k", b"{}", &ts, &sig, 1_700_000_000, 300));
        assert!(!verify(b"x", body, &ts, &sig, 1_700_000_000, 300));
        assert!(!verify(b"k", body, &ts, "sha256=zz", 1_700_000_000, 300));
    }
}
