//! GitHub issues (REST API v3, also GitHub Enterprise Server at `https://HOST/api/v3`): the
//! requests of the issue-tracker channel (see [`super::issues`] for the flow). One issue per
//! drift: `POST /repos/{repo}/issues`, comments with `POST …/issues/{n}/comments`, closed and
//! reopened with `PATCH …/issues/{n}` (`state`, `state_reason`), found again by the hidden
//! marker in its body with `GET /repos/{repo}/issues?state=all&labels=…` (the list endpoint, not
//! search: search is indexed late and would miss an issue created a second ago).
//! Authenticated with `Authorization: Bearer <token>` (a fine-grained token with "Issues: read
//! and write", or a classic token with `repo`).

use reqwest::Method;
use serde_json::{Value, json};

use super::issues::{Found, Req};

/// The public API.
pub const API_URL: &str = "https://api.github.com";

/// Headers GitHub documents for every request (the token's header is added by the caller).
#[must_use]
pub fn headers(token: &str) -> Vec<(String, String)> {
    vec![
        ("Authorization".into(), format!("Bearer {token}")),
        ("Accept".into(), "application/vnd.github+json".into()),
        ("X-GitHub-Api-Version".into(), "2022-11-28".into()),
    ]
}

fn issues_url(api: &str, repo: &str) -> String {
    format!("{api}/repos/{repo}/issues")
}

/// Creates an issue.
#[must_use]
pub fn create(api: &str, repo: &str, title: &str, body: &str, labels: &[String]) -> Req {
    Req {
        method: Method::POST,
        url: issues_url(api, repo),
        body: Some(json!({"title": title, "body": body, "labels": labels})),
    }
}

/// Comments on issue `n`.
#[must_use]
pub fn comment(api: &str, repo: &str, n: u64, body: &str) -> Req {
    Req {
        method: Method::POST,
        url: format!("{}/{n}/comments", issues_url(api, repo)),
        body: Some(json!({"body": body})),
    }
}

/// Closes (as completed) or reopens issue `n`.
#[must_use]
pub fn set_open(api: &str, repo: &str, n: u64, open: bool) -> Req {
    let body = if open {
        json!({"state": "open"})
    } else {
        json!({"state": "closed", "state_reason": "completed"})
    };
    Req {
        method: Method::PATCH,
        url: format!("{}/{n}", issues_url(api, repo)),
        body: Some(body),
    }
}

/// Page `page` (1-based) of the repository's issues carrying `labels`, newest first.
#[must_use]
pub fn list(api: &str, repo: &str, labels: &[String], page: u32) -> Req {
    let mut url = issues_url(api, repo);
    url.push_str("?state=all&sort=created&direction=desc&per_page=100");
    if !labels.is_empty() {
        let joined = labels.join(",");
        url.push_str("&labels=");
        url.extend(percent_encoding::utf8_percent_encode(
            &joined,
            percent_encoding::NON_ALPHANUMERIC,
        ));
    }
    url.push_str(&format!("&page={page}"));
    Req {
        method: Method::GET,
        url,
        body: None,
    }
}

/// The number of a created issue.
#[must_use]
pub fn created(v: &Value) -> Option<u64> {
    v["number"].as_u64()
}

/// The issues of a list page (pull requests, which the endpoint also returns, left out).
#[must_use]
pub fn listed(v: &Value) -> Vec<Found> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter(|i| i.get("pull_request").is_none())
        .filter_map(|i| {
            Some(Found {
                number: i["number"].as_u64()?,
                open: i["state"] == "open",
                body: i["body"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect()
}
