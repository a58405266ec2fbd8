//! The monitor attached to a team-mode daemon, with real processes: a `tfdrift serve` daemon
//! (Falco HTTP source, the gRPC API on loopback with TLS from a test CA, viewer and responder
//! tokens) and two `tfdrift tui --connect` monitors in tmux, plus a `tfdrift watch`. The
//! daemon's alerts appear in both monitors; the responder's `a` is recorded on the daemon with
//! the token's name and shows in the other monitor and the watcher; the viewer's monitor is
//! READ-ONLY and its `a` is refused; `kill -9` of the daemon shows "reconnecting", a restart
//! shows connected again, and the feed has no duplicate rows. Also: acting on a drift through
//! `Act` (`drift_id`), and the rule editor refusing to save locally while attached. Fails with a clear message when
//! tmux or openssl is missing: it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(feature = "tui")]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::team_support;
use team_support::*;

/// A private tmux server (one session per monitor), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        let v = Command::new("tmux").arg("-V").output();
        assert!(
            v.is_ok_and(|o| o.status.success()),
            "tmux is required for the team monitor test and was not found: install it (apt-get install -y tmux)"
        );
        Tmux {
            socket: format!("tfdrift-team-monitor-{}", std::process::id()),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `cmd` (a shell line) in a new 200×50 session `name`; the shell stays afterwards
    /// and prints the exit status, so a crash leaves its message on the screen.
    fn start(&self, name: &str, cmd: &str) {
        self.ok(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "200",
            "-y",
            "50",
            &format!("{cmd}; echo TFDRIFT-EXIT=$?; sleep 600"),
        ]);
    }

    fn screen(&self, name: &str) -> String {
        self.ok(&["capture-pane", "-p", "-t", name])
    }

    fn key(&self, name: &str, key: &str) {
        self.ok(&["send-keys", "-t", name, key]);
    }

    /// Polls `name`'s screen until `pred` holds; panics with the screen after two minutes.
    fn wait(&self, name: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen(name);
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < Duration::from_mins(2),
                "timed out waiting for {what} in monitor '{name}'; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// `Drift feed 3/3` → 3 (alerts held by the monitor).
fn feed_total(screen: &str) -> Option<usize> {
    let rest = screen.split("Drift feed ").nth(1)?;
    let (_, total) = rest.split_once('/')?;
    total
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

struct Team {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    falco: String,
    url: String,
    viewer: String,
}

impl Team {
    fn new() -> Team {
        let dir = tempfile::tempdir().unwrap();
        make_certs(dir.path());
        let (viewer, v) = token("victor", "viewer");
        let (responder, r) = token("rita", "responder");
        std::fs::write(dir.path().join("tokens.yaml"), format!("{v}\n{r}\n")).unwrap();
        std::fs::write(dir.path().join("rita.token"), &responder).unwrap();
        std::fs::write(dir.path().join("victor.token"), &viewer).unwrap();
        let (fport, aport) = (free_port(), free_port());
        let d = dir.path().display();
        let yaml = format!(
            "profiles:\n  team:\n    rules: []\n    sources: [{{type: falco_http, listen: \"127.0.0.1:{fport}\"}}]\n    store: {{path: \"{d}/store.db\"}}\n    api:\n      listen: \"127.0.0.1:{aport}\"\n      tls: {{cert: \"{d}/server.pem\", key: \"{d}/server.key\"}}\n      tokens_file: \"{d}/tokens.yaml\"\n"
        );
        let cfg = dir.path().join("tfdrift.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        Team {
            dir,
            cfg,
            falco: format!("http://127.0.0.1:{fport}/"),
            url: format!("https://127.0.0.1:{aport}"),
            viewer,
        }
    }

    fn daemon(&self) -> Proc {
        team_support::serve(&self.cfg)
    }

    /// The shell line running a monitor attached with `who`'s token file.
    fn monitor(&self, who: &str) -> String {
        let d = self.dir.path();
        format!(
            "env -u DISPLAY -u WAYLAND_DISPLAY -u TFDRIFT_TOKEN TERM=tmux-256color XDG_CONFIG_HOME={d} {BIN} tui --connect {url} --ca-cert {d}/ca.pem --token-file {d}/{who}.token --rules-file {d}/rules.yaml",
            d = d.display(),
            url = self.url
        )
    }

    fn watcher(&self) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args(["watch", "--json", "--connect", &self.url, "--ca-cert"])
            .arg(self.dir.path().join("ca.pem"))
            .env("TFDRIFT_TOKEN", &self.viewer);
        let p = Proc::spawn(cmd);
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

/// Acknowledgements recorded in the daemon's store for `id`, as (who, note).
fn acks(team: &Team, id: &str) -> Vec<(String, Option<String>)> {
    let store = team.store();
    let alert = tfdrift::store::Store::alert(&store, id).unwrap().unwrap();
    tfdrift::store::Store::acks_for(&store, &alert)
        .unwrap()
        .into_iter()
        .map(|a| (a.who, a.note))
        .collect()
}

/// The alert ids a watcher printed, in order.
fn alert_ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["schema"] == "tfdrift.alert/v1")
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn monitors_attach_to_the_daemon_ack_with_the_token_name_viewer_read_only_and_reconnect() {
    let team = Team::new();
    let mut daemon = team.daemon();
    post(&team.falco, 0..3, 3, Duration::ZERO);
    let tmux = Tmux::new();
    tmux.start("rita", &team.monitor("rita"));
    tmux.start("victor", &team.monitor("victor"));
    let watcher = team.watcher();
    // The monitors open on the Now board; this test follows the feed (`v`).
    for m in ["rita", "victor"] {
        tmux.wait(m, "the Now board", |s| s.contains("Now board"));
        tmux.key(m, "v");
    }

    // Both monitors attach with their token's name and role and show the daemon's alerts.
    let s = tmux.wait("rita", "attached as the responder with 3 alerts", |s| {
        s.contains("⇄ daemon 127.0.0.1:")
            && s.contains("rita (responder)")
            && feed_total(s) == Some(3)
    });
    assert!(!s.contains("READ-ONLY"), "{s}");
    let s = tmux.wait("victor", "attached as a viewer with 3 alerts", |s| {
        s.contains("victor (viewer)") && feed_total(s) == Some(3)
    });
    assert!(
        s.contains("READ-ONLY"),
        "a viewer token forces read-only:\n{s}"
    );

    // A new event reaches both monitors live.
    post(&team.falco, 3..4, 1, Duration::ZERO);
    for m in ["rita", "victor"] {
        tmux.wait(m, "the 4th alert", |s| feed_total(s) == Some(4));
    }
    wait_for("the watcher: 4 alerts", Duration::from_mins(1), || {
        let n = alert_ids(&watcher.out()).len();
        if n == 4 {
            Ok(())
        } else {
            Err(format!("{n}: {}", watcher.err()))
        }
    });
    // Following the feed, both monitors select the newest alert.
    let newest = alert_ids(&watcher.out())[3].clone();

    // The viewer's ack is refused in the monitor, naming the role; nothing reaches the store.
    tmux.key("victor", "a");
    tmux.wait("victor", "the refusal naming the role", |s| {
        s.contains("Read-only") && s.contains("viewer role")
    });
    assert!(acks(&team, &newest).is_empty());

    // The responder's ack is recorded on the daemon under the token's name.
    tmux.key("rita", "a");
    tmux.wait("rita", "the ack recorded on the daemon as rita", |s| {
        s.contains("recorded on the daemon as rita")
    });
    wait_for(
        "the ack in the daemon's store",
        Duration::from_secs(30),
        || {
            let a = acks(&team, &newest);
            if a.iter().any(|(who, _)| who == "rita") {
                Ok(())
            } else {
                Err(format!("{a:?}"))
            }
        },
    );
    // The other monitor and the watcher see it, with the name.
    tmux.wait("victor", "rita's ack in the viewer's monitor", |s| {
        s.contains("acknowledged by rita")
    });
    wait_for("the ack in the watcher", Duration::from_secs(30), || {
        let seen = watcher.out().iter().any(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| {
                v["type"] == "status"
                    && v["alert_id"] == newest.as_str()
                    && v["status"] == "acknowledged"
                    && v["who"] == "rita"
            })
        });
        if seen {
            Ok(())
        } else {
            Err(watcher.out().join("\n"))
        }
    });

    // Acting on the alert's drift goes through Act too (`drift_id`): the viewer is refused,
    // the responder's is recorded with the token's name and streamed to the watcher.
    let drift = watcher
        .out()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["id"] == newest.as_str())
        .map(|v| v["drift_id"].as_str().unwrap().to_string())
        .unwrap();
    let drift_ack = |who: &str| {
        use tfdrift::api::client::{Client, ClientOptions};
        let d = team.dir.path();
        let opts = ClientOptions::new(
            &team.url,
            Some(&d.join(format!("{who}.token"))),
            None,
            Some(&d.join("ca.pem")),
        )
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut c = Client::connect(&opts).await?;
            c.act_drift(&drift, tfdrift::api::proto::Action::Ack, None)
                .await
        })
    };
    let refused = drift_ack("victor").unwrap_err().to_string();
    assert!(
        refused.contains("PERMISSION_DENIED") && refused.contains("responder"),
        "{refused}"
    );
    let reply = drift_ack("rita").unwrap();
    assert_eq!(reply.status.unwrap().who, "rita");
    wait_for(
        "the drift's ack in the watcher",
        Duration::from_secs(30),
        || {
            let seen = watcher.out().iter().any(|l| {
                serde_json::from_str::<Value>(l).is_ok_and(|v| {
                    v["type"] == "drift"
                        && v["drift_id"] == drift.as_str()
                        && v["change"] == "acknowledged"
                        && v["who"] == "rita"
                })
            });
            if seen {
                Ok(())
            } else {
                Err(watcher.out().join("\n"))
            }
        },
    );

    // The rules live on the daemon: the editor's save says so and writes nothing here.
    for k in ["3", "i", "C-s"] {
        tmux.key("rita", k);
    }
    tmux.wait("rita", "the save refused while attached", |s| {
        s.contains("Not saved: attached to the daemon")
    });
    assert!(!team.dir.path().join("rules.yaml").exists());
    tmux.key("rita", "Escape");

    // kill -9 the daemon: the monitors say they are reconnecting.
    daemon.signal("-KILL");
    let _ = daemon.child.wait();
    for m in ["rita", "victor"] {
        tmux.wait(m, "reconnecting", |s| s.contains("reconnecting in"));
    }
    // Restarted: connected again, resumed from the cursor; a new alert arrives once, nothing
    // is repeated.
    daemon = team.daemon();
    post(&team.falco, 4..5, 1, Duration::ZERO);
    for m in ["rita", "victor"] {
        let s = tmux.wait(m, "connected again with the 5th alert", |s| {
            s.contains(&format!("{m} (")) && !s.contains("reconnecting") && feed_total(s) == Some(5)
        });
        assert!(s.contains("⇄ daemon"), "{s}");
    }
    // Still five after the stream settles (a replay of the journal would add rows).
    std::thread::sleep(Duration::from_secs(2));
    for m in ["rita", "victor"] {
        let s = tmux.screen(m);
        assert_eq!(
            feed_total(&s),
            Some(5),
            "no duplicate rows after the reconnect:\n{s}"
        );
    }
    drop(daemon);
}
