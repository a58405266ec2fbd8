//! The daemon's rules over the team API, with real processes and real sockets: a `tfdrift
//! serve` daemon (Falco HTTP source, rules in a watched directory, the API on loopback with a
//! tokens file holding a viewer and an admin token made by `tfdrift api token`), driven by
//! `tfdrift rules list|pull|push --connect` and, for validate / test, by the API client.
//!
//! Covers: a viewer lists, pulls (byte for byte), validates and tests, but its push is refused
//! with PERMISSION_DENIED and nothing is written; the admin's push of a valid change is
//! reloaded (the next event is judged by the new rule, the rules-in-force count changes); an
//! invalid text is refused with the compiler's file:line:column and nothing is written; a push
//! from a stale pull is refused naming who saved the newer version.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tfdrift::api::client::{Client, ClientOptions};
use tfdrift::api::proto as pb;

use crate::team_support;
use team_support::{BIN, Lines, free_port, pump, wait_for};

/// The daemon with its output collected line by line; killed on drop.
struct Daemon {
    child: Child,
    stdout: Lines,
    stderr: Lines,
}

impl Daemon {
    fn err(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The alert (stdout line) for the Falco event `ct.id`, once the daemon printed it.
    fn alert(&self, event_id: &str) -> Value {
        let mut found = None;
        wait_for(
            &format!("the alert of event {event_id}"),
            Duration::from_mins(1),
            || {
                let lines = self.stdout.lock().unwrap().clone();
                found = lines
                    .iter()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .find(|v| v["event"]["id"] == event_id);
                found.as_ref().map(|_| ()).ok_or_else(|| self.err())
            },
        );
        found.unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(name: &str, role: &str) -> (String, String) {
    let out = Command::new(BIN)
        .args(["api", "token", "--name", name, "--role", role])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
    )
}

/// The rule file the daemon starts with: odd bytes on purpose (trailing spaces, a non-ASCII
/// character, no final newline) so a pull that is not byte for byte shows.
const RULES: &str = "# Team rules — edited through the API (héllo)   \nrules:\n  - id: sg-ingress\n    name: \"Security group ingress\"\n    severity: low\n    conditions:\n      - field: event.name\n        operator: equals\n        value: AuthorizeSecurityGroupIngress\n    tests:\n      - {name: ingress event, expect: match, alert: {event: {name: AuthorizeSecurityGroupIngress}}}\n      - {name: other event, expect: no_match, alert: {event: {name: RevokeSecurityGroupIngress}}}";

struct Team {
    dir: tempfile::TempDir,
    cfg: PathBuf,
    falco: String,
    url: String,
    viewer: String,
    admin: String,
}

impl Team {
    fn new() -> Team {
        let dir = tempfile::tempdir().unwrap();
        let (viewer, v) = token("victor", "viewer");
        let (admin, a) = token("ada", "admin");
        std::fs::write(dir.path().join("tokens.yaml"), format!("{v}\n{a}\n")).unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("rules/aws.yaml"), RULES).unwrap();
        let (fport, aport) = (free_port(), free_port());
        let d = dir.path().display();
        let yaml = format!(
            "profiles:\n  team:\n    rules: [\"{d}/rules\"]\n    sources: [{{type: falco_http, listen: \"127.0.0.1:{fport}\"}}]\n    store: {{path: \"{d}/store.db\"}}\n    api:\n      listen: \"127.0.0.1:{aport}\"\n      tokens_file: \"{d}/tokens.yaml\"\n"
        );
        let cfg = dir.path().join("tfdrift.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        Team {
            dir,
            cfg,
            falco: format!("http://127.0.0.1:{fport}/"),
            url: format!("http://127.0.0.1:{aport}"),
            viewer,
            admin,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The daemon's rule file as it names it.
    fn rule_file(&self) -> String {
        self.path("rules/aws.yaml").display().to_string()
    }

    fn daemon(&self) -> Daemon {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--profile", "team", "--config"])
            .arg(&self.cfg)
            .env("TFDRIFT_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let d = Daemon {
            stdout: pump(child.stdout.take().unwrap()),
            stderr: pump(child.stderr.take().unwrap()),
            child,
        };
        wait_for("the daemon's API", Duration::from_mins(1), || {
            let e = d.err();
            if e.contains("Serving the team API") {
                Ok(())
            } else {
                Err(e)
            }
        });
        d
    }

    /// `tfdrift rules ARGS --connect URL` with `token`.
    fn rules(&self, args: &[&str], token: &str) -> Output {
        Command::new(BIN)
            .arg("rules")
            .args(args)
            .args(["--connect", &self.url])
            .env("TFDRIFT_TOKEN", token)
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }

    fn client(&self, rt: &tokio::runtime::Runtime, token: &str) -> Client {
        let opts = ClientOptions {
            url: self.url.clone(),
            token: Some(token.to_string()),
            ca_cert: None,
        };
        rt.block_on(Client::connect(&opts)).unwrap()
    }

    fn post(&self, event_id: &str) {
        let ev = json!({"hostname":"falco-0","output":"SG ingress changed",
          "output_fields":{"ct.error":null,"ct.id":event_id,
            "ct.name":"AuthorizeSecurityGroupIngress","ct.region":"us-east-1","ct.src":"ec2.amazonaws.com",
            "ct.user":"alice","ct.request":"{\"groupId\":\"sg-0123456789abcdef0\"}","evt.time":1_714_572_698_000_000_000_u64},
          "priority":"Notice","rule":"SG ingress changed","source":"aws_cloudtrail","tags":["aws"],
          "time":"2024-05-01T14:11:38.000000000Z"});
        let r = rt()
            .block_on(
                reqwest::Client::new()
                    .post(&self.falco)
                    .body(ev.to_string())
                    .send(),
            )
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
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

fn list(rt: &tokio::runtime::Runtime, c: &mut Client) -> pb::ListRulesReply {
    rt.block_on(c.daemon().list_rules(pb::ListRulesRequest {}))
        .unwrap()
        .into_inner()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn rules_over_the_api_roles_validation_concurrency_and_reload() {
    let team = Team::new();
    let daemon = team.daemon();
    // One runtime for the API clients (a channel lives on the runtime it was made on).
    let rt = rt();
    let on_disk = team.path("rules/aws.yaml");

    // A viewer lists the files and the rule in force.
    let out = team.rules(&["list"], &team.viewer);
    let listed = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(listed.contains(&team.rule_file()), "{listed}");
    assert!(listed.contains("sg-ingress"), "{listed}");
    assert!(listed.contains("1 rule(s) in force"), "{listed}");

    // ... pulls the file byte for byte ...
    let out = team.rules(&["pull", "-o", "pulled.yaml"], &team.viewer);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(read(&team.path("pulled.yaml")), RULES.as_bytes());
    let out = team.rules(&["pull"], &team.viewer);
    assert_eq!(out.stdout, RULES.as_bytes(), "pull to stdout is not exact");

    // ... validates and tests through the API ...
    let mut viewer = team.client(&rt, &team.viewer);
    let bad = RULES.replace("operator: equals", "operator: equalz");
    let v = rt
        .block_on(viewer.daemon().validate_rules(pb::ValidateRulesRequest {
            path: team.rule_file(),
            text: bad.clone(),
        }))
        .unwrap()
        .into_inner();
    assert!(!v.ok);
    // The daemon's diagnostics are the compiler's, as `tfdrift rules validate` prints them.
    std::fs::write(team.path("bad.yaml"), &bad).unwrap();
    let local = Command::new(BIN)
        .args(["rules", "validate"])
        .arg(team.path("bad.yaml"))
        .output()
        .unwrap();
    let local = text(&local.stderr);
    let bad_line = bad.lines().position(|l| l.contains("equalz")).unwrap() + 1;
    let d = &v.diagnostics[0];
    assert_eq!(
        (d.code.as_str(), d.line),
        ("R001", u32::try_from(bad_line).unwrap())
    );
    assert!(d.column > 0);
    let located = format!("{}:{}:{}", team.rule_file(), d.line, d.column);
    assert!(d.text.starts_with(&located), "{}", d.text);
    assert!(
        local.contains(&d.text.replace(
            &team.rule_file(),
            &team.path("bad.yaml").display().to_string()
        )),
        "the API's diagnostic differs from `rules validate`:\nAPI: {}\nCLI: {local}",
        d.text
    );
    let t = rt
        .block_on(viewer.daemon().test_rules(pb::TestRulesRequest {
            path: team.rule_file(),
            text: RULES.to_string(),
        }))
        .unwrap()
        .into_inner();
    assert!(t.passed, "{}", t.report);
    assert_eq!(t.rows.len(), 2);
    let failing = RULES.replace("expect: no_match", "expect: match");
    let t = rt
        .block_on(viewer.daemon().test_rules(pb::TestRulesRequest {
            path: team.rule_file(),
            text: failing,
        }))
        .unwrap()
        .into_inner();
    assert!(!t.passed, "{}", t.report);

    // ... but cannot save: PERMISSION_DENIED naming the role, nothing written.
    let edited = RULES.replace("severity: low", "severity: critical");
    std::fs::write(team.path("pulled.yaml"), &edited).unwrap();
    let out = team.rules(&["push", "pulled.yaml"], &team.viewer);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("PERMISSION_DENIED"), "{err}");
    assert!(
        err.contains("admin role") && err.contains("victor"),
        "{err}"
    );
    assert_eq!(read(&on_disk), RULES.as_bytes());

    // The event before any change is judged by the old rule.
    team.post("before-1");
    assert_eq!(daemon.alert("before-1")["severity"], "low");

    // The admin's push of a valid change (severity raised, a second rule added) is reloaded.
    let edited = format!(
        "{edited}\n  - id: sg-extra\n    severity: info\n    conditions:\n      - field: event.name\n        operator: equals\n        value: DeleteBucket\n"
    );
    std::fs::write(team.path("pulled.yaml"), &edited).unwrap();
    let out = team.rules(&["push", "pulled.yaml"], &team.admin);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(
        said.contains("saved and reloaded: 2 rule(s) in force"),
        "{said}"
    );
    assert_eq!(read(&on_disk), edited.as_bytes());
    let mut admin = team.client(&rt, &team.admin);
    let l = list(&rt, &mut admin);
    assert_eq!(l.reload.as_ref().unwrap().rules_in_force, 2);
    let file = l.files.iter().find(|f| f.path == team.rule_file()).unwrap();
    assert_eq!(file.saved_by, "ada");
    team.post("after-1");
    assert_eq!(daemon.alert("after-1")["severity"], "critical");
    assert!(
        daemon.err().contains("Rule file saved through the API")
            && daemon.err().contains("\"who\":\"ada\""),
        "the save is not in the daemon's log: {}",
        daemon.err()
    );

    // An invalid text is refused with line:column; nothing written, the rules stay.
    std::fs::write(
        team.path("pulled.yaml"),
        edited.replace("operator: equals", "operator: equalz"),
    )
    .unwrap();
    let out = team.rules(&["push", "pulled.yaml"], &team.admin);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("INVALID_ARGUMENT"), "{err}");
    assert!(
        err.contains(&format!("{}:{bad_line}:", team.rule_file())),
        "{err}"
    );
    assert!(err.contains("R001"), "{err}");
    assert_eq!(read(&on_disk), edited.as_bytes());

    // A stale edit: bob pulled before ada's next save; his push is refused naming her.
    let out = team.rules(&["pull", "-o", "bob.yaml"], &team.viewer);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ada = edited.replace("severity: info", "severity: medium");
    std::fs::write(team.path("pulled.yaml"), &ada).unwrap();
    let out = team.rules(&["push", "pulled.yaml"], &team.admin);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(
        team.path("bob.yaml"),
        edited.replace("severity: critical", "severity: high"),
    )
    .unwrap();
    let out = team.rules(&["push", "bob.yaml"], &team.admin);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("FAILED_PRECONDITION"), "{err}");
    assert!(err.contains("saved by ada at"), "{err}");
    assert_eq!(
        read(&on_disk),
        ada.as_bytes(),
        "a stale push overwrote the file"
    );
    // The same with a change made on the daemon's disk by hand.
    let by_hand = ada.replace("severity: medium", "severity: low");
    std::fs::write(&on_disk, &by_hand).unwrap();
    let out = team.rules(&["push", "pulled.yaml"], &team.admin);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("outside the API"), "{err}");
    assert_eq!(read(&on_disk), by_hand.as_bytes());
}
