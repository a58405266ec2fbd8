//! The HTTP POST every webhook-style channel uses: timeout, status classification (2xx ok; 429
//! and 5xx retry, honouring `Retry-After`; other 4xx permanent) and errors without the URL.
//!
//! A failed request's error carries the status and a short excerpt of the response body (it
//! goes to logs, the outbox and `notify test`), bounded and masked: a server that echoes the
//! request would otherwise hand back the secret URL path, query, headers or routing key.

use std::time::Duration;

use serde_json::Value;

use super::{SendError, redact_url};
use crate::mask::{MASK, is_secret_key, mask_text};

/// Longest response-body excerpt kept in an error, in characters.
pub const EXCERPT_CHARS: usize = 200;
/// Response bytes read for the excerpt (the rest is never read: a hostile server's endless
/// body costs nothing).
const EXCERPT_READ: usize = 16 * 1024;

/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_hours(1);

/// A shared HTTP client (connection pooling; per-request timeouts).
#[must_use]
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("tfdrift/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// POSTs `body` as JSON with extra `headers`.
pub async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<(), SendError> {
    let mut req = client
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.clone());
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let where_ = redact_url(url);
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            let e = e.without_url();
            let what = if e.is_timeout() {
                format!("timed out after {} ms", timeout.as_millis())
            } else if e.is_connect() {
                "connection failed".to_string()
            } else {
                e.to_string()
            };
            return Err(SendError::retry(format!("POST {where_}: {what}")));
        }
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let got = read_bounded(resp, EXCERPT_READ).await;
    let detail = response_excerpt(&got, url, headers, &body);
    let message = format!("POST {where_}: HTTP {} {detail}", status.as_u16());
    if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 408 {
        Err(SendError {
            message,
            retryable: true,
            retry_after,
        })
    } else {
        Err(SendError::permanent(message))
    }
}

/// At most `max` bytes of the response body.
async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < max {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c[..c.len().min(max - buf.len())]),
            _ => break,
        }
    }
    buf
}

/// Secrets of a request that an echoing server could return: the URL's user, password, path
/// and its segments, query and its values, fragment; header values (and the token of
/// `Bearer …`); body values under secret-named keys (`routing_key`).
fn request_secrets(url: &str, headers: &[(String, String)], request: &[u8]) -> Vec<String> {
    fn walk(v: &Value, secret: bool, out: &mut Vec<String>) {
        match v {
            Value::String(s) if secret => out.push(s.clone()),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| walk(x, secret || is_secret_key(k), out)),
            Value::Array(a) => a.iter().for_each(|x| walk(x, secret, out)),
            _ => {}
        }
    }
    let mut out: Vec<String> = Vec::new();
    if let Ok(u) = reqwest::Url::parse(url) {
        out.push(u.username().to_string());
        out.extend(u.password().map(str::to_string));
        out.push(u.path().to_string());
        out.extend(u.path().split('/').map(str::to_string));
        out.extend(u.query().map(str::to_string));
        out.extend(u.query_pairs().map(|(_, v)| v.into_owned()));
        out.extend(u.fragment().map(str::to_string));
    }
    for (_, v) in headers {
        out.push(v.clone());
        out.extend(v.split_whitespace().nth(1).map(str::to_string));
    }
    if let Ok(v) = serde_json::from_slice::<Value>(request) {
        walk(&v, false, &mut out);
    }
    // Short pieces (`/`, `v2`) are not secrets and would garble the text.
    out.retain(|s| s.chars().count() >= 4 && s != MASK);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// A response body fit to show: the request's secrets and anything that looks like a
/// credential masked, on one line with control characters escaped, at most
/// [`EXCERPT_CHARS`] characters.
#[must_use]
pub fn response_excerpt(
    body: &[u8],
    url: &str,
    headers: &[(String, String)],
    request: &[u8],
) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for s in request_secrets(url, headers, request) {
        if text.contains(&s) {
            text = text.replace(&s, MASK);
        }
    }
    let text = mask_text(&text, false).unwrap_or(text);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let escaped: String = one_line
        .chars()
        .flat_map(|c| {
            let esc: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            esc
        })
        .collect();
    super::truncate(&escaped, EXCERPT_CHARS)
}

/// `Retry-After`: delta seconds or an HTTP date.
#[must_use]
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(
        delta
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn excerpts_hide_what_the_request_carried() {
        let url = "https://user:pw-1234@hooks.example.com/hook/T0PSECRET?token=Q5ECRET&x=1";
        let headers = vec![
            ("Authorization".to_string(), "Bearer HDRSECRET".to_string()),
            (
                "X-Tfdrift-Signature".to_string(),
                "sha256=abcdef0123".to_string(),
            ),
        ];
        let request = br#"{"routing_key":"PDSECRETKEY","payload":{"summary":"x"}}"#;
        let echo = format!(
            "POST /hook/T0PSECRET?token=Q5ECRET&x=1 HTTP/1.1\r\nauthorization: Bearer HDRSECRET\r\nx-tfdrift-signature: sha256=abcdef0123\r\n\r\n{}\u{1b}[31m and AKIAIOSFODNN7EXAMPLE",
            String::from_utf8_lossy(request)
        );
        let out = response_excerpt(echo.as_bytes(), url, &headers, request);
        for s in [
            "T0PSECRET",
            "Q5ECRET",
            "HDRSECRET",
            "abcdef0123",
            "PDSECRETKEY",
            "AKIAIOSFODNN7EXAMPLE",
            "\u{1b}",
            "\n",
        ] {
            assert!(!out.contains(s), "{s} in {out}");
        }
        assert!(out.starts_with("POST "), "{out}");
        assert!(out.chars().count() <= EXCERPT_CHARS, "{out}");
        let long = "x".repeat(10_000);
        assert_eq!(
            response_excerpt(long.as_bytes(), url, &[], b"")
                .chars()
                .count(),
            EXCERPT_CHARS
        );
    }
}
