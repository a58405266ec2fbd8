//! `tfdrift replay` end to end, as a user runs it: a big JSON-lines file of CloudTrail records
//! → the release binary → alerts on stdout (to a file), `--stats-json` written. Issue 19.
//!
//! The input is generated here from every CloudTrail record of the corpus (`tests/corpus`, or
//! `$TFDRIFT_CORPUS` when set), repeated with fresh event ids up to `REPLAY_E2E_RECORDS`
//! records (default 1,000,000), against a real corpus state. In the same run, over the same
//! lines held in memory, the baselines: a plain `serde_json::Value` parse of every line, a
//! simd-json borrowed-value parse, and a byte scan (each line split off and searched for
//! `"eventName"`), so the figures
//! read as ratios whatever the machine's load. Each case runs `REPLAY_E2E_RUNS` times (default
//! 5); medians are printed with `/proc/loadavg`.
//!
//! Cases: tfdrift `--threads 1`, tfdrift `--threads N` (N = available cores), tfdrift
//! `--full-parse` (the path before the prefilter: a full event for every record, one thread),
//! the first two on a gzip copy of the input against `zcat` (`REPLAY_E2E_GZIP=0` leaves them
//! out), and `REPLAY_E2E_OLD_BIN=/path/to/tfdrift` adds an older binary.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does one small smoke run.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use simd_json::prelude::TypedObjectValue as _;

const BIN: &str = env!("CARGO_BIN_EXE_tfdrift");

/// The corpus: `$TFDRIFT_CORPUS` when set, else the in-repository tier.
fn corpus() -> PathBuf {
    std::env::var_os("TFDRIFT_CORPUS")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"),
            PathBuf::from,
        )
}

/// The 130-resource state when the extended corpus is there, else the largest redistributable
/// one (as the `hot_path` bench).
fn state_path() -> PathBuf {
    let ext = corpus().join("tfstate/isagues__terraform-demo/terraform.tfstate");
    if ext.exists() {
        ext
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
            "tests/corpus/tfstate/bufbuild__terraform-modules-bufstream/aws/terraform.tfstate",
        )
    }
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("corpus directory") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Every CloudTrail record in `v` (log files, EventBridge envelopes, arrays, bare records).
fn records(v: Value, out: &mut Vec<serde_json::Map<String, Value>>) {
    match v {
        Value::Array(items) => items.into_iter().for_each(|i| records(i, out)),
        Value::Object(mut m) => {
            if let Some(r) = m.remove("Records") {
                records(r, out);
            } else if let Some(d) = m.remove("detail") {
                records(d, out);
            } else if m.contains_key("eventName") {
                out.push(m);
            }
        }
        _ => {}
    }
}

/// The corpus's CloudTrail records (gzip copies of plain files left out), in a stable order.
fn corpus_records() -> Vec<serde_json::Map<String, Value>> {
    let mut paths = Vec::new();
    files(&corpus().join("cloudtrail"), &mut paths);
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        if p.extension().is_some_and(|e| e == "gz") {
            continue;
        }
        let bytes = std::fs::read(&p).expect("read corpus file");
        tfdrift::input::split_documents(&bytes, |doc| {
            if let tfdrift::input::Document::Json(raw, _) = doc
                && let Ok(v) = serde_json::from_str::<Value>(raw.get())
            {
                records(v, &mut out);
            }
        });
    }
    out
}

/// Writes `n` records (the corpus's, repeated, each copy with fresh event ids) as JSON lines.
fn generate(path: &Path, n: usize) -> (Vec<u8>, usize) {
    let recs = corpus_records();
    assert!(!recs.is_empty(), "no CloudTrail records in the corpus");
    let mut lines = Vec::with_capacity(n * 1300);
    let mut count = 0;
    'outer: for rep in 0usize.. {
        for r in &recs {
            if count == n {
                break 'outer;
            }
            let mut r = r.clone();
            let id = r
                .get("eventID")
                .and_then(Value::as_str)
                .unwrap_or("noid")
                .to_string();
            r.insert("eventID".into(), Value::String(format!("{id}-{rep:06}")));
            serde_json::to_writer(&mut lines, &r).expect("serialise");
            lines.push(b'\n');
            count += 1;
        }
    }
    std::fs::write(path, &lines).expect("write the input");
    (lines, recs.len())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// One run of a baseline over the in-memory lines: the elapsed time.
