//! Team mode under load, as a user runs it, in one run: the release `tfdrift serve` daemon
//! process (Falco HTTP source, on-disk store, the API on plaintext loopback), alerts POSTed at a
//! fixed rate, first with no watcher attached (the baseline), then the same load with N real
//! gRPC watchers (`WatchSession`, the client `tfdrift watch` and the monitor use) in this
//! process.
//!
//! Reports: alerts/s achieved per phase; event → watcher latency p50 / p99 / max over every
//! delivery (from just before the POST carrying the event to the watcher decoding its alert;
//! the send time travels in the event id, so no shared map skews it); the daemon's CPU (user
//! and system time from `/proc/PID/stat`): CPU seconds per phase for the same number of
//! alerts (each phase runs until the daemon is done with it) and the median of per-second
//! samples while the load runs, with the ratio with / without watchers; the machine's load
//! (`/proc/loadavg`) before and after each phase, since a shared machine skews everything; and
//! the verdict against the release targets (p99 < 50 ms, CPU overhead < 25%).
//!
//! `CARGO_TARGET_DIR=/work/release-target cargo bench --bench team_watch`: 50 watchers, 2,000
//! alerts/s, 30 s per phase (override with TEAM_WATCHERS, TEAM_RATE, TEAM_SECS). Without
//! `--bench` (as `cargo test --all-targets` runs it): a smoke run of 2 watchers, 50 alerts/s, 1 s.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tfdrift::api::client::{Client, ClientOptions, Update, WatchSession};
use tfdrift::api::proto::watch_event::Item;

const BIN: &str = env!("CARGO_BIN_EXE_tfdrift");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) the process used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn event(id: &str, n: u64) -> String {
    serde_json::json!({"hostname":"falco-0","output":"SG ingress changed",
      "output_fields":{"ct.error":null,"ct.id":id,"ct.name":"AuthorizeSecurityGroupIngress",
        "ct.region":"us-east-1","ct.src":"ec2.amazonaws.com","ct.user":"alice",
        "ct.request":format!("{{\"groupId\":\"sg-{:017x}\"}}", n % 1000),
        "evt.time":1_714_572_698_000_000_000_u64},
      "priority":"Notice","rule":"SG ingress changed","source":"aws_cloudtrail","tags":["aws"],
      "time":"2024-05-01T14:11:38.000000000Z"})
    .to_string()
}

/// The bench's clock origin: event ids carry their send time as microseconds since it.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The alert's `event.id`, found without parsing the whole line (the watchers must not be the
/// bottleneck of the measurement).
fn event_id(json: &str) -> &str {
    const KEY: &str = "\"event\":{\"id\":\"";
    json.find(KEY)
        .map(|i| &json[i + KEY.len()..])
        .and_then(|rest| rest.find('"').map(|j| &rest[..j]))
        .unwrap_or_default()
}

/// When the event was sent (`PREFIX-N-MICROS`), if the id is one of `prefix`'s.
fn sent_at(id: &str, prefix: &str) -> Option<Instant> {
    let rest = id.strip_prefix(prefix)?.strip_prefix('-')?;
    let micros: u64 = rest.rsplit('-').next()?.parse().ok()?;
    Some(origin() + Duration::from_micros(micros))
}

/// Runs [`load`] on its own thread and runtime, so the watchers cannot starve the load.
fn load_on_thread(falco: &str, prefix: &str, rate: u64, secs: u64) -> u64 {
    let (falco, prefix) = (falco.to_string(), prefix.to_string());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(load(&falco, &prefix, rate, secs))
    })
    .join()
    .unwrap()
}

