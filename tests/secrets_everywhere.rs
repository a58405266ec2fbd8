//! Secrets never reach an output surface. A Terraform state and CloudTrail events are planted
//! with a known set of secrets (a state-sensitive attribute, a state-sensitive tag, a PEM private
//! key in a tag, an AWS access key id with its secret key, a `ghp_` token inside text, a JWT, a
//! URL password); then the real binary runs and every surface is searched for them: `replay`'s
//! stdout and its stderr at `TFDRIFT_LOG=trace`, the headless daemon's stdout, stderr and SQLite
//! store file, what a webhook and a Slack listener received and the JSON-lines channel wrote,
//! `notify test` against a server that echoes the request back, `state show`, and the terminal
//! UI's screens (ratatui `TestBackend`). Also checks the webhook's signed timestamp with the
//! README's own verification snippet.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_tfdrift");

/// `aws_db_instance.password`, marked sensitive by the state.
const STATE_PASSWORD: &str = "db-state-password-K9x2Lq";
/// The new password in the event (CloudTrail normally hides it; a careless tool may not).
const EVENT_PASSWORD: &str = "event-new-password-Zz91";
/// `tags.DeployToken`, marked sensitive by the state.
const SENSITIVE_TAG: &str = "tag-marked-sensitive-7Q2wZ";
/// The body of a PEM private key held in a tag.
const PEM_BODY: &str = "MIIEowIBAAKCAQEAplantedPEMbody0123456789abcdefXYZ";
/// An access key id, and its secret key (the AWS documentation's example value).
const AKID: &str = "AKIAZ7PLANTEDKEY0042";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// A GitHub token inside a sentence.
const GHP: &str = "ghp_Pl4nt3dT0k3nAbCdEfGhIjKlMnOpQrStUvWx";
/// A JWT and its parts.
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.c2lnbmF0dXJlUGxhbnRlZA";
/// The password of a database URL in a tag.
const URL_PASSWORD: &str = "UrlPa55wordPlanted";
/// The webhook's HMAC key, and secrets in the webhook URL `notify test` is pointed at.
const HMAC_KEY: &str = "HmacKeyPlanted99";
const URL_PATH_SECRET: &str = "PathSecretPlanted77";
const URL_QUERY_SECRET: &str = "QuerySecretPlanted55";

const INSTANCE: &str = "i-0abc1234567890def";
const MASK: &str = "(sensitive)";

/// Everything that must never appear (parts too: a secret cut in half still leaks).
fn needles() -> Vec<&'static str> {
    vec![
        STATE_PASSWORD,
        EVENT_PASSWORD,
        SENSITIVE_TAG,
        PEM_BODY,
        AKID,
        SECRET_KEY,
        "wJalrXUtnFEMI",
        GHP,
        "Pl4nt3dT0k3n",
        JWT,
        "eyJzdWIiOiJwbGFudGVkIn0",
        "c2lnbmF0dXJlUGxhbnRlZA",
        URL_PASSWORD,
        HMAC_KEY,
        URL_PATH_SECRET,
        URL_QUERY_SECRET,
    ]
}

/// Fails naming the secret, the surface and a little context around the first hit.
fn assert_clean(surface: &str, bytes: &[u8]) {
    for n in needles() {
        if let Some(at) = bytes.windows(n.len()).position(|w| w == n.as_bytes()) {
            let from = at.saturating_sub(120);
            let to = (at + n.len() + 120).min(bytes.len());
            panic!(
                "{n:?} found in {surface}: …{}…",
                String::from_utf8_lossy(&bytes[from..to])
            );
        }
    }
}

fn pem() -> String {
    format!("-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n")
}

