//! What only several writers show, on both backends: two handles (two pools, as two
//! replicas) recording the same events at once record each once; two workers claiming the
//! outbox at once deliver each item once; a dead worker's lease is taken over after its lease
//! time; two writers on one drift lose no occurrence; and the real daemon, twice at once on one
//! PostgreSQL database, alerts each event once.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use tfdrift::alert::Alert;
use tfdrift::store::{OutboxItem, OutboxStatus, PostgresStore, Store as _, resource_key};

use super::{Backend, Db, demo_alerts, item, pg, rec};

/// `n` distinct events, each with one alert and one notification.
fn distinct_events(n: usize) -> Vec<(String, Alert, OutboxItem)> {
    let base = demo_alerts().remove(0);
    (0..n)
        .map(|i| {
            let mut a = base.clone();
            a.id = format!("tfd-x-{i}");
            a.event.id = format!("ev-x-{i}");
            a.resource.id = format!("sg-{i}");
            let it = item("ops", &a.id);
            (a.event.id.clone(), a, it)
        })
        .collect()
}

/// Two replicas (two handles, two pools) record the same events at once, in opposite orders
/// and in groups: every event is recorded by exactly one of them, with one alert, one history
/// row and one notification.
pub(crate) fn two_writers_record_each_event_once(b: Backend) {
    let db = Db::new(b);
    let events = Arc::new(distinct_events(120));
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let writers: Vec<_> = [false, true]
        .into_iter()
        .map(|reverse| {
            let (store, events, barrier) = (db.open(), events.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut order: Vec<usize> = (0..events.len()).collect();
                if reverse {
                    order.reverse();
                }
                barrier.wait();
                let mut won = Vec::new();
                for chunk in order.chunks(8) {
                    let seen: Vec<[&str; 1]> =
                        chunk.iter().map(|&i| [events[i].0.as_str()]).collect();
                    let batch: Vec<_> = chunk
                        .iter()
                        .zip(&seen)
                        .map(|(&i, s)| rec(s, &events[i].1, std::slice::from_ref(&events[i].2)))
                        .collect();
                    let done = store.record_batch(&batch).unwrap();
                    won.extend(chunk.iter().zip(done).filter(|(_, d)| *d).map(|(&i, _)| i));
                }
                won
            })
        })
        .collect();
    let mut won: Vec<usize> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    won.sort_unstable();
    assert_eq!(
        won,
        (0..events.len()).collect::<Vec<_>>(),
        "each event recorded by exactly one writer"
    );
    let store = db.open();
    let alerts = store
        .recent_alerts(Utc.timestamp_opt(0, 0).unwrap(), 10_000)
        .unwrap();
    assert_eq!(alerts.len(), events.len());
    for (_, a, _) in events.iter() {
        let h = store
            .history(&resource_key(&a.resource), a.time - Duration::days(1))
            .unwrap();
        assert_eq!(h.len(), 1, "one history row for {}", a.id);
    }
    let pending = store.outbox_list(OutboxStatus::Pending, 10_000).unwrap();
    assert_eq!(pending.len(), events.len(), "one notification per event");
    // The journal has one entry per alert, cursors 1..=n without a gap.
    let changes = store.changes_since(0, 10_000).unwrap();
    let cursors: Vec<i64> = changes.iter().map(|c| c.cursor).collect();
    assert_eq!(
        cursors,
        (1..=i64::try_from(events.len()).unwrap()).collect::<Vec<_>>()
    );
}

/// Two workers (two handles) claim the outbox at once until it is empty: each item is handed
/// to exactly one of them and delivered once.
pub(crate) fn two_workers_deliver_each_outbox_item_once(b: Backend) {
    let db = Db::new(b);
    let t0 = Utc::now();
    {
        let store = db.open();
        let items: Vec<OutboxItem> = (0..150).map(|i| item("ops", &format!("a{i}"))).collect();
        store.outbox_enqueue(&items, t0).unwrap();
    }
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let workers: Vec<_> = ["w1", "w2"]
        .into_iter()
        .map(|name| {
            let (store, barrier) = (db.open(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut got = Vec::new();
                loop {
                    let owner = format!("host/{name}/1");
                    let claimed = store
                        .outbox_claim_for(Some(&owner), t0, 7, Duration::minutes(5))
                        .unwrap();
                    if claimed.is_empty() {
                        return got;
                    }
                    for e in claimed {
                        assert_eq!(e.attempts, 1, "never claimed before");
                        store.outbox_delivered(e.id, t0).unwrap();
                        got.push(e.id);
                    }
                }
            })
        })
        .collect();
    let per: Vec<Vec<i64>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let mut all: Vec<i64> = per.concat();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(n, all.len(), "no item delivered twice");
    assert_eq!(all.len(), 150, "every item delivered");
    let store = db.open();
    assert_eq!(
        store.outbox_counts().unwrap(),
        [(OutboxStatus::Delivered, 150)]
    );
}