fn baseline(name: &str, buf: &[u8], n: usize) -> Duration {
    let t = Instant::now();
    let count = match name {
        "serde_json::Value" => lines(buf)
            .map(|l| {
                let v: Value = serde_json::from_slice(l).expect("json");
                usize::from(v.is_object())
            })
            .sum::<usize>(),
        "simd-json borrowed" => {
            let mut scratch = Vec::new();
            let mut buffers = simd_json::Buffers::default();
            lines(buf)
                .map(|l| {
                    scratch.clear();
                    scratch.extend_from_slice(l);
                    let v = simd_json::value::borrowed::to_value_with_buffers(
                        &mut scratch,
                        &mut buffers,
                    )
                    .expect("json");
                    usize::from(v.is_object())
                })
                .sum::<usize>()
        }
        "byte scan" => {
            let finder = memchr::memmem::Finder::new(b"\"eventName\"");
            lines(buf).filter(|l| finder.find(l).is_some()).count()
        }
        other => unreachable!("{other}"),
    };
    let elapsed = t.elapsed();
    assert_eq!(count, n, "{name} saw every record");
    elapsed
}

/// What a run wrote: the alerts (stdout) and the stats.
type Output = (Vec<u8>, Value);

/// One run of `tfdrift replay` on `input`: the elapsed time and what it wrote; checks that the
/// stats count every record.
fn tfdrift(
    bin: &str,
    input: &Path,
    threads: Option<&str>,
    dir: &Path,
    n: usize,
) -> (Duration, Output) {
    let out = std::fs::File::create(dir.join("alerts.jsonl")).unwrap();
    let stats = dir.join("stats.json");
    let mut cmd = Command::new(bin);
    cmd.arg("replay")
        .arg("--state")
        .arg(state_path())
        .arg("--stats-json")
        .arg(&stats);
    match threads {
        Some("full") => {
            cmd.arg("--full-parse");
        }
        Some(t) => {
            cmd.arg("--threads").arg(t);
        }
        None => {}
    }
    cmd.arg(input)
        .env("HOME", dir)
        .env("RUST_LOG", "error")
        .env_remove("TFDRIFT_CONFIG")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped());
    let t = Instant::now();
    let output = cmd.output().expect("run tfdrift");
    let elapsed = t.elapsed();
    assert!(
        output.status.success(),
        "tfdrift replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stats: Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(stats["records_read"], n as u64, "{stats}");
    let alerts = std::fs::read(dir.join("alerts.jsonl")).unwrap();
    (elapsed, (alerts, stats))
}

/// Every case over the same input must write the same alerts, byte for byte, and the same
/// stats (one thread or N, the fast path or the full one, plain or gzip): the first run of an
/// input is the reference.
fn same_output(
    reference: &mut Vec<(PathBuf, Output)>,
    input: &Path,
    case: &str,
    (t, out): (Duration, Output),
) -> Duration {
    match reference.iter().find(|(p, _)| p == input) {
        Some((_, first)) => {
            assert!(
                first.0 == out.0,
                "{case}: alerts differ from the first case's over {} ({} vs {} bytes)",
                input.display(),
                out.0.len(),
                first.0.len()
            );
            assert_eq!(
                first.1,
                out.1,
                "{case}: stats differ over {}",
                input.display()
            );
        }
        None => reference.push((input.to_path_buf(), out)),
    }
    t
}

/// One run of `zcat input > /dev/null`.
fn zcat(input: &Path) -> Duration {
    let t = Instant::now();
    let status = Command::new("zcat")
        .arg(input)
        .stdout(Stdio::null())
        .status()
        .expect("zcat (gzip) must be installed: apt-get install gzip");
    assert!(status.success());
    t.elapsed()
}

