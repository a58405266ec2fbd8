//! CloudTrail over SQS, end to end against moto: real corpus log files (invictus-ir, records
//! copied with tagged event ids) gzipped in a bucket, notifications on a queue, the live
//! pipeline (SQS source, engine, on-disk store) run until every record is processed and every
//! message deleted. Each case reports records/s as the median of several runs, next to its
//! in-run baselines: the same receive + get + gunzip + delete of the same messages done with
//! the SDK alone, one message after another and with 8 consumers (what moto serves a plain
//! client).
//!
//! - `corpus`: the corpus's files as they are (~53 records each), one S3 notification per file.
//! - `busy`: a busy account's files (500 records each, built from the corpus's records),
//!   one CloudTrail notification per file: moto's per-file cost amortises.
//! - `busy_multikey`: the same files announced by CloudTrail's own SNS notification, four
//!   `s3ObjectKey`s per message (the source fetches them in parallel).
//!
//! `cargo bench --bench live_sqs [CASE]` measures (a case is chosen by a substring of its
//! name); without `--bench` (as `cargo test --all-targets` runs it) it does one small smoke run
//! per case and checks that every record came through.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    missing_docs
)]

#[path = "../tests/live_support/mod.rs"]
mod live_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use live_support::cloudtrail::{self, LogFile, fill_queue, queue_depth};
use tfdrift::catalog::Catalog;
use tfdrift::collect::SourceSpec;
use tfdrift::collect::sqs::{SqsSettings, Work, sniff};
use tfdrift::pipeline::{PipelineConfig, spawn};
use tfdrift::state::StateIndex;

/// Keys per message in the `busy_multikey` case.
const KEYS_PER_MESSAGE: usize = 4;

/// One case: the log files it uploads and the message bodies that announce them.
struct Case {
    name: &'static str,
    files: Vec<LogFile>,
    bodies: Vec<String>,
    /// The engine records alerts in an on-disk store (one transaction per alerting event).
    store: bool,
}

impl Case {
    fn records(&self) -> usize {
        self.files.iter().map(|f| f.records.len()).sum()
    }
}

fn cases(full: bool) -> Vec<Case> {
    let corpus = if full {
        cloudtrail::corpus_files(4, usize::MAX)
    } else {
        cloudtrail::corpus_files(1, 6)
    };
    let busy = if full {
        cloudtrail::busy_files(48, 500)
    } else {
        cloudtrail::busy_files(4, 60)
    };
    let multi_bodies = busy
        .chunks(KEYS_PER_MESSAGE)
        .map(|c| {
            let keys: Vec<&str> = c.iter().map(|f| f.key.as_str()).collect();
            cloudtrail::sns(&cloudtrail::trail_notification(&keys))
        })
        .collect();
    vec![
        Case {
            name: "corpus",
            bodies: cloudtrail::one_key_each(&corpus),
            files: corpus,
            store: true,
        },
        Case {
            name: "busy",
            bodies: cloudtrail::one_key_each(&busy),
            files: busy.clone(),
            store: true,
        },
        Case {
            name: "busy_nostore",
            bodies: cloudtrail::one_key_each(&busy),
            files: busy.clone(),
            store: false,
        },
        Case {
            name: "busy_multikey",
            bodies: multi_bodies,
            files: busy,
            store: true,
        },
    ]
}

/// What a plain client does with one message: every key fetched, gunzipped, one after another.
async fn consume(s3: &aws_sdk_s3::Client, body: &str) {
    let Work::Objects(objects) = sniff(body) else {
        panic!("not a log file notification: {body}")
    };
    for (bucket, key) in objects {
        let obj = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = obj.body.collect().await.unwrap().into_bytes().to_vec();
        let json = tfdrift::input::maybe_gunzip(bytes).unwrap();
        assert!(json.starts_with(b"{"));
    }
}