fn state_json() -> serde_json::Value {
    let tags = serde_json::json!({
        "Name": "web",
        "Environment": "prod",
        "DeployToken": SENSITIVE_TAG,
        "Cert": pem(),
        "CiCreds": format!("{AKID} {SECRET_KEY}"),
    });
    let sensitive_tag = |attr: &str| {
        serde_json::json!([{"type": "get_attr", "value": attr},
            {"type": "index", "value": {"value": "DeployToken", "type": "string"}}])
    };
    let provider = "provider[\"registry.terraform.io/hashicorp/aws\"]";
    serde_json::json!({
        "version": 4, "terraform_version": "1.11.0", "serial": 3, "lineage": "planted", "outputs": {},
        "resources": [
            {"mode": "managed", "type": "aws_instance", "name": "web", "provider": provider,
             "instances": [{"schema_version": 1,
                "attributes": {"id": INSTANCE, "instance_type": "t3.micro", "tags": tags, "tags_all": tags},
                "sensitive_attributes": [sensitive_tag("tags"), sensitive_tag("tags_all")]}]},
            {"mode": "managed", "type": "aws_db_instance", "name": "db", "provider": provider,
             "instances": [{"schema_version": 2,
                "attributes": {"id": "db-PLANTEDRESOURCEID01", "identifier": "appdb",
                    "instance_class": "db.t3.micro", "password": STATE_PASSWORD,
                    "tags": {"Owner": "dba"}},
                "sensitive_attributes": [[{"type": "get_attr", "value": "password"}]]}]},
            {"mode": "managed", "type": "aws_iam_access_key", "name": "ci", "provider": provider,
             "instances": [{"schema_version": 0,
                "attributes": {"id": AKID, "user": "ci", "secret": SECRET_KEY, "status": "Active"},
                "sensitive_attributes": [[{"type": "get_attr", "value": "secret"}]]}]}
        ]
    })
}

fn record(
    id: u32,
    source: &str,
    name: &str,
    ua: &str,
    request: &serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAPLANTEDUSER00001",
            "arn": "arn:aws:iam::123456789012:user/mallory", "accountId": "123456789012",
            "accessKeyId": AKID, "userName": "mallory"},
        "eventTime": format!("2026-11-27T09:0{id}:00Z"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": ua,
        "requestParameters": request,
        "responseElements": {"_return": true},
        "requestID": format!("00000000-0000-4000-8000-00000000000{id}"),
        "eventID": format!("11111111-0000-4000-8000-00000000000{id}"),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012"
    })
}

fn events_json() -> serde_json::Value {
    let records = vec![
        record(
            1,
            "ec2.amazonaws.com",
            "ModifyInstanceAttribute",
            "aws-cli/2.13.5 Python/3.11.4 Linux/6.2",
            &serde_json::json!({"instanceId": INSTANCE, "instanceType": {"value": "t3.large"}}),
        ),
        record(
            2,
            "ec2.amazonaws.com",
            "CreateTags",
            &format!("deploy-bot/1.0 (auth token {GHP})"),
            &serde_json::json!({
                "resourcesSet": {"items": [{"resourceId": INSTANCE}]},
                "tagSet": {"items": [
                    {"key": "Note", "value": format!("deploy token {GHP} for ci")},
                    {"key": "Session", "value": JWT},
                    {"key": "DbUrl", "value": format!("postgres://app:{URL_PASSWORD}@db.internal:5432/app")},
                ]}
            }),
        ),
        record(
            3,
            "rds.amazonaws.com",
            "ModifyDBInstance",
            "aws-cli/2.13.5 Python/3.11.4 Linux/6.2",
            &serde_json::json!({"dBInstanceIdentifier": "appdb", "masterUserPassword": EVENT_PASSWORD,
                "applyImmediately": true}),
        ),
    ];
    serde_json::json!({ "Records": records })
}

/// Rules whose templates quote the diff values (`{diff.state}`, `{diff.observed}`): they must
/// render the masked values.
const RULES: &str = r#"rules:
  - id: planted-001
    name: instance drift quoted
    severity: high
    resource_types: [aws_instance]
    remediation: ["echo '{diff.path}={diff.observed}' was '{diff.state}'"]
    runbook: "https://wiki.example.com/drift?value={diff.observed}"
  - id: planted-002
    name: database drift quoted
    severity: high
    resource_types: [aws_db_instance]
    remediation: ["rotate {diff.state} to {diff.observed}"]
