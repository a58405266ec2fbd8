//! Hostile input against the real binary (issue 13, points 7–11, 13 and the `--stats-json` part
//! of 14): truncated gzip, unreadable leaves in `requestParameters`, records without a time,
//! gzip bombs, symlink loops and FIFOs, unbounded distinct names, a bad stats path. Every input
//! is generated here, in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::live_support;

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tfdrift");

/// A hung child is killed after this long and the test fails saying so (a guard, not a timing
/// assertion: every run here takes seconds).
const HANG_GUARD: Duration = Duration::from_mins(3);

struct Env {
    dir: tempfile::TempDir,
    state: PathBuf,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("demo.tfstate");
    std::fs::write(
        &state,
        tfdrift::assets::file("demo/terraform.tfstate").unwrap(),
    )
    .unwrap();
    Env { dir, state }
}

impl Env {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str], inputs: &[&Path]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("replay")
            .arg("--state")
            .arg(&self.state)
            .args(args)
            .args(inputs)
            .env("HOME", self.dir.path())
            .env("RUST_LOG", "error")
            .env_remove("TFDRIFT_CONFIG")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs a replay to completion (or fails the test if it hangs); with its peak RSS in bytes.
    fn replay_measured(&self, args: &[&str], inputs: &[&Path]) -> (Output, u64) {
        run_measured(
            self.command(args, inputs),
            &format!("tfdrift replay {args:?} {inputs:?}"),
        )
    }

    fn replay(&self, args: &[&str], inputs: &[&Path]) -> Output {
        self.replay_measured(args, inputs).0
    }
}

