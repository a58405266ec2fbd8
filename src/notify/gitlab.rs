//! GitLab issues (REST API v4, gitlab.com or self-managed at `https://HOST/api/v4`): the
//! requests of the issue-tracker channel (see [`super::issues`] for the flow), the same shape
//! as [`super::github`]. The project is its path (`group/project`, URL-encoded) or numeric id;
//! issues are addressed by `iid`. Created with `POST /projects/:id/issues`, commented with
//! `POST …/issues/:iid/notes`, closed and reopened with `PUT …/issues/:iid` (`state_event`),
//! found again by the hidden marker in the description among the issues carrying the channel's
//! labels. Authenticated with `PRIVATE-TOKEN` (a project access token with `api` scope).

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use serde_json::{Value, json};

use super::issues::{Found, Req};

/// gitlab.com's API.
pub const API_URL: &str = "https://gitlab.com/api/v4";

/// The token header.
#[must_use]
pub fn headers(token: &str) -> Vec<(String, String)> {
    vec![("PRIVATE-TOKEN".into(), token.to_string())]
}

fn issues_url(api: &str, project: &str) -> String {
    format!(
        "{api}/projects/{}/issues",
        utf8_percent_encode(project, NON_ALPHANUMERIC)
    )
}

/// Creates an issue.
#[must_use]
pub fn create(api: &str, project: &str, title: &str, body: &str, labels: &[String]) -> Req {
    Req {
        method: Method::POST,
        url: issues_url(api, project),
        body: Some(json!({"title": title, "description": body, "labels": labels.join(",")})),
    }
}

/// Comments (a note) on issue `iid`.
#[must_use]
pub fn comment(api: &str, project: &str, iid: u64, body: &str) -> Req {
    Req {
        method: Method::POST,
        url: format!("{}/{iid}/notes", issues_url(api, project)),
        body: Some(json!({"body": body})),
    }
}

/// Closes or reopens issue `iid`.
#[must_use]
pub fn set_open(api: &str, project: &str, iid: u64, open: bool) -> Req {
    Req {
        method: Method::PUT,
        url: format!("{}/{iid}", issues_url(api, project)),
        body: Some(json!({"state_event": if open { "reopen" } else { "close" }})),
    }
}

/// Page `page` (1-based) of the project's issues carrying `labels`, newest first.
#[must_use]
pub fn list(api: &str, project: &str, labels: &[String], page: u32) -> Req {
    let mut url = issues_url(api, project);
    url.push_str("?scope=all&order_by=created_at&sort=desc&per_page=100");
    if !labels.is_empty() {
        url.push_str("&labels=");
        url.extend(utf8_percent_encode(&labels.join(","), NON_ALPHANUMERIC));
    }
    url.push_str(&format!("&page={page}"));
    Req {
        method: Method::GET,
        url,
        body: None,
    }
}

/// The iid of a created issue.
#[must_use]
pub fn created(v: &Value) -> Option<u64> {
    v["iid"].as_u64()
}

/// The issues of a list page.
#[must_use]
pub fn listed(v: &Value) -> Vec<Found> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some(Found {
                number: i["iid"].as_u64()?,
                open: i["state"] == "opened",
                body: i["description"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect()
}