struct Case {
    name: String,
    rates: Vec<f64>,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env_num = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env_num("REPLAY_E2E_RECORDS", if full { 1_000_000 } else { 5_000 });
    let runs = env_num("REPLAY_E2E_RUNS", if full { 5 } else { 1 }).max(1);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let gzip = std::env::var("REPLAY_E2E_GZIP").map_or(true, |v| v != "0");
    let old_bin = std::env::var("REPLAY_E2E_OLD_BIN")
        .ok()
        .filter(|v| !v.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.jsonl");
    let (buf, distinct) = generate(&input, n);
    let mb = buf.len() as f64 / 1e6;
    println!(
        "replay_e2e: {n} records ({distinct} distinct corpus records, repeated with fresh ids), \
         {mb:.0} MB of JSON lines; state {}; {cores} cores; {runs} runs per case",
        state_path().display()
    );
    let gz_input = dir.path().join("big.jsonl.gz");
    if gzip {
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz_input).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(&buf).unwrap();
        enc.finish().unwrap();
    }

    let rate = |t: Duration| n as f64 / t.as_secs_f64();
    let mut cases: Vec<Case> = Vec::new();
    let mut add = |name: &str, r: f64| {
        if let Some(c) = cases.iter_mut().find(|c| c.name == name) {
            c.rates.push(r);
        } else {
            cases.push(Case {
                name: name.to_string(),
                rates: vec![r],
            });
        }
    };
    let mut reference: Vec<(PathBuf, Output)> = Vec::new();
    let mut run_case = |name: &str, bin: &str, input: &Path, threads: Option<&str>| {
        same_output(
            &mut reference,
            input,
            name,
            tfdrift(bin, input, threads, dir.path(), n),
        )
    };
    for run in 0..runs {
        for b in ["serde_json::Value", "simd-json borrowed", "byte scan"] {
            add(b, rate(baseline(b, &buf, n)));
        }
        let name = "tfdrift --threads 1";
        add(name, rate(run_case(name, BIN, &input, Some("1"))));
        let name = format!("tfdrift --threads {cores}");
        add(
            &name,
            rate(run_case(&name, BIN, &input, Some(&cores.to_string()))),
        );
        let name = "tfdrift --full-parse (before)";
        add(name, rate(run_case(name, BIN, &input, Some("full"))));
        if let Some(old) = &old_bin {
            let name = "old binary (1 thread)";
            add(name, rate(run_case(name, old, &input, Some("1"))));
        }
        if gzip {
            add("zcat (gzip)", rate(zcat(&gz_input)));
            let name = "tfdrift --threads 1 (gzip)";
            add(name, rate(run_case(name, BIN, &gz_input, Some("1"))));
            let name = format!("tfdrift --threads {cores} (gzip)");
            add(
                &name,
                rate(run_case(&name, BIN, &gz_input, Some(&cores.to_string()))),
            );
        }
        println!("  run {run} done (load {})", load());
    }
    let med = |name: &str| {
        cases
            .iter()
            .find(|c| c.name == name)
            .map(|c| median(c.rates.clone()))
    };
    let value = med("serde_json::Value").unwrap();
    let simd = med("simd-json borrowed").unwrap();
    let bytes_per_record = buf.len() as f64 / n as f64;
    println!("medians of {runs} runs (load {}):", load());
    for c in &cases {
        let m = median(c.rates.clone());
        println!(
            "  {:<32} {:>10.0} records/s {:>7.1} MB/s   {:>5.2}x Value  {:>5.2}x simd-json   runs: {}",
            c.name,
            m,
            m * bytes_per_record / 1e6,
            m / value,
            m / simd,
            c.rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    if let (Some(one), Some(many)) = (
        med("tfdrift --threads 1"),
        med(&format!("tfdrift --threads {cores}")),
    ) {
        println!("  parallel speed-up: {:.2}x on {cores} cores", many / one);
    }
    if let (Some(z), Some(one), Some(many)) = (
        med("zcat (gzip)"),
        med("tfdrift --threads 1 (gzip)"),
        med(&format!("tfdrift --threads {cores} (gzip)")),
    ) {
        let gz_mb = std::fs::metadata(&gz_input).map_or(0.0, |m| m.len() as f64 / 1e6);
        let mbs = |r: f64| r * bytes_per_record / 1e6;
        println!(
            "  gzip ({gz_mb:.0} MB compressed, MB/s of JSON out): zcat {:.0} MB/s; tfdrift \
             --threads 1 {:.0} MB/s ({:.2}x zcat), --threads {cores} {:.0} MB/s ({:.2}x zcat)",
            mbs(z),
            mbs(one),
            one / z,
            mbs(many),
            many / z
        );
    }
}
