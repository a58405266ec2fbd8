//! Team mode with real processes and real sockets: a `tfdrift serve` daemon with a Falco HTTP
//! source and the gRPC API on loopback with TLS from a test CA (made with the `openssl` CLI)
//! and three tokens (made with `tfdrift api token`); `tfdrift watch` clients and
//! `tfdrift alerts ack --connect` act on it. Covers: two watchers print the same alerts; an ack
//! by the responder shows in both with the token's name; a viewer's ack is refused
//! (PERMISSION_DENIED) and changes nothing; wrong token / missing CA / wrong protocol version
//! get clear messages; a watcher that stops reading is told it lagged and the other keeps up;
//! `kill -9` of the daemon and a restart: every watcher resumes from its cursor with no
//! duplicate and no gap (compared with the store's journal); a stale cursor gets a reset.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use tfdrift::store::journal::{ChangeItem, Journal as _};

use crate::team_support;
use team_support::*;

struct Team {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    falco: String,
    url: String,
    viewer: String,
    responder: String,
}

impl Team {
    fn new(watch_buffer: usize) -> Team {
        let dir = tempfile::tempdir().unwrap();
        make_certs(dir.path());
        let (viewer, v) = token("victor", "viewer");
        let (responder, r) = token("rita", "responder");
        let (_admin, a) = token("ada", "admin");
        std::fs::write(dir.path().join("tokens.yaml"), format!("{v}\n{r}\n{a}\n")).unwrap();
        let (fport, aport) = (free_port(), free_port());
        let d = dir.path().display();
        let yaml = format!(
            "profiles:\n  team:\n    rules: []\n    sources: [{{type: falco_http, listen: \"127.0.0.1:{fport}\"}}]\n    store: {{path: \"{d}/store.db\"}}\n    api:\n      listen: \"127.0.0.1:{aport}\"\n      tls: {{cert: \"{d}/server.pem\", key: \"{d}/server.key\"}}\n      tokens_file: \"{d}/tokens.yaml\"\n      watch_buffer: {watch_buffer}\n"
        );
        let cfg = dir.path().join("tfdrift.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        Team {
            dir,
            cfg,
            falco: format!("http://127.0.0.1:{fport}/"),
            url: format!("https://127.0.0.1:{aport}"),
            viewer,
            responder,
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn daemon(&self) -> Proc {
        team_support::serve(&self.cfg)
    }

    fn client(&self, args: &[&str], token: Option<&str>, ca: bool) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).args(["--connect", &self.url]);
        if ca {
            cmd.arg("--ca-cert").arg(self.ca());
        }
        cmd.env_remove("TFDRIFT_TOKEN");
        if let Some(t) = token {
            cmd.env("TFDRIFT_TOKEN", t);
        }
        cmd
    }

    fn watcher(&self) -> Proc {
        let p = Proc::spawn(self.client(&["watch", "--json"], Some(&self.viewer), true));
        wait_for("a watcher to connect", Duration::from_secs(30), || {
            if p.err().contains("watch: connected") {
                Ok(())
            } else {
                Err(p.err())
            }
        });
        p
    }

    fn store(&self) -> tfdrift::store::SqliteStore {
        tfdrift::store::open(&self.dir.path().join("store.db")).unwrap()
    }
}

/// A Falco (cloudtrail plugin) alert: an ingress change to its own security group.
/// The alert ids a watcher printed, in order.
fn alert_ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["schema"]
                .as_str()
                .is_some_and(|s| s.starts_with("tfdrift.alert"))
        })
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

fn statuses(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "status")
        .collect()
}

/// Alert ids in journal (cursor) order, straight from the store.
fn store_alert_ids(store: &tfdrift::store::SqliteStore) -> Vec<String> {
    store
        .changes_since(0, 1_000_000)
        .unwrap()
        .into_iter()
        .filter_map(|c| match c.item {
            ChangeItem::Alert(a) => Some(a.id),
            _ => None,
        })
        .collect()
}

fn wait_alerts(w: &Proc, n: usize, what: &str) {
    wait_for(what, Duration::from_mins(2), || {
        let got = alert_ids(&w.out()).len();
        if got >= n {
            Ok(())
        } else {
            Err(format!("{got} of {n} alerts; stderr: {}", w.err()))
        }
    });
}