"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("state.tfstate"),
            serde_json::to_vec_pretty(&state_json()).unwrap(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("events.json"),
            serde_json::to_vec(&events_json()).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("rules.yaml"), RULES).unwrap();
        Fixture { dir }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("TFDRIFT_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn alerts_of(stdout: &[u8]) -> Vec<tfdrift::alert::Alert> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The planted secrets really flowed through: three alerts, the sensitive tag and the templates
/// present (masked), so a clean surface means masking, not an empty run.
fn check_alerts_carry_the_masked_secrets(alerts: &[tfdrift::alert::Alert], surface: &str) {
    assert!(alerts.len() >= 3, "{surface}: {alerts:?}");
    let web: Vec<_> = alerts
        .iter()
        .filter(|a| a.resource.address.as_deref() == Some("aws_instance.web"))
        .collect();
    assert_eq!(web.len(), 2, "{surface}");
    for a in &web {
        let t = &a.enrichment.tags;
        assert_eq!(
            t.get("DeployToken").map(String::as_str),
            Some(MASK),
            "{surface}: {t:?}"
        );
        assert!(t["Cert"].starts_with(MASK), "{surface}: {t:?}");
        assert_eq!(t.get("Name").map(String::as_str), Some("web"), "{surface}");
        assert!(a.rules.contains(&"planted-001".to_string()), "{surface}");
    }
    let tagged = web
        .iter()
        .find(|a| a.event.name == "CreateTags")
        .expect("the CreateTags alert");
    assert!(
        tagged.remediation[0].contains(MASK),
        "{{diff.observed}} rendered masked: {:?}",
        tagged.remediation
    );
    let db = alerts
        .iter()
        .find(|a| a.resource.address.as_deref() == Some("aws_db_instance.db"))
        .expect("the database alert");
    assert_eq!(
        db.remediation[0],
        format!("rotate {MASK} to {MASK}"),
        "{surface}"
    );
}

#[test]
fn replay_stdout_and_trace_logs_hold_no_secret() {
    let f = Fixture::new();
    let out = run(
        &[
            "replay",
            "--state",
            &f.p("state.tfstate"),
            "--rules",
            &f.p("rules.yaml"),
            &f.p("events.json"),
        ],
        &[("TFDRIFT_LOG", "trace")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_clean("replay stdout", &out.stdout);
    assert_clean("replay stderr (trace)", &out.stderr);
    check_alerts_carry_the_masked_secrets(&alerts_of(&out.stdout), "replay stdout");
}

/// What a listener received: (path, headers, body).
type Got = Arc<Mutex<Vec<(String, axum::http::HeaderMap, Vec<u8>)>>>;

/// A capturing HTTP server: `/echo…` answers 500 with the whole request echoed back (request
/// line with path and query, headers, body), everything else 200.
fn server(rt: &tokio::runtime::Runtime) -> (Got, String) {
    let got: Got = Arc::default();
    let g = got.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push((uri.path().to_string(), headers.clone(), body.to_vec()));
                if uri.path().starts_with("/echo") {
                    let mut echo = format!("POST {uri} HTTP/1.1\r\n");
                    for (k, v) in &headers {
                        let _ = write!(echo, "{k}: {}\r\n", v.to_str().unwrap_or("?"));
                    }
                    echo.push_str("\r\n");
                    echo.push_str(&String::from_utf8_lossy(&body));
                    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, echo)
                } else {
                    (axum::http::StatusCode::OK, "ok".to_string())
                }
            }
        },
    );
    let l = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    rt.spawn(async move { axum::serve(l, app).await.unwrap() });
    (got, base)
}