/// The SDK alone with `workers` consumers at once (1: one message after another): receive,
/// get + gunzip every key, delete.
async fn baseline(
    sqs: &aws_sdk_sqs::Client,
    s3: &aws_sdk_s3::Client,
    url: &str,
    messages: usize,
    workers: usize,
) -> Duration {
    let start = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(std::sync::Mutex::new(None));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (sqs, s3, url) = (sqs.clone(), s3.clone(), url.to_string());
        let (done, finished) = (done.clone(), finished.clone());
        set.spawn(async move {
            while done.load(Ordering::SeqCst) < messages {
                // Long polling, as a real consumer does (an idle one must not spin on moto).
                let out = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                for m in out.messages() {
                    consume(&s3, m.body().unwrap()).await;
                    sqs.delete_message()
                        .queue_url(&url)
                        .receipt_handle(m.receipt_handle().unwrap())
                        .send()
                        .await
                        .unwrap();
                    if done.fetch_add(1, Ordering::SeqCst) + 1 == messages {
                        *finished.lock().unwrap() = Some(start.elapsed());
                    }
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    finished
        .lock()
        .unwrap()
        .take()
        .expect("every message consumed")
}

/// The live pipeline until every record is parsed and the queue is empty: the time and the
/// alerts raised.
async fn pipeline(
    sdk: &aws_config::SdkConfig,
    endpoint: &str,
    url: &str,
    records: u64,
    with_store: bool,
) -> (Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let store = with_store.then(|| {
        Arc::new(tfdrift::store::open(&dir.path().join("store.db")).unwrap())
            as Arc<dyn tfdrift::store::Store>
    });
    let cfg = PipelineConfig {
        sources: vec![SourceSpec::Sqs(SqsSettings {
            queue_url: url.to_string(),
            region: "us-east-1".into(),
            endpoint_url: Some(endpoint.to_string()),
            wait_time_seconds: 1,
            visibility_timeout_seconds: 60,
            max_receives: 5,
        })],
        store,
        aws: Some(sdk.clone()),
        ..PipelineConfig::default()
    };
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let start = Instant::now();
    let mut handle = spawn(
        Arc::new(Catalog::embedded().unwrap()),
        Arc::new(StateIndex::new(Vec::new())),
        &cfg,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_mins(5);
    let elapsed = loop {
        while handle.alerts.try_recv().is_ok() {}
        let parsed = handle.stats.borrow().parsed;
        if parsed >= records && queue_depth(&sqs, url).await == (0, 0) {
            break start.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "the pipeline did not drain the queue: {parsed} of {records} records"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    handle.cancel();
    while handle.alerts.recv().await.is_some() {}
    handle.join().await;
    let stats = handle.stats.borrow().clone();
    assert_eq!(stats.parsed, records, "every record exactly once");
    assert_eq!(stats.duplicates, 0, "{stats:?}");
    (elapsed, stats.alerts)
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

/// Runs one case `runs` times; prints each run and the medians.
async fn run_case(case: &Case, runs: usize, sdk: &aws_config::SdkConfig, endpoint: &str) {
    let s3 = tfdrift::collect::s3_client(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    cloudtrail::upload(&s3, &case.files).await;
    let (records, messages) = (case.records(), case.bodies.len());
    let name = case.name;
    println!(
        "{name}: {} files, {messages} messages, {records} CloudTrail records per run, {runs} runs",
        case.files.len()
    );
    let rate = |t: Duration| records as f64 / t.as_secs_f64();
    let (mut seq, mut conc, mut live) = (Vec::new(), Vec::new(), Vec::new());
    let mut alerts = 0;
    for run in 0..runs {
        let url = fill_queue(&sqs, &format!("{name}-seq-{run}"), &case.bodies).await;
        seq.push(rate(baseline(&sqs, &s3, &url, messages, 1).await));
        let url = fill_queue(&sqs, &format!("{name}-conc-{run}"), &case.bodies).await;
        conc.push(rate(baseline(&sqs, &s3, &url, messages, 8).await));
        let url = fill_queue(&sqs, &format!("{name}-live-{run}"), &case.bodies).await;
        let (t, a) = pipeline(sdk, endpoint, &url, records as u64, case.store).await;
        live.push(rate(t));
        alerts = a;
        println!(
            "  run {run}: pipeline {:.0} rec/s; SDK alone: sequential {:.0} rec/s, 8 consumers {:.0} rec/s (load {})",
            live[run],
            seq[run],
            conc[run],
            load()
        );
    }
    let store = if case.store {
        "on-disk store"
    } else {
        "no store"
    };
    println!(
        "{name} median: pipeline {:.0} records/s (end to end, messages deleted; {alerts} alerts, {store}); SDK alone: sequential {:.0} records/s, 8 consumers {:.0} records/s (load {})",
        median(live),
        median(seq),
        median(conc),
        load()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let filter: Option<String> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .filter(|_| full);
    let runs = if full { 5 } else { 1 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let moto = live_support::moto();
        let sdk = live_support::sdk(&moto.url).await;
        tfdrift::collect::s3_client(&sdk)
            .create_bucket()
            .bucket(cloudtrail::BUCKET)
            .send()
            .await
            .unwrap();
        let cases = cases(full);
        // A case's exact name selects it alone; otherwise every case whose name contains it.
        let exact = cases.iter().any(|c| filter.as_deref() == Some(c.name));
        for case in &cases {
            let wanted = filter
                .as_deref()
                .is_none_or(|f| case.name == f || (!exact && case.name.contains(f)));
            if wanted {
                run_case(case, runs, &sdk, &moto.url).await;
            }
        }
    });
}
