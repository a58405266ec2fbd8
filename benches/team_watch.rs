//! Team mode under load, in one run: a real `tfdrift serve` daemon process (Falco HTTP source,
//! on-disk store, the API on plaintext loopback), alerts POSTed at a fixed rate, first with no
//! watcher attached, then with N watchers (`WatchSession`, the client the CLI and the monitor
//! use) in this process.
//!
//! Reports: alerts/s achieved, event → watcher latency p50 / p99 / max (from just before the
//! POST to the watcher decoding the alert), and the daemon's CPU (utime + stime from
//! `/proc/PID/stat`) per second of each phase, so the watchers' overhead is read off directly.
//!
//! `cargo bench --bench team_watch`: 50 watchers, 2,000 alerts/s, 30 s per phase (override with
//! TEAM_WATCHERS, TEAM_RATE, TEAM_SECS). Without `--bench` (as `cargo test --all-targets` runs
//! it): a smoke run of 2 watchers, 50 alerts/s, 1 s.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tfdrift::api::client::{ClientOptions, Update, WatchSession};
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

type Sent = Arc<Mutex<HashMap<String, Instant>>>;

/// The alert's `event.id`, found without parsing the whole line (the watchers must not be the
/// bottleneck of the measurement).
fn event_id(json: &str) -> &str {
    const KEY: &str = "\"event\":{\"id\":\"";
    json.find(KEY)
        .map(|i| &json[i + KEY.len()..])
        .and_then(|rest| rest.find('"').map(|j| &rest[..j]))
        .unwrap_or_default()
}

/// Runs [`load`] on its own thread and runtime, so the watchers cannot starve the load.
fn load_on_thread(falco: &str, prefix: &str, rate: u64, secs: u64, sent: &Sent) -> u64 {
    let (falco, prefix, sent) = (falco.to_string(), prefix.to_string(), sent.clone());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(load(&falco, &prefix, rate, secs, &sent))
    })
    .join()
    .unwrap()
}

/// Posts `rate` events a second for `secs` seconds (at most 100 requests a second); returns the
/// count.
async fn load(falco: &str, prefix: &str, rate: u64, secs: u64, sent: &Sent) -> u64 {
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
        let now = Instant::now();
        {
            let mut s = sent.lock().unwrap();
            for _ in 0..per_tick {
                let id = format!("{prefix}-{n}");
                body.push_str(&event(&id, n));
                body.push('\n');
                s.insert(id, now);
                n += 1;
            }
        }
        let r = client.post(falco).body(body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    n
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
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
    let sent: Sent = Arc::default();

    // Phase 1: no watchers.
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    let n1 = load_on_thread(&falco, "a", rate, secs, &sent);
    let rate1 = n1 as f64 / t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let cpu_idle = (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64();

    // Phase 2: N watchers.
    let lat: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let got: Arc<Mutex<Vec<u64>>> =
        Arc::new(Mutex::new(vec![0; usize::try_from(watchers).unwrap()]));
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    for w in 0..usize::try_from(watchers).unwrap() {
        let (url, sent, lat, got, ready) = (
            url.clone(),
            sent.clone(),
            lat.clone(),
            got.clone(),
            ready.clone(),
        );
        rt.spawn(async move {
            let opts = ClientOptions {
                url,
                token: None,
                ca_cert: None,
            };
            let mut s = WatchSession::new(opts, 0);
            loop {
                match s.next().await {
                    Update::Event(ev) => match ev.item {
                        Some(Item::Snapshot(_)) => ready.add_permits(1),
                        Some(Item::Alert(a)) => {
                            let now = Instant::now();
                            let id = event_id(&a.json);
                            if id.starts_with("b-") {
                                if let Some(t) = sent.lock().unwrap().get(id) {
                                    lat.lock().unwrap().push(now - *t);
                                }
                                got.lock().unwrap()[w] += 1;
                            }
                        }
                        _ => {}
                    },
                    Update::Reconnecting { retry_in, .. } => tokio::time::sleep(retry_in).await,
                    Update::Refused(e) => panic!("{e}"),
                    Update::Connected(_) => {}
                }
            }
        });
    }
    rt.block_on(async {
        let _ = ready
            .acquire_many(u32::try_from(watchers).unwrap())
            .await
            .unwrap();
    });
    let cpu0 = cpu_seconds(pid);
    let t0 = Instant::now();
    let n2 = load_on_thread(&falco, "b", rate, secs, &sent);
    let post_secs = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60 + secs * 2);
    while got.lock().unwrap().iter().any(|g| *g < n2) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let cpu_watch = (cpu_seconds(pid) - cpu0) / t0.elapsed().as_secs_f64();
    let delivered: u64 = got.lock().unwrap().iter().sum();
    let mut l = lat.lock().unwrap().clone();
    l.sort();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        delivered,
        n2 * watchers,
        "every watcher must get every alert"
    );
    assert!(n1 > 0);
    println!(
        "team_watch: {watchers} watchers, {rate} alerts/s target (achieved {rate1:.0} without watchers, {:.0} with), {secs} s per phase",
        n2 as f64 / post_secs
    );
    println!(
        "team_watch: event -> watcher latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} deliveries)",
        pct(&l, 0.5).as_secs_f64() * 1e3,
        pct(&l, 0.99).as_secs_f64() * 1e3,
        l.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        l.len()
    );
    println!(
        "team_watch: daemon CPU {:.0}% without watchers, {:.0}% with {watchers} (overhead {:+.0}%)",
        cpu_idle * 100.0,
        cpu_watch * 100.0,
        if cpu_idle > 0.0 {
            (cpu_watch / cpu_idle - 1.0) * 100.0
        } else {
            0.0
        }
    );
}