fn write_config(f: &Fixture, base: &str) -> String {
    let yaml = format!(
        r#"profiles:
  s:
    state: ["{state}"]
    rules: ["{rules}"]
    inputs: ["{events}"]
    replay: {{loop: false, interval_ms: 0}}
    store: {{path: "{store}"}}
    notify:
      defaults: [hook, slack, archive]
      channels:
        hook: {{type: webhook, url: "{base}/hook", secret_env: TFDRIFT_TEST_HMAC}}
        slack: {{type: slack, url: "{base}/slack"}}
        archive: {{type: jsonl, path: "{archive}"}}
  echo:
    notify:
      channels:
        echoing: {{type: webhook, url_env: TFDRIFT_TEST_ECHO_URL, secret_env: TFDRIFT_TEST_HMAC,
                  headers: {{X-Team: platform}}}}
"#,
        state = f.p("state.tfstate"),
        rules = f.p("rules.yaml"),
        events = f.p("events.json"),
        store = f.p("store.db"),
        archive = f.p("alerts.jsonl"),
    );
    let p = f.p("tfdrift.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

/// The README's verification snippet in `lang` (`python`, `sh`).
fn readme_snippet(lang: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("### Verifying webhook signatures")
        .nth(1)
        .expect("the README documents webhook verification");
    section
        .split(&format!("```{lang}\n"))
        .nth(1)
        .and_then(|s| s.split("```").next())
        .unwrap_or_else(|| panic!("a {lang} snippet in the README's verification section"))
        .to_string()
}

/// Whether the README's Python and shell snippets both accept a received request.
fn readme_snippets_verify(body: &[u8], ts: &str, sig: &str, dir: &Path) -> bool {
    std::fs::write(dir.join("body.json"), body).unwrap();
    let script = format!(
        "{}\nimport sys\nbody = open(sys.argv[1], 'rb').read()\nsys.exit(0 if verify(sys.argv[2].encode(), body, sys.argv[3], sys.argv[4]) else 1)\n",
        readme_snippet("python")
    );
    let python = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .arg(dir.join("body.json"))
        .arg(HMAC_KEY)
        .arg(ts)
        .arg(sig)
        .status()
        .expect("python3 is needed to run the README's verification snippet");
    // The shell snippet reads body.json in the working directory and needs openssl.
    let shell = Command::new("sh")
        .arg("-c")
        .arg(readme_snippet("sh"))
        .current_dir(dir)
        .env("TS", ts)
        .env("SIG", sig)
        .env("HOOK_SECRET", HMAC_KEY)
        .output()
        .expect("sh is needed to run the README's verification snippet");
    assert!(
        !String::from_utf8_lossy(&shell.stderr).contains("openssl: not found"),
        "openssl is needed to run the README's shell verification snippet (apt-get install openssl)"
    );
    let shell_ok =
        shell.status.success() && String::from_utf8_lossy(&shell.stdout).trim() == "valid";
    assert_eq!(
        python.success(),
        shell_ok,
        "the two README snippets disagree"
    );
    shell_ok
}

#[test]
fn daemon_stdout_logs_store_channels_and_tui_hold_no_secret() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (got, base) = server(&rt);
    let f = Fixture::new();
    let cfg = write_config(&f, &base);
    let env = [("TFDRIFT_LOG", "trace"), ("TFDRIFT_TEST_HMAC", HMAC_KEY)];

    // The headless daemon: one pass over the events, notifications drained, then exit.
    let out = run(
        &[
            "tui",
            "--no-ui",
            "--once",
            "--profile",
            "s",
            "--config",
            &cfg,
        ],
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_clean("daemon stdout", &out.stdout);
    assert_clean("daemon stderr (trace)", &out.stderr);
    let alerts = alerts_of(&out.stdout);
    check_alerts_carry_the_masked_secrets(&alerts, "daemon stdout");

    // The store file, byte for byte (and its WAL, if one is left).
    let store = std::fs::read(f.path("store.db")).unwrap();
    let first = alerts[0].id.as_bytes();
    assert!(
        store.windows(first.len()).any(|w| w == first)
            || std::fs::read(f.path("store.db-wal"))
                .is_ok_and(|w| w.windows(first.len()).any(|x| x == first)),
        "the store holds the alerts"
    );
    assert_clean("store.db", &store);
    for extra in ["store.db-wal", "store.db-journal"] {
        if let Ok(b) = std::fs::read(f.path(extra)) {
            assert_clean(extra, &b);
        }
    }

    // Every channel's received bodies and headers.
    let archive = std::fs::read(f.path("alerts.jsonl")).unwrap();
    assert!(!archive.is_empty());
    assert_clean("jsonl channel", &archive);
    {
        let g = got.lock().unwrap();
        for ch in ["/hook", "/slack"] {
            let bodies: Vec<_> = g.iter().filter(|(p, _, _)| p == ch).collect();
            assert!(bodies.len() >= 3, "{ch}: {} requests", bodies.len());
            for (_, h, b) in &bodies {
                assert_clean(&format!("{ch} body"), b);
                for (k, v) in h {
                    assert_clean(&format!("{ch} header {k}"), v.as_bytes());
                }
            }
        }
    }
    drop(rt);
    #[cfg(feature = "tui")]
    tui_screens_hold_no_secret(&alerts, &f.p("state.tfstate"));
}

/// Webhook requests carry `X-Tfdrift-Timestamp`, inside the HMAC: the README's own snippets
/// (Python and shell) verify a real request, and reject it with another timestamp.
#[test]
fn webhook_signatures_cover_a_timestamp_the_readme_snippet_verifies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (got, base) = server(&rt);
    let f = Fixture::new();
    let cfg = write_config(&f, &base);
    let out = run(
        &[
            "notify",
            "test",
            "--profile",
            "s",
            "--channel",
            "hook",
            "--config",
            &cfg,
        ],
        &[("TFDRIFT_TEST_HMAC", HMAC_KEY)],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let requests = got.lock().unwrap();
    let (_, headers, body) = requests
        .iter()
        .find(|(p, _, _)| p == "/hook")
        .expect("the webhook request");
    let ts = headers
        .get("x-tfdrift-timestamp")
        .expect("X-Tfdrift-Timestamp on a signed webhook")
        .to_str()
        .unwrap();
    let sent: i64 = ts.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent).abs() < 600, "{ts}");
    let sig = headers["x-tfdrift-signature"].to_str().unwrap();
    assert!(readme_snippets_verify(body, ts, sig, f.dir.path()), "{sig}");
    // Signed over the timestamp: the same body and signature with another timestamp fail.
    assert!(!readme_snippets_verify(
        body,
        &(sent - 1).to_string(),
        sig,
        f.dir.path()
    ));
}