/// Posts `rate` events a second for `secs` seconds (at most 100 requests a second); returns the
/// count.
async fn load(falco: &str, prefix: &str, rate: u64, secs: u64) -> u64 {
    let client = reqwest::Client::new();
    // Up to 100 requests a second, each carrying rate / requests-per-second events.
    let per_sec = rate.clamp(1, 100);
    let per_tick = (rate / per_sec).max(1);
    let ticks = secs * per_sec;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_sec));
    let mut n = 0u64;
    for _ in 0..ticks {
        tick.tick().await;
        let mut body = String::new();
        let micros = origin().elapsed().as_micros();
        for _ in 0..per_tick {
            body.push_str(&event(&format!("{prefix}-{n}-{micros}"), n));
            body.push('\n');
            n += 1;
        }
        let r = client.post(falco).body(body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    n
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "?".into(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// One phase's daemon CPU: the total from the load's start until the daemon is done with it,
/// and one-second samples while the load runs.
struct Cpu {
    total: f64,
    samples: Vec<f64>,
}

/// Samples the daemon's CPU every second until `stop` is set.
fn sample_cpu(
    pid: u32,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<f64>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut last = (cpu_seconds(pid), Instant::now());
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_secs(1));
            let now = (cpu_seconds(pid), Instant::now());
            out.push((now.0 - last.0) / (now.1 - last.1).as_secs_f64());
            last = now;
        }
        out
    })
}