/// Runs `cmd` to completion (or fails the test if it hangs); with its peak RSS in bytes, read
/// from `/proc/<pid>/status` (`VmHWM`) while it runs.
fn run_measured(mut cmd: Command, what: &str) -> (Output, u64) {
    {
        let mut child = cmd.spawn().unwrap();
        // Drain the pipes on threads so a chatty child never blocks on a full pipe.
        let mut so = child.stdout.take().unwrap();
        let mut se = child.stderr.take().unwrap();
        let out_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            so.read_to_end(&mut b).unwrap();
            b
        });
        let err_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            se.read_to_end(&mut b).unwrap();
            b
        });
        let start = Instant::now();
        let mut peak = 0;
        let status = loop {
            if let Some(kb) = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
            {
                peak = peak.max(kb * 1024);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > HANG_GUARD {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("{what} hung (killed after {HANG_GUARD:?})");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let output = Output {
            status,
            stdout: out_t.join().unwrap(),
            stderr: err_t.join().unwrap(),
        };
        (output, peak)
    }
}

fn alerts(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stats(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A drifting call (the demo's instance type change) with its own event id.
fn drift(id: &str) -> Value {
    let first = tfdrift::assets::file("demo/events.jsonl")
        .unwrap()
        .split(|&b| b == b'\n')
        .next()
        .unwrap();
    let mut rec: Value = serde_json::from_slice(first).unwrap();
    rec["eventID"] = json!(id);
    rec
}

fn event_ids(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a["event"]["id"].as_str().unwrap().to_string())
        .collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo (coreutils) must be installed for this test");
    assert!(status.success());
}

/// Point 7: a truncated `.gz` keeps its complete records, is counted with its name and byte
/// offset, and the replay goes on with the next file (it used to abort with exit 1, 0 alerts).
#[test]
fn truncated_gzip_keeps_its_complete_records_and_the_replay_goes_on() {
    let e = env();
    let logs = e.path("logs");
    std::fs::create_dir(&logs).unwrap();
    let records: Vec<Value> = (0..200).map(|i| drift(&format!("a-{i:03}"))).collect();
    let doc = serde_json::to_vec(&json!({ "Records": records })).unwrap();
    let mut gz = gzip(&doc);
    gz.truncate(gz.len() / 2);
    std::fs::write(logs.join("a.json.gz"), &gz).unwrap();
    std::fs::write(
        logs.join("b.jsonl"),
        serde_json::to_string(&drift("b-0")).unwrap() + "\n",
    )
    .unwrap();
    let stats_path = e.path("stats.json");
    let out = e.replay(&["--stats-json", stats_path.to_str().unwrap()], &[&logs]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = event_ids(&alerts(&out));
    let from_a = ids.iter().filter(|i| i.starts_with("a-")).count();
    assert!(
        from_a > 20 && from_a < 200,
        "the complete records before the cut alert ({from_a})"
    );
    assert_eq!(
        ids.iter().filter(|i| *i == "b-0").count(),
        1,
        "the next file is read"
    );
    let s = stats(&stats_path);
    assert_eq!(s["inputs_cut"]["truncated_gzip"], 1, "{s:#}");
    let ex = &s["input_examples"][0];
    assert!(
        ex["origin"].as_str().unwrap().ends_with("a.json.gz"),
        "{ex}"
    );
    let reason = ex["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("compressed byte {}", gz.len())),
        "{reason}"
    );
    let err = stderr(&out);
    assert!(
        err.contains("a.json.gz"),
        "the summary names the file: {err}"
    );
    assert!(!err.contains("check the path and its permissions"), "{err}");
}

/// Point 8: one unreadable leaf (a number out of range, nesting past serde's limit) costs only
/// itself, not the resource id; a numeric `recipientAccountId` / `requestID` is read as text.
#[test]
fn unreadable_leaves_and_numeric_ids_never_lose_the_resource() {
    let e = env();
    let mut big = drift("big-number");
    big["requestParameters"]["junk"] = json!({"n": 1});
    let deep = format!("{}1{}", "[".repeat(400), "]".repeat(400));
    let mut deep_rec = drift("deep");
    deep_rec["requestParameters"]["junk"] = json!("DEEP");
    let mut numeric = drift("numeric-ids");
    numeric["recipientAccountId"] = json!(123_456_789_012_u64);
    numeric["requestID"] = json!(42);
    numeric["eventCategory"] = json!({"odd": true});
    let lines = [
        serde_json::to_string(&big)
            .unwrap()
            .replace(r#"{"n":1}"#, "1e999"),
        serde_json::to_string(&deep_rec)
            .unwrap()
            .replace(r#""DEEP""#, &deep),
        serde_json::to_string(&numeric).unwrap(),
    ];
    let input = e.path("events.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let stats_path = e.path("stats.json");
    let out = e.replay(&["--stats-json", stats_path.to_str().unwrap()], &[&input]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alerts = alerts(&out);
    let mut ids = event_ids(&alerts);
    ids.sort();
    assert_eq!(ids, ["big-number", "deep", "numeric-ids"], "{alerts:#?}");
    let numeric = alerts
        .iter()
        .find(|a| a["event"]["id"] == "numeric-ids")
        .unwrap();
    assert_eq!(numeric["event"]["account"], "123456789012");
    let s = stats(&stats_path);
    assert_eq!(s["unparseable"], 0, "{s:#}");
    assert_eq!(s["no_resource"], json!({}), "{s:#}");
    let fields = &s["unreadable_fields"];
    assert_eq!(fields["requestParameters.junk"], 1, "{s:#}");
    assert_eq!(fields["eventCategory"], 1, "{s:#}");
    assert!(
        fields
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("requestParameters.junk.0.0")),
        "the deep member is named: {s:#}"
    );
}

/// Point 9: a record without `eventTime` gets its file's time, the same on every replay, and
/// the alert says where the time came from.
#[test]
fn records_without_a_time_get_their_files_time_deterministically() {
    let e = env();
    let mut rec = drift("no-time");
    rec.as_object_mut().unwrap().remove("eventTime");
    let line = serde_json::to_string(&rec).unwrap() + "\n";
    let named = e.path("123456789012_CloudTrail_us-east-1_20171211T1505Z_abc.json");
    std::fs::write(&named, &line).unwrap();
    let out = e.replay(&[], &[&named]);
    assert!(out.status.success(), "{}", stderr(&out));
    let a = &alerts(&out)[0];
    assert_eq!(a["time"], "2017-12-11T15:05:00Z", "{a:#}");
    assert_eq!(a["event"]["time"], "2017-12-11T15:05:00Z");
    assert_eq!(a["event"]["time_source"], "file_name");

    let plain = e.path("events.jsonl");
    std::fs::write(&plain, &line).unwrap();
    let runs: Vec<Value> = (0..2)
        .map(|_| {
            let out = e.replay(&[], &[&plain]);
            assert!(out.status.success(), "{}", stderr(&out));
            alerts(&out).remove(0)
        })
        .collect();
    assert_eq!(runs[0], runs[1], "two replays of the same file agree");
    assert_eq!(runs[0]["event"]["time_source"], "file_modified");

    // A record with its own time says nothing extra (the schema only grows).
    let timed = e.path("timed.jsonl");
    std::fs::write(&timed, serde_json::to_string(&drift("t")).unwrap() + "\n").unwrap();
    let a = alerts(&e.replay(&[], &[&timed])).remove(0);
    assert!(a["event"].get("time_source").is_none(), "{a:#}");
}

/// Point 10: a gzip bomb (1 GiB of one line from ~1 MB) is cut, counted and named with memory
/// bounded; the file after it is still read. It used to grow RSS past the whole expansion.
#[test]
fn gzip_bomb_is_cut_with_bounded_memory() {
    let e = env();
    let logs = e.path("logs");
    std::fs::create_dir(&logs).unwrap();
    // Gzip members concatenate: one 32 MiB member of zeros, repeated, decompresses to 1 GiB.
    let member = gzip(&vec![b'0'; 32 << 20]);
    let mut bomb = std::fs::File::create(logs.join("a-bomb.json.gz")).unwrap();
    for _ in 0..32 {
        bomb.write_all(&member).unwrap();
    }
    drop(bomb);
    std::fs::write(
        logs.join("b.jsonl"),
        serde_json::to_string(&drift("after-bomb")).unwrap() + "\n",
    )
    .unwrap();
    let stats_path = e.path("stats.json");
    let (out, peak) = e.replay_measured(&["--stats-json", stats_path.to_str().unwrap()], &[&logs]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(event_ids(&alerts(&out)), ["after-bomb"]);
    let s = stats(&stats_path);
    assert_eq!(s["inputs_cut"]["expansion_ratio"], 1, "{s:#}");
    assert!(
        s["input_examples"][0]["origin"]
            .as_str()
            .unwrap()
            .ends_with("a-bomb.json.gz"),
        "{s:#}"
    );
    assert!(
        peak > 0 && peak < 300 << 20,
        "peak RSS {} MiB (the bomb expands to 1024 MiB)",
        peak >> 20
    );
}

/// Points 7 and 10 on the daemon's `inputs:` path: a truncated gzip keeps its complete records,
/// a bomb is cut with memory bounded, each cut logged with the file and counted.
#[test]
fn daemon_inputs_keep_what_precedes_a_cut_and_bound_a_bomb() {
    let e = env();
    let member = gzip(&vec![b'0'; 32 << 20]);
    let mut bomb = std::fs::File::create(e.path("bomb.json.gz")).unwrap();
    for _ in 0..32 {
        bomb.write_all(&member).unwrap();
    }
    drop(bomb);
    let records: Vec<Value> = (0..200).map(|i| drift(&format!("a-{i:03}"))).collect();
    let mut gz = gzip(&serde_json::to_vec(&json!({ "Records": records })).unwrap());
    gz.truncate(gz.len() / 2);
    std::fs::write(e.path("trunc.json.gz"), &gz).unwrap();
    std::fs::write(
        e.path("good.jsonl"),
        serde_json::to_string(&drift("good")).unwrap() + "\n",
    )
    .unwrap();
    // Point 9 on this path too: a record without a time takes its file name's.
    let mut no_time = drift("no-time");
    no_time.as_object_mut().unwrap().remove("eventTime");
    std::fs::write(
        e.path("1_CloudTrail_us-east-1_20171211T1505Z_x.json"),
        serde_json::to_string(&no_time).unwrap(),
    )
    .unwrap();
    let cfg = e.path("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:\n  d:\n    state: [\"{}\"]\n    rules: []\n    inputs: [\"bomb.json.gz\", \"trunc.json.gz\", \"good.jsonl\", \"1_CloudTrail_us-east-1_20171211T1505Z_x.json\"]\n",
            e.state.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["tui", "--config"])
        .arg(&cfg)
        .args(["--profile", "d", "--no-ui", "--once"])
        .env("HOME", e.dir.path())
        .env_remove("TFDRIFT_CONFIG")
        .current_dir(e.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (out, peak) = run_measured(cmd, "tfdrift tui --no-ui --once");
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = event_ids(&alerts(&out));
    let from_trunc = ids.iter().filter(|i| i.starts_with("a-")).count();
    assert!(
        from_trunc > 20 && from_trunc < 200,
        "{from_trunc} records before the cut"
    );
    assert!(ids.iter().any(|i| i == "good"), "{ids:?}");
    let no_time = alerts(&out)
        .into_iter()
        .find(|a| a["event"]["id"] == "no-time")
        .expect("the record without a time alerts");
    assert_eq!(no_time["event"]["time"], "2017-12-11T15:05:00Z");
    assert_eq!(no_time["event"]["time_source"], "file_name");
    let err = stderr(&out);
    assert!(
        err.contains("trunc.json.gz")
            && err.contains(&format!(
                "truncated_gzip: gzip stream ends early at compressed byte {}",
                gz.len()
            )),
        "{err}"
    );
    assert!(
        err.contains("bomb.json.gz") && err.contains("expansion_ratio"),
        "{err}"
    );
    assert!(
        peak > 0 && peak < 300 << 20,
        "peak RSS {} MiB (the bomb expands to 1024 MiB)",
        peak >> 20
    );
}

/// Point 7 on the S3 path (`replay s3://… --since`, the same fetch as the S3 backfill source): a
/// truncated log object keeps its complete records and is counted naming the object, instead
/// of failing the whole file (for SQS it was redelivered for ever).
#[test]
fn a_truncated_s3_log_object_keeps_its_complete_records() {
    const ACCOUNT: &str = "123456789012";
    let e = env();
    let moto = live_support::moto();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let prefix = format!("AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/27");
    let trunc_key = format!("{prefix}/{ACCOUNT}_CloudTrail_us-east-1_20261127T0905Z_trunc.json.gz");
    let good_key = format!("{prefix}/{ACCOUNT}_CloudTrail_us-east-1_20261127T0910Z_good.json.gz");
    let records: Vec<Value> = (0..200).map(|i| drift(&format!("a-{i:03}"))).collect();
    let mut trunc = gzip(&serde_json::to_vec(&json!({ "Records": records })).unwrap());
    trunc.truncate(trunc.len() / 2);
    let good = gzip(&serde_json::to_vec(&json!({ "Records": [drift("good")] })).unwrap());
    rt.block_on(async {
        let sdk = live_support::sdk(&moto.url).await;
        let s3 = tfdrift::collect::s3_client(&sdk);
        s3.create_bucket().bucket("trail").send().await.unwrap();
        for (key, body) in [(&trunc_key, trunc.clone()), (&good_key, good)] {
            s3.put_object()
                .bucket("trail")
                .key(key)
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
    });
    let stats_path = e.path("stats.json");
    let mut cmd = e.command(
        &[
            "--since",
            "2026-11-27T00:00:00Z",
            "--until",
            "2026-11-28T00:00:00Z",
            "--endpoint-url",
            &moto.url,
            "--region",
            "us-east-1",
            "--stats-json",
            stats_path.to_str().unwrap(),
        ],
        &[Path::new("s3://trail/")],
    );
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    let (out, _) = run_measured(cmd, "tfdrift replay s3://trail/");
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = event_ids(&alerts(&out));
    let from_trunc = ids.iter().filter(|i| i.starts_with("a-")).count();
    assert!(
        from_trunc > 20 && from_trunc < 200,
        "{from_trunc} records before the cut"
    );
    assert!(ids.iter().any(|i| i == "good"), "{ids:?}");
    let s = stats(&stats_path);
    let ex = s["unparseable_examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["reason"].as_str().unwrap().starts_with("truncated_gzip"))
        .unwrap_or_else(|| panic!("the cut is counted: {s:#}"));
    assert_eq!(ex["origin"], format!("s3://trail/{trunc_key}"));
    assert!(
        ex["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("compressed byte {}", trunc.len())),
        "{ex}"
    );
}

/// Point 11: symlink loops end, a self-link is not read 41 times, FIFOs in an input folder are
/// skipped and counted, a FIFO as a rule file is an error, not a hang.
#[test]
fn symlink_loops_and_fifos_are_skipped_and_counted() {
    let e = env();
    let logs = e.path("logs");
    let sub = logs.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(
        logs.join("a.json"),
        serde_json::to_string(&drift("once")).unwrap() + "\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(".", logs.join("self")).unwrap();
    std::os::unix::fs::symlink("..", sub.join("up")).unwrap();
    std::os::unix::fs::symlink("../sub", sub.join("again")).unwrap();
    std::os::unix::fs::symlink("loop.json", logs.join("loop.json")).unwrap();
    mkfifo(&logs.join("pipe.json"));
    let stats_path = e.path("stats.json");
    let out = e.replay(&["--stats-json", stats_path.to_str().unwrap()], &[&logs]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        event_ids(&alerts(&out)),
        ["once"],
        "every file is read once"
    );
    let s = stats(&stats_path);
    assert_eq!(s["inputs_unread"]["not_regular_file"], 1, "{s:#}");
    assert_eq!(s["inputs_unread"]["already_read"], 3, "{s:#}");
    assert_eq!(s["inputs_unread"]["unreadable"], 1, "{s:#}");
    let err = stderr(&out);
    assert!(err.contains("pipe.json: is a FIFO"), "{err}");

    let rule_fifo = e.path("rules.yaml");
    mkfifo(&rule_fifo);
    let out = e.replay(
        &["--rules", rule_fifo.to_str().unwrap()],
        &[&logs.join("a.json")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("rules.yaml") && err.contains("FIFO"), "{err}");
}

/// Point 13: counters keyed by event name keep at most a fixed number of short keys (the rest
/// count as "(other)"), so 100 unique 900 KB names (90 MB) do not stay in memory; names are
/// printed with control characters escaped.
#[test]
fn unique_event_names_are_capped_and_printed_escaped() {
    let e = env();
    let input = e.path("names.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    let huge = "x".repeat(900_000);
    for i in 0..2000 {
        let mut rec = drift(&format!("n-{i}"));
        let filler = if i < 100 { huge.as_str() } else { "y" };
        rec["eventName"] = json!(format!("Zap\u{1b}[31m\n{i}{filler}"));
        writeln!(f, "{}", serde_json::to_string(&rec).unwrap()).unwrap();
    }
    drop(f);
    let stats_path = e.path("stats.json");
    let (out, peak) = e.replay_measured(&["--stats-json", stats_path.to_str().unwrap()], &[&input]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::metadata(&stats_path).unwrap().len() < 1 << 20,
        "the stats stay small"
    );
    let s = stats(&stats_path);
    assert_eq!(s["unsupported"], 2000);
    let names = s["unsupported_by_name"].as_object().unwrap();
    assert!(names.len() <= 501, "{} distinct keys kept", names.len());
    assert!(names.keys().all(|k| k.chars().count() <= 200));
    assert!(names["(other)"].as_u64().unwrap() >= 1499);
    assert!(
        peak > 0 && peak < 80 << 20,
        "peak RSS {} MiB (the names alone are 90 MB)",
        peak >> 20
    );
    let err = stderr(&out);
    let summary = &err[err.find("top unsupported").expect(&err)..];
    let first = summary.lines().next().unwrap();
    assert!(
        !first.contains('\u{1b}') && first.contains(r"\u{1b}[31m\n"),
        "{first}"
    );
}

/// Point 14 (part): a bad `--stats-json` path is reported before any input is read (here a FIFO
/// without a writer, which would block for ever), and a stats write failure at the end does not
/// replace `--fail-on-drift`'s exit 2.
#[test]
fn stats_json_is_checked_first_and_never_masks_drift() {
    let e = env();
    let fifo = e.path("stdin-like");
    mkfifo(&fifo);
    let bad = e.path("missing-dir/stats.json");
    let out = e.replay(&["--stats-json", bad.to_str().unwrap()], &[&fifo]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--stats-json") && err.contains("missing-dir"),
        "{err}"
    );

    let input = e.path("events.jsonl");
    std::fs::write(&input, serde_json::to_string(&drift("d")).unwrap() + "\n").unwrap();
    let out = e.replay(&["--fail-on-drift", "--stats-json", "/dev/full"], &[&input]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("writing --stats-json /dev/full"),
        "{}",
        stderr(&out)
    );
    assert_eq!(alerts(&out).len(), 1);
}