/// `notify test` against a server that echoes the request (URL path and query, headers with
/// the signature, body) in a 500: the status and a short, masked excerpt only.
#[test]
fn notify_test_prints_status_and_a_masked_bounded_excerpt() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (got, base) = server(&rt);
    let f = Fixture::new();
    let cfg = write_config(&f, &base);
    let echo_url = format!("{base}/echo/{URL_PATH_SECRET}?token={URL_QUERY_SECRET}");
    let out = run(
        &["notify", "test", "--profile", "echo", "--config", &cfg],
        &[
            ("TFDRIFT_TEST_HMAC", HMAC_KEY),
            ("TFDRIFT_TEST_ECHO_URL", &echo_url),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        got.lock()
            .unwrap()
            .iter()
            .any(|(p, _, _)| p.starts_with("/echo")),
        "the echo server was called"
    );
    assert_clean("notify test stdout", &out.stdout);
    assert_clean("notify test stderr", &out.stderr);
    let row = text
        .lines()
        .find(|l| l.starts_with("echoing "))
        .unwrap_or_else(|| panic!("no row: {text}"));
    assert!(row.contains("FAILED") && row.contains("HTTP 500"), "{row}");
    assert!(row.contains("POST "), "an excerpt of the response: {row}");
    assert!(row.chars().count() < 400, "bounded excerpt: {row}");
    assert_eq!(text.lines().count(), 1, "one line: {text}");
}