/// A worker claims items and dies (its handle dropped, nothing delivered): another replica
/// gets nothing while the lease runs, then takes them over after the lease time, once.
pub(crate) fn a_dead_workers_lease_is_taken_over_after_its_lease_time(b: Backend) {
    let db = Db::new(b);
    let t0 = Utc::now();
    let lease = Duration::seconds(30);
    let dead = db.open();
    dead.outbox_enqueue(&[item("ops", "a1"), item("ops", "a2")], t0)
        .unwrap();
    let taken = dead
        .outbox_claim_for(Some("host-a/1/0"), t0, 10, lease)
        .unwrap();
    assert_eq!(taken.len(), 2);
    drop(dead);
    let other = db.open();
    assert!(
        other
            .outbox_claim_for(Some("host-b/1/0"), t0 + Duration::seconds(10), 10, lease)
            .unwrap()
            .is_empty(),
        "the lease still runs"
    );
    let over = other
        .outbox_claim_for(Some("host-b/1/0"), t0 + Duration::seconds(31), 10, lease)
        .unwrap();
    assert_eq!(
        over.iter().map(|e| e.id).collect::<Vec<_>>(),
        taken.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert!(over.iter().all(|e| e.attempts == 2));
    for e in &over {
        other.outbox_delivered(e.id, t0).unwrap();
    }
    assert!(
        other
            .outbox_claim(t0 + Duration::hours(1), 10, lease)
            .unwrap()
            .is_empty(),
        "delivered: never due again"
    );
}

/// The real daemon on PostgreSQL: two `serve --once` processes (two replicas) with the same
/// profile replay the same recorded CloudTrail events into one database at once; together they
/// print each of the demo's 10 alerts once, the database holds the 10, and a third run finds
/// every event already recorded.
#[test]
fn postgres_two_daemons_replaying_the_same_events_alert_each_once() {
    let url = pg::database();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("tfdrift.yaml");
    std::fs::write(
        &cfg,
        format!(
            "profiles:\n  d:\n    state: [\"embedded:demo/terraform.tfstate\"]\n    rules: []\n    \
             inputs: [\"embedded:demo/events.jsonl\"]\n    replay: {{loop: false, interval_ms: 0}}\n    \
             store: {{url: \"{url}\", pool: 2}}\n"
        ),
    )
    .unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tfdrift"))
            .args(["serve", "--profile", "d", "--once", "--config"])
            .arg(&cfg)
            .env("HOME", dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let lines = |child: std::process::Child| -> Vec<serde_json::Value> {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (one, two) = (run(), run());
    let mut ids: Vec<String> = lines(one)
        .into_iter()
        .chain(lines(two))
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(n, ids.len(), "an alert printed by both replicas: {ids:?}");
    assert_eq!(n, 10);
    let store = PostgresStore::open(&pg::settings(&url, 1)).unwrap();
    let stored = store
        .recent_alerts(Utc.timestamp_opt(0, 0).unwrap(), 100)
        .unwrap();
    assert_eq!(stored.len(), 10);
    assert!(lines(run()).is_empty(), "every event already recorded");
}

/// Two replicas record events for the same resource attribute at once: the drift's
/// read-modify-write is serialised, so it counts every occurrence and journals each once (a
/// lost update would drop some).
pub(crate) fn two_writers_on_one_drift_lose_no_occurrence(b: Backend) {
    use tfdrift::drift::{DriftOp, occurrences};
    let db = Db::new(b);
    let base = demo_alerts().remove(0);
    let drift_id = occurrences(&base, "s")[0].id.clone();
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let per_writer: u32 = 25;
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (store, barrier, base) = (db.open(), barrier.clone(), base.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..per_writer {
                    let mut a = base.clone();
                    a.id = format!("tfd-w{w}-{i}");
                    a.event.id = format!("ev-w{w}-{i}");
                    a.time = base.time + Duration::seconds(i64::from(i) * 2 + i64::from(w));
                    let ops: Vec<DriftOp> = occurrences(&a, "s")
                        .into_iter()
                        .map(|o| DriftOp::Occur(Box::new(o)))
                        .collect();
                    let batch = [tfdrift::store::EventRecord {
                        seen: &[&a.event.id],
                        time: Some(a.time),
                        alerts: std::slice::from_ref(&a),
                        outbox: &[],
                        drifts: &ops,
                    }];
                    assert_eq!(store.record_batch(&batch).unwrap(), [true]);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let store = db.open();
    let d = store.drift(&drift_id).unwrap().unwrap();
    assert_eq!(d.occurrences, u64::from(per_writer) * 2);
    let events = store.drift_events(&drift_id).unwrap();
    assert_eq!(events.len(), usize::try_from(per_writer * 2).unwrap());
    assert_eq!(events[0].kind, tfdrift::drift::EventKind::Opened);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == tfdrift::drift::EventKind::Opened)
            .count(),
        1,
        "opened once"
    );
}
