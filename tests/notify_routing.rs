//! Routing follows rule hot reloads (the engine tells the router), dedupe is per channel and
//! counts repeats, and a channel's rate limit holds alerts back into one digest — dedupe and
//! the digest under tokio's paused clock, against a real SQLite outbox and a real file channel.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tfdrift::notify::worker::WorkerConfig;
use tfdrift::notify::{Channels, Envelope, Notifier, NotifyRouter, NotifySettings, sample_alert};
use tfdrift::pipeline::EngineOptions;
use tfdrift::pipeline::engine::OutboxRouter;
use tfdrift::rules::RuleSet;
use tfdrift::store::{OutboxItem, OutboxStatus, SqliteStore, Store};

fn rule(channels: &str) -> RuleSet {
    let yaml = format!(
        "rules:\n  - id: itype\n    name: instance type\n    resource_types: [aws_instance]\n    conditions:\n      - attribute: instance_type\n        operator: changed\n    severity: high\n    actions: [{{type: alert, channels: [{channels}]}}]\n"
    );
    RuleSet::from_str("routing.yaml", &yaml).unwrap()
}

fn jsonl_settings(dir: &std::path::Path, names: &[&str], extra: &str) -> NotifySettings {
    let mut yaml = String::from("channels:\n");
    for n in names {
        writeln!(
            yaml,
            "  {n}: {{type: jsonl, path: \"{}\"{extra}}}",
            dir.join(format!("{n}.jsonl")).display()
        )
        .unwrap();
    }
    serde_saphyr::from_str(&yaml).unwrap()
}

fn channels_of(items: &[OutboxItem]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|i| i.channel.clone()).collect();
    v.sort();
    v
}

fn repeats(item: &OutboxItem) -> u64 {
    match serde_json::from_str::<Envelope>(&item.payload).unwrap() {
        Envelope::Alert { repeats, .. } => repeats,
        Envelope::Resolve { .. } => panic!("not an alert"),
    }
}

/// The live path: `Engine::set_rules` (what the rule watcher calls) re-routes the next alert.
#[test]
fn a_rule_reload_routes_to_the_new_channel() {
    let dir = tempfile::tempdir().unwrap();
    let state = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/terraform.tfstate"),
    )
    .unwrap();
    let events = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/events.jsonl"),
    )
    .unwrap();
    let channels = Arc::new(
        Channels::from_settings(&jsonl_settings(dir.path(), &["ops", "sec"], "")).unwrap(),
    );
    let first = rule("ops");
    // Dedupe off: the same recorded events are replayed twice.
    let router = Arc::new(NotifyRouter::new(channels, &first, Duration::ZERO));
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(std::path::Path::new(":memory:")).unwrap());
    let mut engine = common::engine(&[("s", &state)], &EngineOptions::default())
        .with_store(store.clone())
        .with_outbox_router(router.clone() as Arc<dyn OutboxRouter>);
    engine.set_rules(Arc::new(first));
    let (alerts, _) = common::replay(&mut engine, "a.jsonl", &events);
    let routed: Vec<_> = alerts.iter().filter(|a| a.rules == ["itype"]).collect();
    assert!(
        !routed.is_empty(),
        "the rule must match the instance-type change"
    );
    let pending = store.outbox_list(OutboxStatus::Pending, 1000).unwrap();
    let first_ids: Vec<&str> = pending.iter().map(|e| e.alert_id.as_str()).collect();
    for a in &routed {
        let chans: Vec<&str> = pending
            .iter()
            .filter(|e| e.alert_id == a.id)
            .map(|e| e.channel.as_str())
            .collect();
        assert_eq!(chans, ["ops"], "before the reload the rule routes to ops");
    }

    engine.set_rules(Arc::new(rule("sec")));
    // New event ids so the store does not drop them as already processed.
    let text = String::from_utf8(events)
        .unwrap()
        .replace("\"eventID\": \"", "\"eventID\": \"again-")
        .replace("\"eventID\":\"", "\"eventID\":\"again-");
    let (alerts2, _) = common::replay(&mut engine, "b.jsonl", text.as_bytes());
    let routed2: Vec<_> = alerts2.iter().filter(|a| a.rules == ["itype"]).collect();
    assert_eq!(routed2.len(), routed.len());
    let pending = store.outbox_list(OutboxStatus::Pending, 1000).unwrap();
    for a in &routed2 {
        assert!(!first_ids.contains(&a.id.as_str()));
        let chans: Vec<&str> = pending
            .iter()
            .filter(|e| e.alert_id == a.id)
            .map(|e| e.channel.as_str())
            .collect();
        assert_eq!(chans, ["sec"], "after the reload the rule routes to sec");
    }
}

