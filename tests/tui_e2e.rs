//! End to end in a real terminal: tmux runs `tfdrift tui` (the bundled demo when its events are
//! there, else the golden fixtures), and the test drives it with keys and reads the screen.
//! Fails with a clear message when tmux is missing: it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
#![cfg(feature = "tui")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

#[path = "support/pty.rs"]
mod pty;

/// A private tmux server, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", "e2e"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    fn literal(&self, text: &str) {
        self.ok(&["send-keys", "-t", "e2e", "-l", text]);
    }

    /// Polls the screen until `pred` holds; panics with the last screen after `timeout`.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn require_tmux() {
    let found = Command::new("tmux").arg("-V").output();
    assert!(
        found.as_ref().is_ok_and(|o| o.status.success()),
        "tmux is required for the end-to-end TUI test and was not found: install it (apt-get install -y tmux). \
         This test never skips."
    );
}

/// `--profile demo` when the bundled demo events exist, else a config over the golden fixtures.
fn profile_args(dir: &Path) -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if root.join("assets/demo/events.jsonl").exists() {
        return vec!["--profile".into(), "demo".into()];
    }
    let corpus = std::env::var_os("TFDRIFT_CORPUS").map_or_else(
        || panic!("assets/demo/events.jsonl is missing and TFDRIFT_CORPUS is not set"),
        PathBuf::from,
    );
    let states = [
        "tfstate/hari-44456__multi-cloud-terraform/aws/terraform.tfstate",
        "tfstate/erdembozdg__terraform-aws-labs/aws-vpc/terraform.tfstate",
        "tfstate/nl253__TerraformInfrastructure/s3/terraform.tfstate",
        "tfstate/nl253__TerraformInfrastructure/iam-role/terraform.tfstate",
        "tfstate/nl253__TerraformInfrastructure/sns/terraform.tfstate",
    ];
    let mut yaml = String::from("profiles:\n  e2e:\n    state:\n");
    for s in states {
        writeln!(yaml, "      - \"{}\"", corpus.join(s).display()).unwrap();
    }
    yaml.push_str("    inputs:\n");
    for case in ["aws-ec2", "aws-policies"] {
        let events = root.join("tests/golden").join(case).join("events.jsonl");
        writeln!(yaml, "      - \"{}\"", events.display()).unwrap();
    }
    yaml.push_str("    replay: {loop: true, interval_ms: 300}\n");
    let cfg = dir.join("tfdrift.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    vec![
        "--config".into(),
        cfg.display().to_string(),
        "--profile".into(),
        "e2e".into(),
    ]
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The feed pane's lines (top half of the screen at 200×50).
fn feed_part(screen: &str) -> String {
    screen
        .lines()
        .take_while(|l| !l.contains("1 Diff"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts `tfdrift tui` in a private tmux server at 200×50 inside a shell that prints the exit
/// status afterwards. Returns the server guard and the temp dir (config, rules file).
fn start(name: &str) -> (Tmux, tempfile::TempDir, PathBuf) {
    start_with(name, &[])
}

fn start_with(name: &str, env: &[&str]) -> (Tmux, tempfile::TempDir, PathBuf) {
    let (tmux, dir, rules, _) = start_full(name, env, None);
    (tmux, dir, rules)
}

/// Writes a profile into the temp dir and returns the arguments naming it.
type ProfileFn = dyn Fn(&Path) -> Vec<String>;

/// Like [`start_with`]; `profile` replaces the default profile arguments (it gets the temp
/// dir). Also returns the command line, to run it again in the same shell.
fn start_full(
    name: &str,
    env: &[&str],
    profile: Option<&ProfileFn>,
) -> (Tmux, tempfile::TempDir, PathBuf, String) {
    require_tmux();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    let tmux_conf = dir.path().join("tmux.conf");
    std::fs::write(
        &tmux_conf,
        "set -g set-clipboard on\nset -g escape-time 10\n",
    )
    .unwrap();
    let tmux = Tmux {
        socket: format!("tfdrift-{name}-{}", std::process::id()),
    };
    let mut cmdline = vec![
        "env".to_string(),
        "-u".into(),
        "DISPLAY".into(),
        "-u".into(),
        "WAYLAND_DISPLAY".into(),
        "TERM=tmux-256color".into(),
    ];
    cmdline.extend(env.iter().map(|e| (*e).to_string()));
    cmdline.extend([env!("CARGO_BIN_EXE_tfdrift").into(), "tui".into()]);
    cmdline.extend(profile.map_or_else(|| profile_args(dir.path()), |p| p(dir.path())));
    cmdline.extend(["--rules-file".into(), rules.display().to_string()]);
    let cmdline: Vec<String> = cmdline.iter().map(|s| shell_quote(s)).collect();
    tmux.ok(&[
        "-f",
        tmux_conf.to_str().unwrap(),
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "200",
        "-y",
        "50",
        "bash --norc --noprofile",
    ]);
    tmux.literal("PS1='e2e-shell$ '; clear\n");
    let cmdline = format!("{}; echo TFDRIFT-EXIT=$?\n", cmdline.join(" "));
    tmux.literal(&cmdline);
    (tmux, dir, rules, cmdline)
}

/// The exit status the shell printed after the app ended (not the echoed command line).
fn exit_code(s: &str) -> Option<u32> {
    let re = regex::Regex::new(r"TFDRIFT-EXIT=(\d+)").unwrap();
    re.captures(s).and_then(|c| c[1].parse().ok())
}

fn alert_total(s: &str) -> usize {
    let re = regex::Regex::new(r"Drift feed (\d+)/(\d+)").unwrap();
    re.captures(s).map_or(0, |c| c[2].parse().unwrap_or(0))
}

/// The monitor opens on the Now board: wait for it, then switch to the live feed (`v`).
fn to_feed(tmux: &Tmux) {
    tmux.wait_for(
        "the Now board (the default view)",
        Duration::from_mins(1),
        |s| s.contains("Now board"),
    );
    tmux.keys(&["v"]);
    tmux.wait_for("the live feed after v", Duration::from_secs(10), |s| {
        s.contains("Drift feed")
    });
}

#[test]
fn tui_end_to_end_in_tmux() {
    let (tmux, _dir, rules) = start("e2e");
    to_feed(&tmux);
    let total = alert_total;
    // 1. Alerts stream in.
    let s = tmux.wait_for(
        "at least 5 alerts in the feed",
        Duration::from_mins(1),
        |s| total(s) >= 5,
    );
    assert!(
        s.contains("● running"),
        "status bar shows the pipeline running:\n{s}"
    );

    // 2. Moving the selection turns follow mode off.
    tmux.keys(&["j", "j", "Down"]);
    tmux.wait_for("follow off after moving", Duration::from_secs(10), |s| {
        s.contains("Drift feed") && !s.contains("follow ●")
    });

    // 3. Filter to attribute drift, then the diff shows both sides.
    tmux.keys(&["/"]);
    tmux.literal("kind:drift");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for("the filter in the title", Duration::from_secs(10), |s| {
        s.contains("/kind:drift")
    });
    let feed = feed_part(&s);
    assert!(
        !feed.contains(" unmanaged ") && !feed.contains(" deleted "),
        "filter leaked:\n{feed}"
    );
    // Top of the feed, then freeze the selection so later alerts do not move it.
    tmux.keys(&["g", ":"]);
    tmux.literal("follow off");
    tmux.keys(&["Enter", "1"]);
    tmux.wait_for("the side-by-side diff", Duration::from_secs(10), |s| {
        s.contains("[1 Diff]") && s.contains("state (Terraform)") && s.contains("observed (event)")
    });

    // 4. Enrichment, zoomed so every section fits.
    tmux.keys(&["2", "Tab", "z"]);
    let enrichment = tmux.wait_for("the enrichment pane", Duration::from_secs(10), |s| {
        s.contains("[2 Enrichment]") && s.contains("Identity") && s.contains("History (7 days)")
    });
    assert!(
        enrichment.contains("changes/day") && enrichment.contains("dependents"),
        "history and blast radius lines:\n{enrichment}"
    );

    // 5. Copy a remediation command: no display, so OSC 52 → tmux buffer.
    tmux.keys(&["c"]);
    tmux.wait_for("the copy confirmation", Duration::from_secs(10), |s| {
        s.contains("Copied remediation command 1 (OSC 52")
    });
    let start = Instant::now();
    let buffer = loop {
        let out = tmux.cmd(&["show-buffer"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains("terraform") {
            break text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no OSC 52 copy reached tmux: {text:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // A managed drift alert: command 1 is a command built from the alert (`terraform apply
    // -target='ADDR'`, or for a security group the exact `aws ec2 revoke-…`), never prose.
    assert!(
        buffer.starts_with("terraform ") || buffer.starts_with("aws ec2 "),
        "copied: {buffer:?}"
    );
    assert!(
        enrichment.contains(&format!("c1 {}", buffer.trim())),
        "the copied command is c1 pinned at the top of the details: {buffer:?}\n{enrichment}"
    );
    tmux.keys(&["z"]);

    // 6. Edit a rule with a deliberate error, see it, fix it, save. The tab opens in view
    // mode; `i` edits.
    tmux.keys(&["e"]);
    tmux.wait_for("the rule file in view mode", Duration::from_secs(10), |s| {
        s.contains("[3 Rules]") && s.contains("VIEW · i or Enter edits")
    });
    tmux.keys(&["i"]);
    tmux.wait_for("the rule editor", Duration::from_secs(10), |s| {
        s.contains("[3 Rules]") && s.contains("EDITING")
    });
    tmux.literal("rules:");
    tmux.keys(&["Enter"]);
    tmux.literal("  - id: e2e");
    tmux.keys(&["Enter"]);
    tmux.literal("    name: [oops");
    tmux.wait_for("the YAML error inline", Duration::from_secs(10), |s| {
        s.contains("✗ line 3:") && s.contains("unclosed")
    });
    tmux.literal("]");
    // Valid YAML now, but not a valid rule: the rule engine's own check shows inline.
    tmux.wait_for("the rule error inline", Duration::from_secs(10), |s| {
        s.contains("✗ line 3:") && s.contains("must be a string")
    });
    for _ in 0.."[oops]".len() {
        tmux.keys(&["BSpace"]);
    }
    tmux.literal("E2E");
    tmux.keys(&["Enter"]);
    tmux.literal("    severity: high");
    tmux.wait_for("the errors gone", Duration::from_secs(10), |s| {
        s.contains("✓ valid rules")
    });
    tmux.keys(&["C-s"]);
    tmux.wait_for("the save confirmation", Duration::from_secs(10), |s| {
        s.contains("Saved ") && s.contains("not watched by the pipeline")
    });
    let saved = std::fs::read_to_string(&rules).unwrap();
    assert_eq!(
        saved,
        "rules:\n  - id: e2e\n    name: E2E\n    severity: high\n"
    );

    // 7. Quit from the rules tab in view mode: `q` quits, nothing is typed into the rules; the
    // terminal is restored and the shell is back.
    // Escape alone first: sent together with `q`, terminals read ESC q as alt-q.
    tmux.keys(&["Escape"]);
    tmux.wait_for("editing stopped", Duration::from_secs(10), |s| {
        s.contains("Stopped editing")
    });
    tmux.keys(&["3"]);
    tmux.wait_for("the rules tab in view mode", Duration::from_secs(10), |s| {
        s.contains("[3 Rules]") && s.contains("VIEW")
    });
    tmux.keys(&["q"]);
    let s = tmux.wait_for("the shell after quitting", Duration::from_secs(20), |s| {
        exit_code(s).is_some()
    });
    assert_eq!(exit_code(&s), Some(0), "exit status:\n{s}");
    assert!(!s.contains("Drift feed"), "the UI is still on screen:\n{s}");
    assert_eq!(
        tmux.ok(&["display", "-p", "-t", "e2e", "#{alternate_on}"])
            .trim(),
        "0"
    );
    assert_eq!(
        std::fs::read_to_string(&rules).unwrap(),
        saved,
        "q in the rules tab typed nothing"
    );
}

#[test]
fn sigterm_restores_the_terminal() {
    signal_restores_the_terminal("TERM");
}

#[test]
fn sigint_restores_the_terminal() {
    signal_restores_the_terminal("INT");
}

fn signal_restores_the_terminal(signal: &str) {
    let (tmux, _dir, _rules) = start(&signal.to_lowercase());
    to_feed(&tmux);
    tmux.wait_for("the first alert", Duration::from_mins(1), |s| {
        alert_total(s) >= 1
    });
    let shell = tmux.ok(&["display", "-p", "-t", "e2e", "#{pane_pid}"]);
    let out = Command::new("ps")
        .args(["-o", "pid=", "--ppid", shell.trim()])
        .output()
        .expect("ps");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        !pid.is_empty() && !pid.contains('\n'),
        "one child of the shell expected: {pid:?}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let s = tmux.wait_for("the shell after the signal", Duration::from_secs(20), |s| {
        exit_code(s).is_some()
    });
    assert!(
        s.contains("TFDRIFT-EXIT=0"),
        "exit status after SIG{signal}:\n{s}"
    );
    assert!(!s.contains("Drift feed"), "the UI is still on screen:\n{s}");
    assert_eq!(
        tmux.ok(&["display", "-p", "-t", "e2e", "#{alternate_on}"])
            .trim(),
        "0"
    );
}

/// Debug builds panic on purpose with `TFDRIFT_TUI_TEST_PANIC` once an alert is drawn: the panic
/// hook must leave the alternate screen and raw mode before the message is printed.
#[test]
fn panic_restores_the_terminal() {
    let (tmux, _dir, _rules) = start_with("panic", &["TFDRIFT_TUI_TEST_PANIC=1"]);
    let s = tmux.wait_for("the shell after the panic", Duration::from_mins(1), |s| {
        exit_code(s).is_some()
    });
    assert!(
        s.contains("TFDRIFT-EXIT=101"),
        "a panic exits with 101:\n{s}"
    );
    assert!(
        s.contains("deliberate panic"),
        "the panic message is readable:\n{s}"
    );
    assert!(!s.contains("Drift feed"), "the UI is still on screen:\n{s}");
    assert_eq!(
        tmux.ok(&["display", "-p", "-t", "e2e", "#{alternate_on}"])
            .trim(),
        "0"
    );
    // Raw mode is off: the shell echoes typed text and runs it on Enter.
    tmux.literal("echo typed-$((40+2))\n");
    tmux.wait_for("a cooked terminal", Duration::from_secs(10), |s| {
        s.contains("typed-42")
    });
}

/// With `store: {path: …}` in the profile, an acknowledgement is saved and a restarted UI shows
/// the alert (restored from the store: its events are not processed twice) still acknowledged.
#[test]
fn ack_survives_a_restart_with_a_store() {
    let profile = |dir: &Path| {
        let db = dir.join("tfdrift.db");
        let yaml = format!(
            "profiles:\n  persist:\n    state: [\"embedded:demo/terraform.tfstate\"]\n    inputs: [\"embedded:demo/events.jsonl\"]\n    replay: {{loop: false, interval_ms: 20}}\n    store: {{path: \"{}\"}}\n",
            db.display()
        );
        // The editor's file (`--rules-file DIR/rules.yaml`) is one of the profile's rules:
        // the pipeline watches it and a save hot-reloads.
        std::fs::write(
            dir.join("rules.yaml"),
            "rules:\n  - id: first\n    name: First\n    severity: low\n",
        )
        .unwrap();
        let yaml = yaml.replace(
            "    store:",
            &format!(
                "    rules: [\"{}\"]\n    store:",
                dir.join("rules.yaml").display()
            ),
        );
        let cfg = dir.join("persist.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        vec![
            "--config".to_string(),
            cfg.display().to_string(),
            "--profile".into(),
            "persist".into(),
        ]
    };
    let (tmux, _dir, _rules, cmdline) = start_full("persist", &[], Some(&profile));
    to_feed(&tmux);
    let s = tmux.wait_for("the sources done", Duration::from_mins(1), |s| {
        s.contains("■ sources done") && alert_total(s) >= 3
    });
    let first_total = alert_total(&s);
    assert!(s.contains("acks saved"), "status bar names the store:\n{s}");
    tmux.keys(&["g", "a"]);
    // The confirmation itself: the details say "(saved in the store)" before the key is read.
    let s = tmux.wait_for("the ack saved", Duration::from_secs(10), |s| {
        s.contains("Alert acknowledged · saved in the store")
    });
    let acked = regex::Regex::new(r"[▶ ]A (\w{3} \d\d \d\d:\d\d|\d\d:\d\d:\d\d) .*")
        .unwrap()
        .captures(&feed_part(&s))
        .map_or_else(
            || panic!("no acknowledged row:\n{s}"),
            |c| c[0].trim_end_matches(['│', ' ']).to_string(),
        );
    let unhandled = |s: &str| {
        regex::Regex::new(r"(\d+) unhandled")
            .unwrap()
            .captures(s)
            .map(|c| c[1].to_string())
    };
    let first_unhandled = unhandled(&s);
    tmux.keys(&["q"]);
    tmux.wait_for("the shell after quitting", Duration::from_secs(20), |s| {
        exit_code(s).is_some()
    });
    // Slow the second replay down: its events are all deduped by the store, and the pipeline
    // (with its rule watcher) must still be running for the hot-reload check below.
    let cmdline = cmdline.replacen("; echo", " --replay-interval-ms 3000; echo", 1);
    tmux.literal(&format!("clear; {cmdline}"));
    to_feed(&tmux);
    let s = tmux.wait_for("the restored alerts", Duration::from_mins(1), |s| {
        s.contains("Drift feed") && alert_total(s) >= first_total
    });
    let feed = feed_part(&s);
    assert_eq!(alert_total(&s), first_total, "no alert twice:\n{s}");
    let row = acked.trim_start_matches(['▶', ' ']);
    assert!(
        feed.contains(row),
        "the acknowledgement survived ({row:?}):\n{s}"
    );
    assert_eq!(unhandled(&s), first_unhandled, "{s}");

    // Save a rule: the pipeline watches the file and the editor reports the reload.
    tmux.keys(&["3"]);
    tmux.wait_for("the rule file", Duration::from_secs(10), |s| {
        s.contains("[3 Rules]") && s.contains("Watched: a valid save")
    });
    tmux.keys(&["i"]);
    tmux.keys(&["Down", "Down", "Down", "End", "Enter"]);
    tmux.literal("  - id: second");
    tmux.keys(&["Enter"]);
    tmux.literal("    name: Second");
    tmux.keys(&["Enter"]);
    tmux.literal("    severity: high");
    tmux.wait_for("valid rules", Duration::from_secs(10), |s| {
        s.contains("✓ valid rules")
    });
    tmux.keys(&["C-s"]);
    tmux.wait_for("the reload reported", Duration::from_secs(15), |s| {
        s.contains("Reloaded: 2 rules in force")
    });
    tmux.keys(&["C-t"]);
    tmux.wait_for("the rule tests ran", Duration::from_secs(15), |s| {
        s.contains("Rule tests: ")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("editing stopped", Duration::from_secs(10), |s| {
        s.contains("Stopped editing")
    });
    tmux.keys(&["q"]);
    let s = tmux.wait_for("the shell after quitting", Duration::from_secs(20), |s| {
        exit_code(s).is_some()
    });
    assert_eq!(exit_code(&s), Some(0), "exit status:\n{s}");
}

/// The pty latency harness: keystroke → the frame that shows it, with the pipeline idle and
/// then busy (the demo replayed in a loop without pauses). Prints p50/p99; asserts only that
/// every keystroke was shown and that `q` quits (no timed assertion). Before the fix every key
/// waited for the 1-second tick.
#[test]
fn keystroke_to_frame_latency_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let rules = dir.path().join("rules.yaml").display().to_string();
    let run = |label: &str, extra: &[&str]| {
        let mut args: Vec<String> = ["tui", "--profile", "demo", "--rules-file", &rules]
            .iter()
            .map(ToString::to_string)
            .collect();
        args.extend(extra.iter().map(ToString::to_string));
        // TFDRIFT_PTY_BIN: time another build (e.g. the one before a fix) with the same harness.
        let bin = std::env::var("TFDRIFT_PTY_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tfdrift").to_string());
        let mut p = pty::Pty::spawn(
            &bin,
            &args,
            &[("XDG_DATA_HOME", data.as_str()), ("NO_COLOR", "")],
            200,
            50,
        );
        assert!(
            p.wait_for(b"Now board", 0, Duration::from_secs(30))
                .is_some(),
            "the monitor did not draw:\n{}",
            p.text()
        );
        if extra.contains(&"--once") {
            // Idle: the replay is done and nothing redraws.
            assert!(p.wait_quiet(Duration::from_millis(1500), Duration::from_secs(30)));
        }
        let (samples, missed) = p.command_line_echo(60, Duration::from_secs(5));
        assert_eq!(missed, 0, "{label}: keystrokes never shown");
        eprintln!("keystroke → frame, {label}: {}", pty::summary(&samples));
        let quit = p.quit(Duration::from_secs(10));
        assert!(quit.is_some(), "{label}: q did not quit");
        eprintln!(
            "q → exit, {label}: {:.1} ms",
            quit.unwrap().as_secs_f64() * 1e3
        );
    };
    run(
        "idle (--once, replay done)",
        &["--once", "--replay-interval-ms", "0"],
    );
    run(
        "busy (demo looping, no pause)",
        &["--replay-interval-ms", "0"],
    );
}

/// Dead sources: an SQS queue on a closed port and a Falco gRPC socket that does not exist. The
/// header must not say `● running`: it turns red and names each failing source.
#[test]
fn dead_sources_are_shown_red() {
    let profile = |dir: &Path| {
        let yaml = format!(
            "profiles:\n  dead:\n    state: [\"embedded:demo/terraform.tfstate\"]\n    sources:\n      - {{type: sqs, queue_url: \"http://127.0.0.1:9/000000000000/q\", region: us-east-1, endpoint_url: \"http://127.0.0.1:9\"}}\n      - {{type: falco_grpc, address: \"unix://{}/missing/falco.sock\"}}\n    store: {{path: \":memory:\"}}\n",
            dir.display()
        );
        let cfg = dir.join("dead.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        vec![
            "--config".to_string(),
            cfg.display().to_string(),
            "--profile".into(),
            "dead".into(),
        ]
    };
    let (tmux, _dir, _rules, _) = start_full(
        "dead",
        &[
            "AWS_ACCESS_KEY_ID=test",
            "AWS_SECRET_ACCESS_KEY=test",
            "AWS_EC2_METADATA_DISABLED=true",
        ],
        Some(&profile),
    );
    let s = tmux.wait_for("both sources shown failing", Duration::from_mins(1), |s| {
        s.contains("✗ 2 of 2 sources failing")
    });
    let header = s.lines().next().unwrap_or_default();
    assert!(!s.contains("● running"), "{s}");
    assert!(
        header.contains("sqs ✗") && header.contains("falco_grpc ✗"),
        "{header}"
    );
    assert!(s.contains("it may not be quiet"), "{s}");
    tmux.keys(&["q"]);
    let s = tmux.wait_for("the shell after quitting", Duration::from_secs(20), |s| {
        exit_code(s).is_some()
    });
    assert_eq!(exit_code(&s), Some(0), "{s}");
}

/// The Now board end to end: the demo replayed into a SQLite store opens drifts; the board
/// (the default view) lists them; `a` on a drift row acknowledges it; after quitting, the store
/// (read by `tfdrift drifts list --json`) holds that drift acknowledged, and only that one.
#[test]
fn now_board_acknowledges_a_drift_in_the_store() {
    let cfg_of = |dir: &Path| dir.join("now.yaml");
    let profile = move |dir: &Path| {
        let yaml = format!(
            "profiles:\n  now:\n    state: [\"embedded:demo/terraform.tfstate\"]\n    inputs: [\"embedded:demo/events.jsonl\"]\n    replay: {{loop: false, interval_ms: 20}}\n    store: {{path: \"{}\"}}\n",
            dir.join("tfdrift.db").display()
        );
        std::fs::write(cfg_of(dir), yaml).unwrap();
        vec![
            "--config".to_string(),
            cfg_of(dir).display().to_string(),
            "--profile".into(),
            "now".into(),
        ]
    };
    let (tmux, dir, _rules, _) = start_full("now", &[], Some(&profile));
    let open = |s: &str| {
        regex::Regex::new(r"Now board · (\d+) open")
            .unwrap()
            .captures(s)
            .map_or(0, |c| c[1].parse::<usize>().unwrap_or(0))
    };
    let s = tmux.wait_for(
        "the demo's drifts on the board",
        Duration::from_mins(1),
        |s| s.contains("■ sources done") && open(s) >= 5,
    );
    let before = open(&s);
    // Top (a resource row), then its first drift.
    tmux.keys(&["g", "j"]);
    let s = tmux.wait_for("a drift row selected", Duration::from_secs(10), |s| {
        s.lines()
            .any(|l| l.contains("│▶ ") && (l.contains("├ ") || l.contains("└ ")))
    });
    let lines: Vec<&str> = s.lines().collect();
    let at = lines.iter().position(|l| l.contains("│▶ ")).unwrap();
    let attribute = regex::Regex::new(r"[├└] (\S+)")
        .unwrap()
        .captures(lines[at])
        .map(|c| c[1].to_string())
        .unwrap();
    let resource = regex::Regex::new(r"│  \S+ \S+\s+(\S+) · \d+ drift")
        .unwrap()
        .captures(lines[at - 1])
        .map_or_else(
            || panic!("no resource row above:\n{s}"),
            |c| c[1].to_string(),
        );
    tmux.keys(&["a"]);
    let s = tmux.wait_for("the acknowledgement saved", Duration::from_secs(15), |s| {
        s.contains("Drift acknowledged · saved in the store") && s.contains("A acked by ")
    });
    assert_eq!(
        open(&s),
        before,
        "acknowledged drifts stay on the board:\n{s}"
    );
    assert!(s.contains("1 acknowledged"), "{s}");
    tmux.keys(&["q"]);
    let s = tmux.wait_for("the shell after quitting", Duration::from_secs(20), |s| {
        exit_code(s).is_some()
    });
    assert_eq!(exit_code(&s), Some(0), "{s}");
    let out = Command::new(env!("CARGO_BIN_EXE_tfdrift"))
        .args(["drifts", "list", "--config"])
        .arg(cfg_of(dir.path()))
        .args(["--profile", "now", "--status", "all", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drifts: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(drifts.len(), before, "{drifts:#?}");
    let acked: Vec<&serde_json::Value> = drifts
        .iter()
        .filter(|d| d["status"] == "acknowledged")
        .collect();
    assert_eq!(
        acked.len(),
        1,
        "exactly the drift acknowledged: {drifts:#?}"
    );
    let d = acked[0];
    let label = d["address"].as_str().map_or_else(
        || {
            format!(
                "{}:{}",
                d["type"].as_str().unwrap(),
                d["resource_id"].as_str().unwrap()
            )
        },
        String::from,
    );
    let attr = match d["attribute"].as_str().unwrap() {
        "" => "(resource)".to_string(),
        a => a.to_string(),
    };
    // The board cuts long names with an ellipsis.
    let same = |shown: &str, full: &str| {
        shown == full || shown.strip_suffix('…').is_some_and(|p| full.starts_with(p))
    };
    assert!(
        same(&resource, &label) && same(&attribute, &attr),
        "the board's row ({resource} {attribute}) is the stored drift ({label} {attr})"
    );
}