/// Waits until the daemon's change journal stops moving (it has recorded what was sent).
fn settle(rt: &tokio::runtime::Runtime, url: &str) {
    rt.block_on(async {
        let opts = ClientOptions {
            url: url.to_string(),
            token: None,
            ca_cert: None,
        };
        let mut c = Client::connect(&opts).await.unwrap();
        let (mut last, mut still) = (-1, 0);
        while still < 5 {
            let now = c.hello().await.unwrap().cursor;
            still = if now == last { still + 1 } else { 0 };
            last = now;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or_default()
}

#[allow(clippy::cast_precision_loss)]
fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (watchers, rate, secs) = if full {
        (
            env_or("TEAM_WATCHERS", 50),
            env_or("TEAM_RATE", 2000),
            env_or("TEAM_SECS", 30),
        )
    } else {
        (2, 50, 1)
    };
    let dir = tempfile::tempdir().unwrap();
    let (fport, aport) = (free_port(), free_port());
    let d = dir.path().display();
    let cfg = dir.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:\n  bench:\n    rules: []\n    sources: [{{type: falco_http, listen: \"127.0.0.1:{fport}\"}}]\n    store: {{path: \"{d}/store.db\"}}\n    api: {{listen: \"127.0.0.1:{aport}\"}}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--no-stdout", "--profile", "bench", "--config"])
        .arg(&cfg)
        .env("TFDRIFT_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "the daemon exited before serving"
        );
        if line.contains("Serving the team API") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let falco = format!("http://127.0.0.1:{fport}/");
    let url = format!("http://127.0.0.1:{aport}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _ = origin();
    let target = rate * secs;

    // Phase 1: the baseline, no watchers.
    let load0 = loadavg();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cpu0 = cpu_seconds(pid);
    let sampler = sample_cpu(pid, stop.clone());
    let t0 = Instant::now();
    let n1 = load_on_thread(&falco, "a", rate, secs);
    let rate1 = n1 as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    settle(&rt, &url);
    let base = Cpu {
        total: cpu_seconds(pid) - cpu0,
        samples: sampler.join().unwrap(),
    };
    let load1 = loadavg();

    // Phase 2: the same load with N watchers.
    let got: Arc<Vec<AtomicU64>> = Arc::new((0..watchers).map(|_| AtomicU64::new(0)).collect());
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let (lat_tx, lat_rx) = std::sync::mpsc::channel::<Vec<u32>>();
    let done = tokio_util::sync::CancellationToken::new();
    for w in 0..usize::try_from(watchers).unwrap() {
        let (url, got, ready, lat_tx, done) = (
            url.clone(),
            got.clone(),
            ready.clone(),
            lat_tx.clone(),
            done.clone(),
        );
        rt.spawn(async move {
            let opts = ClientOptions {
                url,
                token: None,
                ca_cert: None,
            };
            let mut s = WatchSession::new(opts, 0);
            let mut lat: Vec<u32> = Vec::new();
            loop {
                let update = tokio::select! {
                    () = done.cancelled() => break,
                    u = s.next() => u,
                };
                match update {
                    Update::Event(ev) => match ev.item {
                        Some(Item::Snapshot(_)) => ready.add_permits(1),
                        Some(Item::Alert(a)) => {
                            let now = Instant::now();
                            if let Some(t) = sent_at(event_id(&a.json), "b") {
                                lat.push(u32::try_from((now - t).as_micros()).unwrap_or(u32::MAX));
                                got[w].fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {}
                    },
                    Update::Reconnecting { retry_in, .. } => tokio::time::sleep(retry_in).await,
                    Update::Refused(e) => panic!("{e}"),
                    Update::Connected(_) => {}
                }
            }
            let _ = lat_tx.send(lat);
        });
    }
    drop(lat_tx);
    rt.block_on(async {
        let _ = ready
            .acquire_many(u32::try_from(watchers).unwrap())
            .await
            .unwrap();
    });
    let load2 = loadavg();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cpu0 = cpu_seconds(pid);
    let sampler = sample_cpu(pid, stop.clone());
    let t0 = Instant::now();
    let n2 = load_on_thread(&falco, "b", rate, secs);
    let rate2 = n2 as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(60 + secs * 2);
    while got.iter().any(|g| g.load(Ordering::Relaxed) < n2) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    settle(&rt, &url);
    let with = Cpu {
        total: cpu_seconds(pid) - cpu0,
        samples: sampler.join().unwrap(),
    };
    let load3 = loadavg();
    done.cancel();
    let mut l: Vec<u32> = lat_rx.iter().flatten().collect();
    l.sort_unstable();
    let delivered: u64 = got.iter().map(|g| g.load(Ordering::Relaxed)).sum();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        delivered,
        n2 * watchers,
        "every watcher must get every alert"
    );
    assert!(n1 > 0);
    let ms = |us: u32| f64::from(us) / 1e3;
    let p = |q: f64| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let i = ((l.len().saturating_sub(1)) as f64 * q).round() as usize;
        l.get(i).copied().unwrap_or_default()
    };
    let (p50, p99) = (ms(p(0.5)), ms(p(0.99)));
    let ratio = if base.total > 0.0 {
        with.total / base.total
    } else {
        0.0
    };
    let (m1, m2) = (median(&base.samples), median(&with.samples));
    println!(
        "team_watch: {watchers} watchers, {rate} alerts/s target for {secs} s per phase; achieved {rate1:.0}/s without watchers, {rate2:.0}/s with ({n1} and {n2} of {target} alerts)"
    );
    println!(
        "team_watch: event -> watcher latency p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms ({} deliveries)",
        ms(l.last().copied().unwrap_or_default()),
        l.len()
    );
    println!(
        "team_watch: daemon CPU, same load: {:.1} s without watchers, {:.1} s with {watchers} (ratio {ratio:.2}, overhead {:+.0}%); median per-second while loading {:.0}% vs {:.0}% (ratio {:.2})",
        base.total,
        with.total,
        (ratio - 1.0) * 100.0,
        m1 * 100.0,
        m2 * 100.0,
        if m1 > 0.0 { m2 / m1 } else { 0.0 }
    );
    println!(
        "team_watch: machine load (1/5/15 min) before baseline {load0}, after it {load1}, before watchers {load2}, after them {load3} on {} cores",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );
    if full {
        let short = |achieved: f64| achieved < rate as f64 * 0.95;
        println!(
            "team_watch: targets: p99 < 50 ms {}, CPU overhead < 25% {}{}",
            if p99 < 50.0 { "met" } else { "MISSED" },
            if ratio < 1.25 { "met" } else { "MISSED" },
            if short(rate1) || short(rate2) {
                " (the load fell short of the target rate: the machine is saturated, figures are upper bounds)"
            } else {
                ""
            }
        );
    }
}