#[test]
fn team_mode_watchers_acks_roles_lag_and_kill_9_resume() {
    let team = Team::new(512);
    let mut daemon = team.daemon();
    let w1 = team.watcher();
    let w2 = team.watcher();

    // Both watchers print the same alerts.
    post(&team.falco, 0..5, 5, Duration::ZERO);
    wait_alerts(&w1, 5, "watcher 1: five alerts");
    wait_alerts(&w2, 5, "watcher 2: five alerts");
    let first = alert_ids(&w1.out());
    assert_eq!(first, alert_ids(&w2.out()));
    assert_eq!(first.len(), 5, "no duplicates: {first:?}");
    let target = first[0].clone();

    // Each alert opened its drift (an unmanaged security group), and both watchers are told,
    // once each, with the drift id the alert carries.
    let alert_drifts: std::collections::BTreeSet<String> = w1
        .out()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["schema"] == "tfdrift.alert/v1")
        .map(|v| v["drift_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(alert_drifts.len(), 5, "{alert_drifts:?}");
    for (w, name) in [(&w1, "watcher 1"), (&w2, "watcher 2")] {
        wait_for(
            &format!("{name}: five drifts opened"),
            Duration::from_secs(30),
            || {
                let opened: Vec<String> = w
                    .out()
                    .iter()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter(|v| v["type"] == "drift" && v["change"] == "opened")
                    .map(|v| v["drift_id"].as_str().unwrap().to_string())
                    .collect();
                if opened.len() < 5 {
                    return Err(format!("{opened:?}"));
                }
                assert_eq!(opened.len(), 5, "each drift opened once: {opened:?}");
                assert_eq!(
                    opened
                        .into_iter()
                        .collect::<std::collections::BTreeSet<_>>(),
                    alert_drifts
                );
                Ok(())
            },
        );
    }

    // The responder acks through the API; both watchers show it with the token's name.
    let out = team
        .client(
            &["alerts", "ack", &target, "--note", "expected change"],
            Some(&team.responder),
            true,
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("by rita"));
    for (w, name) in [(&w1, "watcher 1"), (&w2, "watcher 2")] {
        wait_for(&format!("{name}: the ack"), Duration::from_secs(30), || {
            let s = statuses(&w.out());
            match s.iter().find(|v| v["alert_id"] == target.as_str()) {
                Some(v) => {
                    assert_eq!(v["status"], "acknowledged");
                    assert_eq!(v["who"], "rita", "the name comes from the token");
                    assert_eq!(v["note"], "expected change");
                    assert!(v["cursor"].as_i64().unwrap() > 0);
                    Ok(())
                }
                None => Err(format!("{s:?}")),
            }
        });
    }

    // A viewer's ack is refused, and nothing changes.
    let other = first[1].clone();
    let out = team
        .client(&["alerts", "ack", &other], Some(&team.viewer), true)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("PERMISSION_DENIED") && err.contains("responder role"),
        "{err}"
    );
    let store = team.store();
    let alert = tfdrift::store::Store::alert(&store, &other)
        .unwrap()
        .unwrap();
    assert!(
        tfdrift::store::Store::acks_for(&store, &alert)
            .unwrap()
            .is_empty()
    );

    // A wrong token, no token, and a missing CA: clear messages, exit 1.
    let out = team
        .client(&["alerts", "ack", &other], Some("tfd_wrong"), true)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("UNAUTHENTICATED") && err.contains("not known"),
        "{err}"
    );
    let out = team
        .client(&["watch", "--json"], None, true)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no API token") && err.contains("TFDRIFT_TOKEN"),
        "{err}"
    );
    let out = team
        .client(&["watch", "--json"], Some(&team.viewer), false)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not trusted") && err.contains("--ca-cert"),
        "{err}"
    );

    // A client of another protocol major is refused naming both versions; the standard
    // health service answers.
    protocol_and_health(&team);

    // A stale cursor (not from this store) gets a fresh snapshot and a reset marker.
    let stale = Proc::spawn(team.client(
        &["watch", "--json", "--since", "999999"],
        Some(&team.viewer),
        true,
    ));
    wait_for("the reset marker", Duration::from_secs(30), || {
        let out = stale.out();
        if out.iter().any(|l| l.contains("\"type\":\"reset\"")) && alert_ids(&out).len() == 5 {
            Ok(())
        } else {
            Err(format!("{out:?} {}", stale.err()))
        }
    });
    drop(stale);

    // Watcher 2 stops reading; watcher 1 keeps receiving everything; watcher 2 is told it
    // lagged once it reads again, and misses nothing.
    w2.signal("-STOP");
    post(&team.falco, 5..1505, 50, Duration::from_millis(10));
    wait_alerts(&w1, 1505, "watcher 1 keeps up while watcher 2 is stopped");
    w2.signal("-CONT");
    wait_alerts(&w2, 1505, "watcher 2 after it resumed");
    wait_for("the lag notice", Duration::from_secs(30), || {
        if w2.err().contains("lagged") {
            Ok(())
        } else {
            Err(w2.err())
        }
    });

    // kill -9 mid-stream, restart: both watchers resume with no gap and no duplicate.
    let falco = team.falco.clone();
    let poster = std::thread::spawn(move || post(&falco, 1505..1805, 5, Duration::from_millis(20)));
    wait_alerts(&w1, 1550, "alerts flowing before the kill");
    daemon.signal("-KILL");
    let _ = daemon.child.wait();
    for w in [&w1, &w2] {
        wait_for("the watcher to notice", Duration::from_secs(30), || {
            if w.err().contains("reconnecting in") {
                Ok(())
            } else {
                Err(w.err())
            }
        });
    }
    daemon = team.daemon();
    poster.join().unwrap();
    // Alerts after the restart reach the watchers only through their reconnection.
    post(&team.falco, 1805..1815, 10, Duration::ZERO);
    // Compare with the store's journal (it may still be committing the last batch: wait until
    // the watchers and the store agree; a gap or a duplicate never agrees).
    wait_for(
        "both watchers to match the store",
        Duration::from_mins(2),
        || {
            let expected = store_alert_ids(&team.store());
            let (a, b) = (alert_ids(&w1.out()), alert_ids(&w2.out()));
            let reconnected = [&w1, &w2]
                .iter()
                .all(|w| w.err().matches("watch: connected").count() >= 2);
            if reconnected && expected.len() > 1560 && a == expected && b == expected {
                Ok(())
            } else {
                let first_diff = |x: &[String]| x.iter().zip(&expected).position(|(p, q)| p != q);
                Err(format!(
                    "store {} alerts; watcher 1 {} (first difference at {:?}); watcher 2 {} (first difference at {:?})",
                    expected.len(),
                    a.len(),
                    first_diff(&a),
                    b.len(),
                    first_diff(&b)
                ))
            }
        },
    );
    let unique: std::collections::HashSet<_> = alert_ids(&w1.out()).into_iter().collect();
    assert_eq!(
        unique.len(),
        alert_ids(&w1.out()).len(),
        "a duplicate alert line"
    );
    assert!(
        w1.err().matches("watch: connected").count() >= 2,
        "{}",
        w1.err()
    );
    daemon.signal("-TERM");
    let _ = daemon.child.wait();
}

