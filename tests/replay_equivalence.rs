//! The replay fast path (prefilter, chunks, threads) gives exactly what the full path gives
//! (issue 19): the same alerts in the same order, byte for byte, and the same stats, over the
//! whole corpus (the in-repository tier always, the extended tier when `TFDRIFT_CORPUS` is
//! set) and over generated hostile input, with one thread or several, in big or small chunks.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use tfdrift::catalog::Catalog;
use tfdrift::pipeline::replay::{ReplayOptions, replay_bytes_with, replay_paths_with};
use tfdrift::pipeline::{Engine, EngineOptions, Stats};

const BIN: &str = env!("CARGO_BIN_EXE_tfdrift");

/// The corpus roots to replay: the in-repository tier, and the extended one when set.
fn roots() -> Vec<PathBuf> {
    let mut roots = vec![common::corpus()];
    if let Some(ext) = common::extended(".") {
        roots.push(ext);
    }
    roots
}

/// Every state of a corpus root, as `--state` arguments.
fn states(root: &Path) -> Vec<String> {
    vec![root.join("tfstate").display().to_string()]
}

/// An engine over the embedded catalog and `states`, with a Terraform principal glob so that
/// the Terraform-originated path is exercised too.
fn engine(states: &[String]) -> Engine {
    let (index, _failures) = tfdrift::state::load_states(states);
    let opts = EngineOptions {
        terraform_principals: vec!["arn:aws:iam::*:user/terraform*".into()],
        ..EngineOptions::default()
    };
    Engine::new(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(index),
        &opts,
    )
    .unwrap()
}

/// Alerts as the JSON lines `tfdrift replay` prints, and the stats as JSON.
type Outcome = (Vec<String>, String);

fn outcome(stats: &Stats, alerts: Vec<String>) -> Outcome {
    (alerts, serde_json::to_string_pretty(stats).unwrap())
}

fn replay_paths(states: &[String], inputs: &[PathBuf], options: ReplayOptions) -> Outcome {
    let mut engine = engine(states);
    let mut stats = Stats::default();
    let mut alerts = Vec::new();
    replay_paths_with(&mut engine, inputs, options, &mut stats, &mut |a| {
        alerts.push(a.to_json_line());
    })
    .unwrap();
    outcome(&stats, alerts)
}

fn replay_bytes(states: &[String], bytes: &[u8], chunk: usize, options: ReplayOptions) -> Outcome {
    let mut engine = engine(states);
    let mut stats = Stats::default();
    let mut alerts = Vec::new();
    replay_bytes_with(
        &mut engine,
        "123456789012_CloudTrail_us-east-1_20240501T1200Z_x.json",
        bytes,
        chunk,
        options,
        &mut stats,
        &mut |a| alerts.push(a.to_json_line()),
    );
    outcome(&stats, alerts)
}

fn assert_same(what: &str, full: &Outcome, fast: &Outcome) {
    assert_eq!(
        full.1, fast.1,
        "{what}: stats differ between the full path and the fast path"
    );
    assert_eq!(full.0.len(), fast.0.len(), "{what}: alert counts differ");
    for (i, (a, b)) in full.0.iter().zip(&fast.0).enumerate() {
        assert_eq!(a, b, "{what}: alert {i} differs");
    }
}

const FULL: ReplayOptions = ReplayOptions {
    threads: 1,
    full_parse: true,
};

fn fast(threads: usize) -> ReplayOptions {
    ReplayOptions {
        threads,
        full_parse: false,
    }
}

#[test]
fn the_corpus_replays_the_same_through_every_path() {
    for root in roots() {
        let states = states(&root);
        let inputs = vec![root.join("cloudtrail"), root.join("gcpaudit")];
        let full = replay_paths(&states, &inputs, FULL);
        let what = root.display().to_string();
        assert!(
            full.0.len() > 10,
            "{what}: the corpus raises alerts ({})",
            full.0.len()
        );
        assert!(full.1.contains("\"read_only\""), "{}", full.1);
        for threads in [1, 3] {
            let fast = replay_paths(&states, &inputs, fast(threads));
            assert_same(&format!("{what}, {threads} threads"), &full, &fast);
        }
    }
}

