//! `tfdrift drifts list|show|resolve` through a team-mode daemon's API, with real processes and
//! real sockets: a `tfdrift serve` daemon (Falco HTTP source, SQLite store, the API on loopback
//! with a tokens file holding a viewer and a responder token made by `tfdrift api token`), and
//! the CLI run once against the daemon (`--connect`, or a profile with `daemon:`) and once
//! against the store (`--profile`).
//!
//! Covers: the open drifts listed through the API are the store's, and the `--json` lines (and
//! the table) are the same bytes either way; acknowledgements and snoozes of a drift show in
//! both; `show --json` is the same; `--fail-on-open` exits 2 through the API too, and
//! `--min-severity` filters the same; `GetDrift` returns the drift's occurrences newest first
//! (what the monitor lists on Enter); a bad or missing token, an unknown drift and a viewer's
//! resolve are refused with a clear message (the token never printed); a responder's resolve
//! goes through and lists as `resolved:manual`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use tfdrift::api::client::{Client, ClientOptions};
use tfdrift::api::proto as pb;
use tfdrift::store::{DriftFilter, Store as _};

use crate::team_support;
use team_support::{BIN, Proc, falco_event, free_port, post, token, wait_for};

struct Team {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    falco: String,
    url: String,
    viewer: String,
    responder: String,
}

impl Team {
    fn new() -> Team {
        let dir = tempfile::tempdir().unwrap();
        let (viewer, v) = token("victor", "viewer");
        let (responder, r) = token("rita", "responder");
        std::fs::write(dir.path().join("tokens.yaml"), format!("{v}\n{r}\n")).unwrap();
        let (fport, aport) = (free_port(), free_port());
        let d = dir.path().display();
        let yaml = format!(
            "profiles:\n  team:\n    rules: []\n    sources: [{{type: falco_http, listen: \"127.0.0.1:{fport}\"}}]\n    store: {{path: \"{d}/store.db\"}}\n    api:\n      listen: \"127.0.0.1:{aport}\"\n      tokens_file: \"{d}/tokens.yaml\"\n  oncall:\n    daemon: {{url: \"http://127.0.0.1:{aport}\", token_env: ONCALL_TOKEN}}\n"
        );
        let cfg = dir.path().join("tfdrift.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        Team {
            dir,
            cfg,
            falco: format!("http://127.0.0.1:{fport}/"),
            url: format!("http://127.0.0.1:{aport}"),
            viewer,
            responder,
        }
    }

    fn daemon(&self) -> Proc {
        team_support::serve(&self.cfg)
    }

    fn store(&self) -> tfdrift::store::SqliteStore {
        tfdrift::store::open(&self.dir.path().join("store.db")).unwrap()
    }

    /// `tfdrift drifts ARGS` on the store (`--profile team`).
    fn local(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("drifts")
            .args(args)
            .args(["--profile", "team", "--config"])
            .arg(&self.cfg)
            .env_remove("TFDRIFT_TOKEN")
            .output()
            .unwrap()
    }

    /// `tfdrift drifts ARGS --connect URL` with `token` (none: no token at all).
    fn remote(&self, args: &[&str], token: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("drifts")
            .args(args)
            .args(["--connect", &self.url])
            .env_remove("TFDRIFT_TOKEN");
        if let Some(t) = token {
            cmd.env("TFDRIFT_TOKEN", t);
        }
        cmd.output().unwrap()
    }

    fn client(&self, rt: &tokio::runtime::Runtime, token: &str) -> Client {
        let opts = ClientOptions {
            url: self.url.clone(),
            token: Some(token.to_string()),
            ca_cert: None,
        };
        rt.block_on(Client::connect(&opts)).unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit code and stdout, stderr shown on failure.
fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {:?}\n{}",
        o.status,
        text(&o.stderr)
    );
    text(&o.stdout)
}

