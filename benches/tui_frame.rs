//! TUI frame time with 100,000 alerts in the feed at 200×50 (target < 5 ms), plus scrolling,
//! filtering and the memory held per alert (measured with a counting allocator).
//!
//! Alerts are the golden fixtures' real alerts, cloned with fresh ids, times and severities.
//! The frame is drawn into ratatui's `TestBackend` (no terminal I/O): it measures our work, not
//! the terminal's.
//!
//! Numbers (debug-free `cargo bench`, 2 shared cores under load ~4, medians; expect ±30 %):
//! frame 200×50 with 100k alerts ≈ 0.5–0.7 ms; scroll one row + frame ≈ 0.5 ms; alert arrival +
//! frame ≈ 0.7 ms; full free-text filter over 100k ≈ 5 ms; typing one more filter character
//! (narrowing ~100k matches) ≈ 3.6 ms. Memory held ≈ 2.9 KB per alert (allocator-measured,
//! alert + search text + sort keys + index; the golden alerts carry policy JSON and user agents).
//!
//! Also (issue 16): the memory held for 5,000 and 100,000 *enriched* alerts (history, tags,
//! identity), all in full and with the bounded window the monitor uses with a store (newest
//! 2,000 in full, older ones slimmed, past 150,000 the oldest dropped); and keystroke → frame
//! through a real pty (`pty_keystroke_to_frame_idle`, the harness of `tests/support/pty.rs`).
//! Measured once (`cargo test --bench tui_frame`, debug, 2 loaded cores): enriched alerts held
//! in full ≈ 10.8 KB each (5,000 → 54 MB; 100,000 → 1,030 MB); bounded window at 100,000 →
//! 258 MB (2.6 KB each; `size_of::<Entry>()` = 1,168 bytes of it is the inline `Alert`).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss
)]

use std::hint::black_box;
use std::path::PathBuf;

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tfdrift::alert::{Alert, Severity};
use tfdrift::tui::app::{Action, App, Meta};
use tfdrift::tui::editor::{RuleEditor, YamlSyntax};
use tfdrift::tui::feed::Feed;
use tfdrift::tui::keymap::Keymap;
use tfdrift::tui::theme::Theme;
use tfdrift::tui::ui;

#[path = "../tests/support/pty.rs"]
mod pty;

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

const N: usize = 100_000;

fn alerts(n: usize) -> Vec<Alert> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut base = Vec::new();
    for case in ["aws-ec2", "aws-policies", "gcp"] {
        let text = std::fs::read_to_string(root.join(case).join("alerts.jsonl")).unwrap();
        base.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Alert>(l).unwrap()),
        );
    }
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let sevs = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    (0..n)
        .map(|i| {
            let mut a = base[i % base.len()].clone();
            a.id = format!("tfd-{i:024x}");
            a.time = t0 + Duration::seconds(i64::try_from(i).unwrap());
            a.severity = sevs[(i * 7) % 5];
            a
        })
        .collect()
}

fn app(alerts: Vec<Alert>) -> App {
    let editor = RuleEditor::with_text(
        PathBuf::from("rules.yaml"),
        "",
        "new".into(),
        Box::new(YamlSyntax),
    );
    let mut app = App::new(
        Meta {
            profile: "bench".into(),
            sources: vec!["replay".into()],
            state_resources: 26,
            state: None,
            ..Meta::default()
        },
        Keymap::default_keymap(),
        Theme::default_theme(),
        editor,
        Utc::now(),
    );
    // The feed's frame time (the monitor opens on the Now board; `v` shows the feed).
    app.view = tfdrift::tui::app::View::Feed;
    app.update(Action::Alerts(alerts));
    app
}

/// A fully enriched alert, as the live monitor receives them: 10 earlier changes to the
/// resource, 5 by the same actor, 8 tags, an identity.
fn enrich(a: &mut Alert, i: usize) {
    use tfdrift::alert::HistoryItem;
    let item = |k: usize| HistoryItem {
        time: a.time - Duration::hours(i64::try_from(k).unwrap()),
        resource: format!("{}:{}", a.resource.rtype, a.resource.id),
        address: a.resource.address.clone(),
        actor: a.actor.arn.clone(),
        kind: "attribute_drift".into(),
        event_name: a.event.name.clone(),
        alert_id: format!("tfd-{:024x}", i + k),
    };
    a.enrichment.history.recent = (0..10).map(item).collect();
    a.enrichment.history.actor_recent = (10..15).map(item).collect();
    for (k, v) in [
        ("Name", "web-frontend"),
        ("Environment", "production"),
        ("Owner", "team-payments@example.com"),
        ("Team", "payments"),
        ("CostCenter", "cc-1234"),
        ("Service", "checkout"),
        ("ManagedBy", "terraform"),
        ("Repository", "github.com/example/infra"),
    ] {
        a.enrichment.tags.insert(k.into(), v.into());
    }
    a.enrichment.identity.display = "bob.ross (SSO DevAdmin) via console".into();
    a.enrichment.identity.human = Some("bob.ross".into());
}