/// Dedupe per channel, under the paused clock: a channel hears about a drift once per window
/// with the count of what it missed; a channel that starts receiving it later (a reload) is
/// told once too.
#[tokio::test(start_paused = true)]
async fn dedupe_is_per_channel_and_counts_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let channels = Arc::new(
        Channels::from_settings(&jsonl_settings(dir.path(), &["ops", "sec"], "")).unwrap(),
    );
    let mut a = sample_alert();
    a.rules = vec!["itype".into()];
    let router = NotifyRouter::new(channels, &rule("ops"), Duration::from_mins(5));
    let first = router.route(&a);
    assert_eq!(channels_of(&first), ["ops"]);
    assert_eq!(repeats(&first[0]), 0);
    for _ in 0..3 {
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(router.route(&a).is_empty(), "same drift within the window");
    }
    // A different observed value is a different drift.
    let mut other = a.clone();
    other.diffs[0].observed = serde_json::json!("something else");
    assert_eq!(channels_of(&router.route(&other)), ["ops"]);

    router.set_rules(&rule("ops, sec"));
    tokio::time::advance(Duration::from_secs(20)).await;
    let both = router.route(&a);
    assert_eq!(
        channels_of(&both),
        ["sec"],
        "ops already told within the window"
    );
    assert_eq!(repeats(&both[0]), 0);
    assert_eq!(router.deduped.load(std::sync::atomic::Ordering::Relaxed), 4);

    tokio::time::advance(Duration::from_mins(5)).await;
    let later = router.route(&a);
    assert_eq!(channels_of(&later), ["ops", "sec"]);
    let ops = later.iter().find(|i| i.channel == "ops").unwrap();
    assert_eq!(
        repeats(ops),
        4,
        "three repeats before the reload, one after"
    );
    let sec = later.iter().find(|i| i.channel == "sec").unwrap();
    assert_eq!(repeats(sec), 0);
}

fn lines(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The token bucket bites: the first alert goes out, the rest are held, and one digest carries
/// them when the bucket refills (60 virtual seconds at 1/minute).
#[tokio::test(start_paused = true)]
async fn rate_limit_holds_alerts_into_one_digest() {
    let dir = tempfile::tempdir().unwrap();
    let settings = jsonl_settings(
        dir.path(),
        &["siem"],
        ", rate_limit: {per_minute: 1, burst: 1}",
    );
    let channels = Channels::from_settings(&settings).unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(std::path::Path::new(":memory:")).unwrap());
    let mut items = Vec::new();
    for i in 0..5 {
        let mut a = sample_alert();
        a.id = format!("tfd-rate-{i}");
        items.push(OutboxItem {
            channel: "siem".into(),
            alert_id: a.id.clone(),
            payload: Envelope::Alert {
                alert: Box::new(a),
                repeats: 0,
                resolve_on_ack: false,
                occurrences: false,
                drift: None,
            }
            .to_payload(),
        });
    }
    store.outbox_enqueue(&items, chrono::Utc::now()).unwrap();
    let n = Notifier::start(
        store.clone(),
        &channels,
        WorkerConfig {
            poll: Duration::from_millis(100),
            ..WorkerConfig::default()
        },
    );
    let file = dir.path().join("siem.jsonl");
    tokio::time::sleep(Duration::from_secs(30)).await;
    let early = lines(&file);
    assert_eq!(early.len(), 1, "only the burst goes out at once");
    assert_eq!(early[0]["id"], "tfd-rate-0");
    let c = n.stats.snapshot()["siem"].clone();
    assert_eq!((c.sent, c.rate_limited, c.digests), (1, 4, 0));

    assert!(
        n.drain(Duration::from_mins(2)).await,
        "digest sent once the bucket refills"
    );
    let all = lines(&file);
    let ids: Vec<&str> = all.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "tfd-rate-0",
            "tfd-rate-1",
            "tfd-rate-2",
            "tfd-rate-3",
            "tfd-rate-4"
        ]
    );
    let c = n.stats.snapshot()["siem"].clone();
    assert_eq!(
        (c.sent, c.rate_limited, c.digests),
        (5, 4, 1),
        "one digest for the four"
    );
    assert_eq!(
        store
            .outbox_list(OutboxStatus::Delivered, 10)
            .unwrap()
            .len(),
        5
    );
}

/// A rule that names only channels this profile lacks (the shipped packs say `slack`,
/// `pagerduty`) must not silence the alert: the profile's defaults take it.
#[test]
fn a_rule_naming_only_unknown_channels_falls_back_to_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = jsonl_settings(dir.path(), &["ops", "sec"], "");
    settings.defaults = vec!["ops".into()];
    let channels = Arc::new(Channels::from_settings(&settings).unwrap());
    let rules = rule("pagerduty");
    let router = NotifyRouter::new(channels, &rules, Duration::ZERO);
    let mut alert = sample_alert();
    alert.rules = vec!["itype".into()];
    assert_eq!(router.targets(&alert), ["ops"]);
    assert_eq!(channels_of(&router.route(&alert)), ["ops"]);

    // A rule naming a configured channel and an unknown one keeps just the configured one.
    let router = NotifyRouter::new(
        Arc::new(Channels::from_settings(&settings).unwrap()),
        &rule("sec, pagerduty"),
        Duration::ZERO,
    );
    assert_eq!(router.targets(&alert), ["sec"]);
}