#[test]
fn drifts_through_the_api_are_the_stores() {
    let team = Team::new();
    let daemon = team.daemon();
    // Three unmanaged security groups changed; the second one twice.
    post(&team.falco, 0..3, 3, Duration::ZERO);
    let mut again = falco_event(1);
    again["output_fields"]["ct.id"] = "team-1-again".into();
    let r = rt()
        .block_on(
            reqwest::Client::new()
                .post(&team.falco)
                .body(again.to_string())
                .send(),
        )
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let store = team.store();
    wait_for(
        "three drifts, one seen twice",
        Duration::from_mins(1),
        || {
            let d = store
                .drifts(&DriftFilter::default())
                .map_err(|e| e.to_string())?;
            if d.len() == 3 && d.iter().any(|d| d.occurrences == 2) {
                Ok(())
            } else {
                Err(format!("{d:?}\n{}", daemon.err()))
            }
        },
    );
    let stored = store
        .drifts(&DriftFilter {
            unresolved_only: true,
            ..DriftFilter::default()
        })
        .unwrap();

    // The open drifts through the API: the store's, the same JSON lines as the local command.
    let remote = ok(
        &team.remote(&["list", "--json"], Some(&team.viewer)),
        "list --connect",
    );
    let local = ok(&team.local(&["list", "--json"]), "list --profile");
    assert_eq!(remote, local);
    let ids: Vec<String> = remote
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = stored.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids, want);
    assert_eq!(ids.len(), 3);
    // The table too.
    assert_eq!(
        ok(&team.remote(&["list"], Some(&team.viewer)), "table"),
        ok(&team.local(&["list"]), "table")
    );
    // A profile with `daemon:` asks the daemon.
    let oncall = Command::new(BIN)
        .args([
            "drifts",
            "list",
            "--json",
            "--profile",
            "oncall",
            "--config",
        ])
        .arg(&team.cfg)
        .env_remove("TFDRIFT_TOKEN")
        .env("ONCALL_TOKEN", &team.viewer)
        .output()
        .unwrap();
    assert_eq!(ok(&oncall, "list --profile oncall"), local);

    // Acks and snoozes apply to the drift, and show the same both ways.
    let rt = rt();
    let mut rita = team.client(&rt, &team.responder);
    let (acked, snoozed, other) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    rt.block_on(rita.act_drift(&acked, pb::Action::Ack, None))
        .unwrap();
    let until = tfdrift::api::convert::time(chrono::Utc::now() + chrono::Duration::hours(1));
    rt.block_on(rita.act_drift(&snoozed, pb::Action::Snooze, Some(&until)))
        .unwrap();
    let remote = ok(
        &team.remote(&["list", "--json"], Some(&team.viewer)),
        "list after acts",
    );
    assert_eq!(
        remote,
        ok(&team.local(&["list", "--json"]), "local after acts")
    );
    let status = |id: &str| {
        remote
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["id"] == id)
            .map(|v| v["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status(&acked), "acknowledged");
    assert_eq!(status(&snoozed), "snoozed");
    assert_eq!(status(&other), "open");

    // CI: --fail-on-open exits 2 through the API as locally; --min-severity filters the same.
    let r = team.remote(&["list", "--fail-on-open"], Some(&team.viewer));
    assert_eq!(r.status.code(), Some(2), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("3 unresolved drift(s)"));
    let sev = stored.iter().map(|d| d.severity).max().unwrap();
    let above = match sev {
        tfdrift::alert::Severity::Critical => None,
        s => Some(
            [
                tfdrift::alert::Severity::Info,
                tfdrift::alert::Severity::Low,
                tfdrift::alert::Severity::Medium,
                tfdrift::alert::Severity::High,
                tfdrift::alert::Severity::Critical,
            ]
            .into_iter()
            .find(|x| *x > s)
            .unwrap(),
        ),
    };
    if let Some(above) = above {
        let args = ["list", "--fail-on-open", "--min-severity", above.as_str()];
        let r = team.remote(&args, Some(&team.viewer));
        assert_eq!(r.status.code(), Some(0), "{}", text(&r.stderr));
        assert_eq!(text(&r.stdout), text(&team.local(&args).stdout));
    }
    let args = ["list", "--json", "--min-severity", sev.as_str()];
    let r = ok(&team.remote(&args, Some(&team.viewer)), "min severity");
    assert_eq!(r, ok(&team.local(&args), "min severity local"));
    assert!(!r.is_empty());

    // show: the same drift and events.
    let twice = stored
        .iter()
        .find(|d| d.occurrences == 2)
        .unwrap()
        .id
        .clone();
    let show = ["show", twice.as_str(), "--json"];
    let remote = ok(&team.remote(&show, Some(&team.viewer)), "show --connect");
    assert_eq!(remote, ok(&team.local(&show), "show --profile"));
    let v: serde_json::Value = serde_json::from_str(&remote).unwrap();
    assert_eq!(v["drift"]["occurrences"], 2);
    assert!(v["events"].as_array().unwrap().len() >= 2, "{v}");
    let show = ["show", twice.as_str()];
    assert_eq!(
        ok(&team.remote(&show, Some(&team.viewer)), "show table"),
        ok(&team.local(&show), "show table local")
    );

    // GetDrift's occurrences: the drift's alerts, newest first.
    let mut victor = team.client(&rt, &team.viewer);
    let reply = rt.block_on(victor.get_drift(&twice, 50)).unwrap();
    let got: Vec<String> = reply.occurrences.iter().map(|a| a.id.clone()).collect();
    let mut mine: Vec<tfdrift::alert::Alert> = store
        .recent_alerts(chrono::DateTime::UNIX_EPOCH, 100)
        .unwrap()
        .into_iter()
        .filter(|a| a.drift_id.as_deref() == Some(twice.as_str()))
        .collect();
    mine.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
    assert_eq!(mine.len(), 2);
    assert_eq!(got, mine.iter().map(|a| a.id.clone()).collect::<Vec<_>>());
    assert!(
        reply
            .occurrences
            .iter()
            .all(|a| a.json.contains(twice.as_str()))
    );
    // Without asking: none.
    let reply = rt.block_on(victor.get_drift(&twice, 0)).unwrap();
    assert!(reply.occurrences.is_empty());

    // Refusals, in words; the token is never printed.
    let r = team.remote(&["list"], Some("not-a-token-XYZZY"));
    assert_eq!(r.status.code(), Some(1));
    let e = text(&r.stderr);
    assert!(e.contains("UNAUTHENTICATED"), "{e}");
    assert!(
        !e.contains("XYZZY") && !text(&r.stdout).contains("XYZZY"),
        "{e}"
    );
    let r = team.remote(&["list"], None);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r.stderr).contains("UNAUTHENTICATED"),
        "{}",
        text(&r.stderr)
    );
    let r = team.remote(
        &["show", "drf-000000000000000000000000"],
        Some(&team.viewer),
    );
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r.stderr).contains("no drift 'drf-000000000000000000000000' in the daemon's store"),
        "{}",
        text(&r.stderr)
    );
    let r = team.remote(&["resolve", other.as_str()], Some(&team.viewer));
    assert_eq!(r.status.code(), Some(1));
    assert!(
        text(&r.stderr).contains("PERMISSION_DENIED"),
        "{}",
        text(&r.stderr)
    );

    // A responder resolves it: resolved by hand, the same both ways.
    let out = ok(
        &team.remote(&["resolve", other.as_str()], Some(&team.responder)),
        "resolve --connect",
    );
    assert!(out.contains("resolved by rita"), "{out}");
    let all = ["list", "--status", "all"];
    let remote = ok(&team.remote(&all, Some(&team.viewer)), "list all");
    assert_eq!(remote, ok(&team.local(&all), "list all local"));
    let row = remote.lines().find(|l| l.starts_with(&other)).unwrap();
    assert!(row.contains("resolved:manual"), "{row}");
    let open = ok(
        &team.remote(&["list", "--json"], Some(&team.viewer)),
        "open after resolve",
    );
    assert_eq!(open.lines().count(), 2);
}