/// `state show` (table and JSON) prints resource ids: an access key's id is a credential.
#[test]
fn state_show_holds_no_secret() {
    let f = Fixture::new();
    for extra in [&[][..], &["--json"][..]] {
        let state = f.p("state.tfstate");
        let mut args = vec!["state", "show", "--state", state.as_str()];
        args.extend_from_slice(extra);
        let out = run(&args, &[("TFDRIFT_LOG", "trace")]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("aws_iam_access_key.ci"), "{stdout}");
        assert!(stdout.contains(INSTANCE), "{stdout}");
        assert_clean("state show stdout", &out.stdout);
        assert_clean("state show stderr", &out.stderr);
    }
}

/// Every alert in every detail tab, zoomed, at a size where nothing is cut; and an alert recorded
/// before enrichment carried tags (the pane then reads the tags from the state).
#[cfg(feature = "tui")]
fn tui_screens_hold_no_secret(alerts: &[tfdrift::alert::Alert], state: &str) {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use tfdrift::tui::app::{Action, App, Focus, Meta};
    use tfdrift::tui::editor::{RuleEditor, YamlSyntax};

    let (index, failures) = tfdrift::state::load_states(&[state.to_string()]);
    assert!(failures.is_empty());
    let editor = RuleEditor::with_text(
        "rules/local.yaml".into(),
        "",
        "new file".into(),
        Box::new(YamlSyntax),
    );
    let meta = Meta {
        profile: "s".into(),
        state: Some(Arc::new(index)),
        ..Meta::default()
    };
    let mut app = App::new(
        meta,
        tfdrift::tui::keymap::Keymap::default_keymap(),
        tfdrift::tui::theme::Theme::default_theme(),
        editor,
        chrono::Utc::now(),
    );
    let mut all = alerts.to_vec();
    let mut bare = alerts
        .iter()
        .find(|a| a.resource.address.as_deref() == Some("aws_instance.web"))
        .unwrap()
        .clone();
    bare.id.push_str("-before-enrichment");
    bare.enrichment = tfdrift::alert::Enrichment::default();
    all.push(bare);
    let n = all.len();
    app.update(Action::Alerts(all));
    let key = |app: &mut App, c: KeyCode| {
        app.update(Action::Key(KeyEvent::new(c, KeyModifiers::NONE)));
    };
    let mut screens = Vec::new();
    // The monitor opens on the Now board; this walks the feed's alerts.
    key(&mut app, KeyCode::Char('v'));
    key(&mut app, KeyCode::Char('g'));
    for _ in 0..n {
        for tab in ['1', '2'] {
            key(&mut app, KeyCode::Char(tab));
            for zoom in [false, true] {
                app.focus = if zoom { Focus::Detail } else { Focus::Feed };
                app.zoom = zoom;
                let mut t = Terminal::new(TestBackend::new(200, 80)).unwrap();
                t.draw(|fr| tfdrift::tui::ui::draw(fr, &app)).unwrap();
                let screen = t.backend().to_string();
                assert_clean("TUI screen", screen.as_bytes());
                screens.push(screen);
            }
        }
        // The enrichment pane's lines unwrapped (a screen may cut a long value in two).
        let sel = app.selected().unwrap();
        let text = tfdrift::tui::ui::enrich::lines(&app, sel)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n");
        assert_clean("TUI enrichment lines", text.as_bytes());
        app.focus = Focus::Feed;
        app.zoom = false;
        key(&mut app, KeyCode::Char('j'));
    }
    assert_eq!(screens.len(), n * 4);
    // The masked tags were on screen, and for the alert without enrichment the pane read them
    // from the state.
    assert!(
        screens
            .iter()
            .any(|s| s.contains("DeployToken=(sensitive)"))
    );
    assert!(screens.iter().any(|s| s.contains("from state")));
}
