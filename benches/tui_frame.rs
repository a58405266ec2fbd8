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
    app.update(Action::Alerts(alerts));
    app
}

fn memory_report() {
    let region = Region::new(GLOBAL);
    let input = alerts(N);
    let mut feed = Feed::new();
    for a in input {
        feed.push(a);
    }
    let change = region.change();
    let held = change
        .bytes_allocated
        .saturating_sub(change.bytes_deallocated);
    eprintln!(
        "memory: {} alerts held in the feed: {:.0} bytes/alert measured (allocator: allocated − freed while building the \
         alerts and filling the feed); estimate from size_of + heap: {:.0} bytes/alert; size_of::<Entry>() = {} bytes",
        feed.total(),
        held as f64 / N as f64,
        feed.approx_bytes() as f64 / N as f64,
        std::mem::size_of::<tfdrift::tui::feed::Entry>()
    );
    black_box(feed);
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