/// Bytes held by the feed for `n` enriched alerts, with and without the bounded window.
fn held_bytes(n: usize, bounded: bool) -> (usize, Feed) {
    let region = Region::new(GLOBAL);
    let mut feed = Feed::new();
    if bounded {
        feed.set_limits(
            Some(tfdrift::tui::app::FULL_KEPT),
            tfdrift::tui::feed::MAX_HELD,
        );
    }
    for (i, mut a) in alerts(n).into_iter().enumerate() {
        enrich(&mut a, i);
        feed.push(a);
    }
    let change = region.change();
    (
        change
            .bytes_allocated
            .saturating_sub(change.bytes_deallocated),
        feed,
    )
}

fn memory_report() {
    for (n, bounded) in [(5_000, false), (N, false), (N, true)] {
        let (held, feed) = held_bytes(n, bounded);
        eprintln!(
            "memory: {} enriched alerts in the feed, {}: {:.1} MB held ({:.0} bytes/alert, allocator-measured); \
             size_of::<Entry>() = {} bytes",
            feed.total(),
            if bounded {
                "bounded (newest 2,000 in full, older slimmed; details re-read from the store)"
            } else {
                "all in full (no store)"
            },
            held as f64 / 1e6,
            held as f64 / n as f64,
            std::mem::size_of::<tfdrift::tui::feed::Entry>()
        );
        black_box(feed);
    }
}

fn bench(c: &mut Criterion) {
    memory_report();
    let mut app = app(alerts(N));
    let mut term = Terminal::new(TestBackend::new(200, 50)).unwrap();
    // Put the selection mid-feed (not following) so scrolling has room both ways.
    app.run_command(":follow off");
    for _ in 0..10 {
        app.run_action(tfdrift::tui::keymap::Context::Feed, "page_down");
    }
    let mut g = c.benchmark_group("tui_100k");
    g.bench_function("frame_200x50", |b| {
        b.iter(|| {
            term.draw(|f| ui::draw(f, &app)).unwrap();
        });
    });
    g.bench_function("scroll_1_row_and_frame", |b| {
        let mut down = true;
        b.iter(|| {
            app.run_action(
                tfdrift::tui::keymap::Context::Feed,
                if down { "down" } else { "up" },
            );
            down = !down;
            term.draw(|f| ui::draw(f, &app)).unwrap();
        });
    });
    g.bench_function("filter_free_text_full_scan", |b| {
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            app.set_filter_text(if flip { "alice" } else { "" });
        });
    });
    g.bench_function("filter_typing_one_more_char", |b| {
        // Typing narrows: only the current matches are re-checked.
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                app.set_filter_text("se");
                let t = std::time::Instant::now();
                app.set_filter_text("sec");
                total += t.elapsed();
            }
            total
        });
    });
    g.bench_function("alert_arrival_and_frame", |b| {
        let extra = alerts(1).pop().unwrap();
        b.iter(|| {
            app.update(Action::Alerts(vec![extra.clone()]));
            term.draw(|f| ui::draw(f, &app)).unwrap();
        });
    });
    g.finish();
}

/// Keystroke → frame through a real pty: the monitor (release binary, demo profile, idle after
/// `--once`) echoes each character typed into its command line; the time from the write to
/// the frame showing it is one sample. Prints p50/p99 of the run as well.
fn keystroke_latency(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let rules = dir.path().join("rules.yaml").display().to_string();
    let args: Vec<String> = [
        "tui",
        "--profile",
        "demo",
        "--once",
        "--replay-interval-ms",
        "0",
        "--rules-file",
        &rules,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let mut p = pty::Pty::spawn(
        env!("CARGO_BIN_EXE_tfdrift"),
        &args,
        &[("XDG_DATA_HOME", data.as_str())],
        200,
        50,
    );
    assert!(
        p.wait_for(b"Now board", 0, std::time::Duration::from_secs(30))
            .is_some()
    );
    p.wait_quiet(
        std::time::Duration::from_millis(1500),
        std::time::Duration::from_secs(30),
    );
    let mut all = Vec::new();
    c.bench_function("pty_keystroke_to_frame_idle", |b| {
        b.iter_custom(|iters| {
            let n = usize::try_from(iters).unwrap();
            let (samples, missed) = p.command_line_echo(n, std::time::Duration::from_secs(5));
            assert_eq!(missed, 0);
            all.extend_from_slice(&samples);
            samples.iter().sum()
        });
    });
    eprintln!("pty keystroke → frame (idle): {}", pty::summary(&all));
    let _ = p.quit(std::time::Duration::from_secs(10));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench, keystroke_latency
}
criterion_main!(benches);