/// Every CloudTrail record and GCP entry of the corpus, one per line (as JSON lines, which is
/// what the fast path is for), each document kept as it is.
fn corpus_lines(root: &Path) -> Vec<u8> {
    let mut files =
        tfdrift::input::expand_inputs(&[root.join("cloudtrail"), root.join("gcpaudit")]).unwrap();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let bytes = tfdrift::input::read_input(&f).unwrap();
        tfdrift::input::split_documents(&bytes, |doc| {
            if let tfdrift::input::Document::Json(raw, _) = doc {
                let v: serde_json::Value = match serde_json::from_str(raw.get()) {
                    Ok(v) => v,
                    Err(_) => return,
                };
                let records = v.get("Records").and_then(|r| r.as_array());
                match records {
                    Some(records) => {
                        for r in records {
                            out.extend_from_slice(serde_json::to_string(r).unwrap().as_bytes());
                            out.push(b'\n');
                        }
                    }
                    None => {
                        out.extend_from_slice(serde_json::to_string(&v).unwrap().as_bytes());
                        out.push(b'\n');
                    }
                }
            }
        });
    }
    out
}

/// Input that takes every branch of the prefilter and of the splitter: records whose fields
/// have unexpected types, payloads a `Value` parse refuses, ids too long, no ids, duplicates,
/// S3 notifications, envelopes, a pretty-printed log file, malformed and non-UTF-8 lines, two
/// values on a line, and a log file cut off at the end.
fn hostile() -> Vec<u8> {
    let mut s = String::new();
    // A record: `extra` adds to (never repeats) the common fields; `std` adds the usual rest.
    let rec = |extra: &str| {
        let std = !extra.contains("\"userIdentity\"") && !extra.contains("\"userAgent\"");
        let rest = if std {
            r#","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/u","accountId":"1"},"userAgent":"aws-cli/2""#
        } else {
            ""
        };
        let time = if extra.contains("\"eventTime\"") {
            ""
        } else {
            r#","eventTime":"2024-05-01T10:00:00Z""#
        };
        let region = if extra.contains("\"awsRegion\"") {
            ""
        } else {
            r#","awsRegion":"us-east-1""#
        };
        format!(
            r#"{{"eventVersion":"1.08","eventSource":"ec2.amazonaws.com","sourceIPAddress":"1.2.3.4"{rest}{time}{region}{extra}}}"#
        )
    };
    let mut lines = vec![
        rec(r#","eventName":"DescribeInstances","readOnly":true,"eventID":"a1""#),
        rec(r#","eventName":"DescribeInstances","readOnly":true,"eventID":"a1""#),
        rec(r#","eventName":"RunInstances","errorCode":"AccessDenied","eventID":"a2""#),
        rec(r#","eventName":"RunInstances","errorCode":"","readOnly":false,"eventID":"a3""#),
        rec(r#","eventName":"GetObject","eventID":"a4","requestParameters":{"n":1e999}"#),
        rec(r#","eventName":"PutObject","readOnly":false,"eventID":"a5","requestParameters":{"s":"\ud800"}"#),
        rec(r#","eventName":"PutObject","readOnly":false,"eventID":"a6","requestParameters":{"bucketName":"b"}"#),
        rec(r#","eventName":"ListBuckets","eventID":"a7""#),
        rec(r#","eventName":"ListBuckets","readOnly":"true","requestID":"r8""#),
        rec(r#","eventName":"ListBuckets","readOnly":true"#),
        rec(r#","eventName":"ListBuckets","readOnly":true,"recipientAccountId":{"x":1},"eventID":"a9""#),
        rec(r#","eventName":"ListBuckets","readOnly":true,"eventID":"a10","awsRegion":"x","awsRegion":"dup""#),
        rec(r#","eventName":"Decrypt","eventCategory":"Data","eventID":"a11""#),
        rec(r#","eventName":"ConsoleLogin","eventType":"AwsConsoleSignIn","eventID":"a12""#),
        rec(&format!(
            r#","eventName":"DescribeVpcs","readOnly":true,"eventID":"{}""#,
            "x".repeat(300)
        )),
        rec(r#","eventName":"DescribeVpcs","readOnly":true,"eventID":"a13","eventTime":"yesterday""#),
        rec(r#","eventName":"AuthorizeSecurityGroupIngress","readOnly":false,"eventID":"a14","requestParameters":{"groupId":"sg-0123456789abcdef0"}"#),
        rec(r#","eventName":"AuthorizeSecurityGroupIngress","readOnly":false,"eventID":"a15","userAgent":"Terraform/1.5.7","requestParameters":{"groupId":"sg-0123456789abcdef0"}"#),
        rec(r#","eventName":"DescribeVpcs","readOnly":true,"eventID":"a16","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":[1],"attributes":{"mfaAuthenticated":"true"}}}"#),
        rec(r#","eventName":"DescribeVpcs","readOnly":true,"eventID":"a17","userIdentity":"root""#),
        rec(r#","eventName":"DescribeVpcs","readOnly":true,"eventID":"a\u0031\n8""#),
        rec(r#","eventName":{"n":1},"eventID":"a19""#),
        r#"{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put"},{"eventName":"DescribeVpcs","readOnly":true,"eventID":"b1"},[1,2],{"eventName":"Decrypt","eventID":"b2","eventSource":"kms.amazonaws.com"}]}"#.to_string(),
        r#"{"Records":"no"}"#.to_string(),
        r#"{"detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"DescribeVpcs","readOnly":true,"eventID":"c1"}}"#.to_string(),
        r#"{"eventName":"DescribeVpcs","eventName":"Dup","eventID":"c2"}"#.to_string(),
        r#"[{"eventName":"DescribeVpcs","readOnly":true,"eventID":"c3"}]"#.to_string(),
        r#"{"eventName":"DescribeVpcs","readOnly":true,"eventID":"c4"} {"eventName":"Decrypt","eventID":"c5"}"#.to_string(),
        r#"  {"eventName":"DescribeVpcs","readOnly":true,"eventID":"c6"}  "#.to_string(),
        "{\"eventName\":\"DescribeVpcs\",\"readOnly\":true,\"eventID\":\"c7\"}\r".to_string(),
        r#"{"eventName":"DescribeVpcs","readOnly":true,"eventID":"c8""#.to_string(),
        "not json at all".to_string(),
        "{\"Records\": [\n{\"eventName\":\"DescribeVpcs\",\"readOnly\":true,\"eventID\":\"d1\"},\n{\"eventName\":\"CreateVpc\",\"eventID\":\"d2\",\"eventSource\":\"ec2.amazonaws.com\"}\n]}".to_string(),
        r#"{"protoPayload":{"methodName":"v1.compute.firewalls.patch","resourceName":"projects/p/global/firewalls/f"},"insertId":"g1","logName":"projects/p/logs/cloudaudit.googleapis.com%2Factivity"}"#.to_string(),
        r#"{"output_fields":{"ct.name":"DescribeVpcs"},"source":"aws_cloudtrail","rule":"r"}"#.to_string(),
        "12".to_string(),
        "{\"eventName\":\"DescribeVpcs\",\"readOnly\":true,\"eventID\":\"e1\"}\u{c}".to_string(),
    ];
    // A deep payload on a data-plane call that needs it parsed.
    let deep = format!("{}1{}", "[".repeat(150), "]".repeat(150));
    lines.push(rec(&format!(
        r#","eventName":"PutObject","readOnly":false,"eventID":"a20","requestParameters":{{"d":{deep}}}"#
    )));
    for l in &lines {
        let _ = writeln!(s, "{l}");
    }
    let mut bytes = s.into_bytes();
    bytes.extend_from_slice(b"{\"eventName\":\"DescribeVpcs\",\"x\":\"\xff\"}\n");
    bytes.extend_from_slice(
        b"{\"Records\":[{\"eventName\":\"DescribeVpcs\",\"readOnly\":true,\"eventID\":\"z1\"},{\"eventName\":\"Creat",
    );
    bytes
}

#[test]
fn json_lines_replay_the_same_in_any_chunks_and_threads() {
    for root in roots() {
        let states = states(&root);
        let mut bytes = corpus_lines(&root);
        // Twice: the second copy is all duplicates.
        bytes.extend_from_slice(&bytes.clone());
        bytes.extend_from_slice(&hostile());
        let what = root.display().to_string();
        let full = replay_bytes(&states, &bytes, 8 << 20, FULL);
        assert!(full.0.len() > 10, "{what}: alerts {}", full.0.len());
        for (chunk, threads) in [(8 << 20, 1), (8 << 20, 2), (4096, 1), (777, 3)] {
            let full_chunked = replay_bytes(&states, &bytes, chunk, FULL);
            let fast = replay_bytes(&states, &bytes, chunk, fast(threads));
            assert_same(
                &format!("{what}: chunks of {chunk} bytes, {threads} threads"),
                &full_chunked,
                &fast,
            );
        }
    }
}

#[test]
fn hostile_lines_are_counted_the_same_and_keep_their_notes() {
    let states = states(&common::corpus());
    let bytes = hostile();
    let full = replay_bytes(&states, &bytes, 8 << 20, FULL);
    let fast = replay_bytes(&states, &bytes, 8 << 20, fast(1));
    assert_same("hostile lines", &full, &fast);
    // The input reaches the branches it was written for.
    let stats: serde_json::Value = serde_json::from_str(&fast.1).unwrap();
    for counter in [
        "duplicates",
        "failed_calls",
        "read_only",
        "data_plane",
        "terraform_originated",
        "unparseable",
    ] {
        assert!(stats[counter].as_u64().unwrap() > 0, "{counter}: {stats}");
    }
    let unreadable = stats["unreadable_fields"].as_object().unwrap();
    for field in [
        "requestParameters.n",
        "recipientAccountId",
        "eventTime",
        "userIdentity",
    ] {
        assert!(
            unreadable.keys().any(|k| k.starts_with(field)),
            "{field}: {unreadable:?}"
        );
    }
}

/// The real binary, as a user runs it: stdout and `--stats-json` byte for byte.
fn run(args: &[&str], root: &Path, dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let stats = dir.join("stats.json");
    let out = Command::new(BIN)
        .arg("replay")
        .arg("--state")
        .arg(root.join("tfstate"))
        .arg("--stats-json")
        .arg(&stats)
        .args(args)
        .arg(root.join("cloudtrail"))
        .arg(root.join("gcpaudit"))
        .env("HOME", dir)
        .env("RUST_LOG", "error")
        .env_remove("TFDRIFT_CONFIG")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tfdrift replay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, std::fs::read(&stats).unwrap())
}

#[test]
fn the_binary_prints_the_same_bytes_with_any_threads() {
    let dir = tempfile::tempdir().unwrap();
    for root in roots() {
        let full = run(&["--full-parse"], &root, dir.path());
        assert!(!full.0.is_empty());
        for threads in ["1", "2", "5"] {
            let fast = run(&["--threads", threads], &root, dir.path());
            assert!(
                full.0 == fast.0,
                "{}: stdout differs with --threads {threads}",
                root.display()
            );
            assert_eq!(
                String::from_utf8_lossy(&full.1),
                String::from_utf8_lossy(&fast.1),
                "{}: stats differ with --threads {threads}",
                root.display()
            );
        }
    }
}