fn protocol_and_health(team: &Team) {
    use tfdrift::api::proto::daemon_client::DaemonClient;
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pem = std::fs::read(team.ca()).unwrap();
        let ch = Endpoint::from_shared(team.url.clone())
            .unwrap()
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut c = DaemonClient::new(ch.clone());
        let mut req = tonic::Request::new(tfdrift::api::proto::HelloRequest {});
        req.metadata_mut()
            .insert("tfdrift-protocol", "2.0".parse().unwrap());
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {}", team.viewer).parse().unwrap(),
        );
        let e = c.hello(req).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(
            e.message()
                .contains(&format!("protocol {}", tfdrift::api::protocol()))
                && e.message().contains("protocol 2.0"),
            "{}",
            e.message()
        );
        let mut h = tonic_health::pb::health_client::HealthClient::new(ch);
        let r = h
            .check(tonic_health::pb::HealthCheckRequest {
                service: "tfdrift.v1.Daemon".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    });
}

#[test]
fn an_api_beyond_loopback_without_tls_and_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:\n  open:\n    rules: []\n    sources: [{{type: falco_http, listen: \"127.0.0.1:{}\"}}]\n    store: {{path: \"{}/s.db\"}}\n    api: {{listen: \"0.0.0.0:{}\"}}\n",
            free_port(),
            dir.path().display(),
            free_port()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--profile", "open", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("reachable from other machines") && err.contains("TLS and tokens"),
        "{err}"
    );
}
