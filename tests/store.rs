//! The store, one suite for both backends: dedupe, alert log, history, acks and snoozes,
//! outbox lifecycle, pruning, drifts, the team-mode journal, and the engine recording through
//! it across a reopen — each run against SQLite (`sqlite::…`) and against a real PostgreSQL
//! server the tests start themselves (`postgres::…`, see `support/postgres.rs`). Then what
//! only several writers show: two handles (two pools, as two replicas) recording the same
//! events at once record each once; two workers claiming the outbox at once deliver each item
//! once; a dead worker's lease is taken over after its lease time. Last, what is specific to
//! one backend (SQLite migrations and files, PostgreSQL's schema version and secrets).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
#[path = "support/postgres.rs"]
mod pg;

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use tfdrift::alert::Alert;
use tfdrift::pipeline::EngineOptions;
use tfdrift::store::journal::Journal;
use tfdrift::store::{
    HistoryEntry, OutboxItem, OutboxStatus, PostgresStore, SqliteStore, Store, StoreError, Target,
    fingerprint, resource_key,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A database under test, and how to open it again (a restart, or a second replica).
struct Db {
    backend: Backend,
    /// SQLite file path or PostgreSQL URL.
    at: String,
    dir: Option<Arc<tempfile::TempDir>>,
}

impl Db {
    fn new(backend: Backend) -> Db {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let at = dir.path().join("tfdrift.db").display().to_string();
                Db {
                    backend,
                    at,
                    dir: Some(Arc::new(dir)),
                }
            }
            Backend::Postgres => Db {
                backend,
                at: pg::database(),
                dir: None,
            },
        }
    }

    /// A new handle: its own connection (SQLite) or its own pool (PostgreSQL).
    fn open(&self) -> Handle {
        let inner = match self.backend {
            Backend::Sqlite => {
                Inner::Sqlite(SqliteStore::open(std::path::Path::new(&self.at)).unwrap())
            }
            Backend::Postgres => {
                Inner::Postgres(PostgresStore::open(&pg::settings(&self.at, 4)).unwrap())
            }
        };
        Handle {
            inner,
            _dir: self.dir.clone(),
        }
    }
}

enum Inner {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// A store handle (keeping the SQLite file's temp dir alive).
struct Handle {
    inner: Inner,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl std::ops::Deref for Handle {
    type Target = dyn Journal;
    fn deref(&self) -> &Self::Target {
        match &self.inner {
            Inner::Sqlite(s) => s,
            Inner::Postgres(s) => s,
        }
    }
}

impl Handle {
    fn insert_history(&self, rows: &[HistoryEntry]) {
        match &self.inner {
            Inner::Sqlite(s) => s.insert_history(rows).unwrap(),
            Inner::Postgres(s) => s.insert_history(rows).unwrap(),
        }
    }

    /// The store alone (the caller keeps the `Db`, and so the SQLite file's dir).
    fn shared(self) -> Arc<dyn Journal> {
        match self.inner {
            Inner::Sqlite(s) => Arc::new(s),
            Inner::Postgres(s) => Arc::new(s),
        }
    }
}

/// A fresh store of `b`.
fn fresh(b: Backend) -> Handle {
    Db::new(b).open()
}

/// Runs each named test (a `fn(Backend)`) once per backend: `sqlite::name`, `postgres::name`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite); } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres); } )*
        }
    };
}

both_backends!(
    alerts_history_and_dedupe_survive_reopen,
    actor_recent_is_newest_first_and_limited,
    record_batch_records_each_new_event_and_skips_recorded_ones,
    history_summary_counts_days_and_stops_at_the_cap,
    acks_and_snoozes_by_id_and_fingerprint,
    outbox_lifecycle,
    outbox_leases_of_dead_owners_are_taken_back,
    prune_removes_only_old_rows,
    engine_with_store_never_alerts_twice_across_restarts,
    drift_occurrences_notify_on_open_severity_rise_and_snooze_end_only,
    drifts_resolve_and_tell_every_channel_told,
    every_writer_is_journaled_and_prune_drops_a_prefix,
    acks_enqueue_resolves_for_channels_that_asked,
    two_writers_record_each_event_once,
    two_workers_deliver_each_outbox_item_once,
    a_dead_workers_lease_is_taken_over_after_its_lease_time,
    two_writers_on_one_drift_lose_no_occurrence,
);

/// Real alerts: the embedded demo replayed without a store.
fn demo_alerts() -> Vec<Alert> {
    let state = tfdrift::assets::file("demo/terraform.tfstate").unwrap();
    let events = tfdrift::assets::file("demo/events.jsonl").unwrap();
    let mut engine = common::engine(&[("demo", state)], &EngineOptions::default());
    let (alerts, _) = common::replay(&mut engine, "events.jsonl", events);
    assert!(alerts.len() >= 5);
    alerts
}

/// One event's share of a `record_batch`.
fn rec<'a>(
    seen: &'a [&'a str],
    alert: &'a Alert,
    outbox: &'a [OutboxItem],
) -> tfdrift::store::EventRecord<'a> {
    tfdrift::store::EventRecord {
        seen,
        time: Some(alert.time),
        alerts: std::slice::from_ref(alert),
        outbox,
        drifts: &[],
    }
}

fn item(channel: &str, alert: &str) -> OutboxItem {
    OutboxItem {
        channel: channel.into(),
        alert_id: alert.into(),
        payload: format!("{{\"alert\":\"{alert}\"}}"),
    }
}

fn alerts_history_and_dedupe_survive_reopen(b: Backend) {
    let db = Db::new(b);
    let alerts = demo_alerts();
    {
        let store = db.open();
        if let Inner::Sqlite(s) = &store.inner {
            assert_eq!(s.integrity_check().unwrap(), "ok");
        }
        for a in &alerts {
            assert!(
                store
                    .record_alerts(
                        &[a.event.id.as_str()],
                        a.event.time,
                        std::slice::from_ref(a),
                        &[]
                    )
                    .unwrap()
            );
        }
        // The same event again writes nothing and says so.
        let a = &alerts[0];
        assert!(
            !store
                .record_alerts(&[a.event.id.as_str()], None, &alerts, &[])
                .unwrap()
        );
    }
    let store = db.open();
    for a in &alerts {
        assert!(store.is_seen(&a.event.id).unwrap());
        assert_eq!(store.alert(&a.id).unwrap().as_ref(), Some(a));
    }
    assert!(!store.is_seen("never-seen").unwrap());
    let a = &alerts[0];
    let hist = store
        .history(&resource_key(&a.resource), a.time - Duration::days(1))
        .unwrap();
    assert_eq!(hist.len(), 1, "the rejected duplicate added no history");
    assert_eq!(hist[0].alert_id, a.id);
    assert_eq!(hist[0].event_name, a.event.name);
    let recent = store
        .recent_alerts(Utc.timestamp_opt(0, 0).unwrap(), 1000)
        .unwrap();
    assert_eq!(recent.len(), alerts.len());
    assert!(
        recent.windows(2).all(|w| w[0].time >= w[1].time),
        "newest first"
    );
}

fn actor_recent_is_newest_first_and_limited(b: Backend) {
    let store = fresh(b);
    let alerts = demo_alerts();
    let with_arn: Vec<&Alert> = alerts.iter().filter(|a| a.actor.arn.is_some()).collect();
    assert!(with_arn.len() >= 2);
    let actor = with_arn[0].actor.arn.clone().unwrap();
    let base = with_arn[0].clone();
    for i in 0..5 {
        let mut a = base.clone();
        a.id = format!("tfd-actor-{i}");
        a.time = base.time + Duration::minutes(i);
        store
            .record_alerts(&[&format!("ev-{i}")], None, &[a], &[])
            .unwrap();
    }
    let got = store
        .actor_recent(&actor, base.time - Duration::hours(1), 3)
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|h| h.alert_id.as_str()).collect();
    assert_eq!(ids, ["tfd-actor-4", "tfd-actor-3", "tfd-actor-2"]);
    assert!(
        store
            .actor_recent("nobody", base.time, 10)
            .unwrap()
            .is_empty()
    );
}

/// `record_batch`: one call for several events; an event already recorded is answered `false`
/// and writes nothing, the others are all recorded (with history and outbox rows).
fn record_batch_records_each_new_event_and_skips_recorded_ones(b: Backend) {
    let store = fresh(b);
    let alerts = demo_alerts();
    let (a, b, c) = (&alerts[0], &alerts[1], &alerts[2]);
    assert!(
        store
            .record_alerts(&[b.event.id.as_str()], None, std::slice::from_ref(b), &[])
            .unwrap()
    );
    let outbox = [item("ops", &a.id)];
    let seen_a = [a.event.id.as_str(), "op:long-running-1"];
    let (seen_b, seen_c) = ([b.event.id.as_str()], [c.event.id.as_str()]);
    let done = store
        .record_batch(&[
            rec(&seen_a, a, &outbox),
            rec(&seen_b, b, &[]),
            rec(&seen_c, c, &[]),
        ])
        .unwrap();
    assert_eq!(done, [true, false, true]);
    for key in [
        a.event.id.as_str(),
        "op:long-running-1",
        c.event.id.as_str(),
    ] {
        assert!(store.is_seen(key).unwrap(), "{key}");
    }
    for x in [a, b, c] {
        assert!(store.alert(&x.id).unwrap().is_some(), "{}", x.id);
        let h = store
            .history(&resource_key(&x.resource), x.time - Duration::days(1))
            .unwrap();
        assert_eq!(
            h.iter().filter(|h| h.alert_id == x.id).count(),
            1,
            "one history row for {}",
            x.id
        );
    }
    assert_eq!(
        store.outbox_list(OutboxStatus::Pending, 10).unwrap().len(),
        1
    );
}

/// `history_summary` against an oracle computed from the rows themselves: per-day counts
/// relative to `until` (rows after `until` or 7 days before it left out), the newest rows
/// first, and the count cap (a resource changed more often than the cap says so).
fn history_summary_counts_days_and_stops_at_the_cap(b: Backend) {
    let store = fresh(b);
    let until = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
    let row = |key: &str, i: i64, minutes_before: i64| HistoryEntry {
        time: until - Duration::minutes(minutes_before),
        resource_key: key.into(),
        address: None,
        actor: Some("alice".into()),
        kind: "attribute_drift".into(),
        event_name: "AuthorizeSecurityGroupIngress".into(),
        event_id: format!("ev-{key}-{i}"),
        alert_id: format!("tfd-{key}-{i}"),
    };
    // Rows from 9 days before `until` to 1 day after it, at irregular steps.
    let mut rows = Vec::new();
    let mut m = -24 * 60;
    for i in 0..400 {
        rows.push(row("sg:a", i, m));
        rows.push(row("sg:b", i, m + 7));
        m += 1 + (i * 37) % 61;
    }
    store.insert_history(&rows);

    let oracle = |key: &str, cap: usize| {
        let mut mine: Vec<&HistoryEntry> = rows
            .iter()
            .filter(|r| {
                r.resource_key == key && r.time <= until && r.time > until - Duration::days(7)
            })
            .collect();
        mine.sort_by_key(|r| std::cmp::Reverse(r.time));
        let mut days = [0u32; 7];
        for r in mine.iter().take(cap) {
            let day = usize::try_from((until - r.time).num_milliseconds() / 86_400_000).unwrap();
            days[6 - day] += 1;
        }
        let recent: Vec<String> = mine.iter().take(5).map(|r| r.alert_id.clone()).collect();
        (days, recent, mine.len() > cap)
    };
    for cap in [10_000, 100, 1] {
        let got = store.history_summary("sg:a", until, 5, cap).unwrap();
        let (days, recent, capped) = oracle("sg:a", cap);
        assert_eq!(got.days, days, "cap {cap}");
        assert_eq!(got.capped, capped, "cap {cap}");
        let ids: Vec<String> = got.recent.iter().map(|r| r.alert_id.clone()).collect();
        assert_eq!(ids, recent, "cap {cap}");
    }
    let all = store.history_summary("sg:a", until, 5, 10_000).unwrap();
    assert!(all.days.iter().sum::<u32>() > 100 && all.days.iter().all(|d| *d > 0));
    assert!(
        store
            .history_summary("sg:none", until, 5, 100)
            .unwrap()
            .recent
            .is_empty()
    );
}

fn acks_and_snoozes_by_id_and_fingerprint(b: Backend) {
    let store = fresh(b);
    let a = demo_alerts().remove(0);
    let now = Utc::now();
    assert!(store.acks_for(&a).unwrap().is_empty());
    store
        .ack(&Target::Alert(a.id.clone()), "alice", Some("looking"), now)
        .unwrap();
    store
        .ack(&Target::Fingerprint(fingerprint(&a)), "bob", None, now)
        .unwrap();
    store
        .ack(&Target::Alert("other".into()), "carol", None, now)
        .unwrap();
    let acks = store.acks_for(&a).unwrap();
    let who: Vec<&str> = acks.iter().map(|k| k.who.as_str()).collect();
    assert_eq!(who, ["alice", "bob"]);
    assert_eq!(acks[0].note.as_deref(), Some("looking"));
    assert_eq!(acks[1].target, Target::Fingerprint(fingerprint(&a)));

    assert!(store.snoozed(&a, now).unwrap().is_none());
    store
        .snooze(
            &Target::Fingerprint(fingerprint(&a)),
            "bob",
            now + Duration::hours(2),
            Some("change window"),
            now,
        )
        .unwrap();
    store
        .snooze(
            &Target::Alert(a.id.clone()),
            "alice",
            now + Duration::hours(1),
            None,
            now,
        )
        .unwrap();
    let s = store.snoozed(&a, now).unwrap().unwrap();
    assert_eq!(s.who, "bob", "the longest snooze wins");
    assert!(
        store
            .snoozed(&a, now + Duration::hours(3))
            .unwrap()
            .is_none()
    );
}

fn outbox_lifecycle(b: Backend) {
    let store = fresh(b);
    let alerts = demo_alerts();
    let a = &alerts[0];
    let t0 = Utc::now();
    // Enqueued in the alert's own transaction.
    store
        .record_alerts(
            &["ev"],
            None,
            std::slice::from_ref(a),
            &[item("slack", &a.id), item("pd", &a.id)],
        )
        .unwrap();
    store.outbox_enqueue(&[item("webhook", "x")], t0).unwrap();
    let lease = Duration::seconds(30);
    let claimed = store
        .outbox_claim(t0 + Duration::seconds(1), 10, lease)
        .unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(
        claimed
            .iter()
            .all(|e| e.status == OutboxStatus::Sending && e.attempts == 1)
    );
    // Claimed items are not handed out again while the lease runs…
    assert!(
        store
            .outbox_claim(t0 + Duration::seconds(2), 10, lease)
            .unwrap()
            .is_empty()
    );
    let by = |ch: &str| claimed.iter().find(|e| e.channel == ch).unwrap().id;
    store.outbox_delivered(by("slack"), t0).unwrap();
    store
        .outbox_retry_at(by("pd"), t0 + Duration::minutes(5), "HTTP 503")
        .unwrap();
    store.outbox_failed(by("webhook"), "HTTP 404").unwrap();
    // …and a retry is due only at its time.
    assert!(
        store
            .outbox_claim(t0 + Duration::minutes(4), 10, lease)
            .unwrap()
            .is_empty()
    );
    let again = store
        .outbox_claim(t0 + Duration::minutes(6), 10, lease)
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].channel, "pd");
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 503"));
    // A worker that dies mid-send: the lease expires and the item is due again.
    let later = store
        .outbox_claim(t0 + Duration::minutes(7), 10, lease)
        .unwrap();
    assert_eq!(later.len(), 1, "expired lease is reclaimed");
    assert_eq!(later[0].attempts, 3);

    let failed = store.outbox_list(OutboxStatus::Failed, 10).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].payload, "{\"alert\":\"x\"}");
    let delivered = store.outbox_list(OutboxStatus::Delivered, 10).unwrap();
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].delivered_at.is_some());
    assert_eq!(store.outbox_retry_failed(Some("slack"), t0).unwrap(), 0);
    assert_eq!(store.outbox_retry_failed(None, t0).unwrap(), 1);
    let retried = store
        .outbox_claim(t0 + Duration::minutes(1), 10, lease)
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].channel, "webhook");
    assert_eq!(retried[0].attempts, 1, "attempts reset on manual retry");
}

/// Leases name their owner; at start-up the items of dead owners (and of claims that named
/// none, from an older tfdrift) are due again at once, a live owner's stay claimed.
fn outbox_leases_of_dead_owners_are_taken_back(b: Backend) {
    let store = fresh(b);
    let t0 = Utc::now();
    let lease = Duration::minutes(5);
    store
        .outbox_enqueue(&[item("a", "x1"), item("a", "x2"), item("a", "x3")], t0)
        .unwrap();
    let dead = store
        .outbox_claim_for(Some("h/1/dead"), t0, 1, lease)
        .unwrap();
    let live = store
        .outbox_claim_for(Some("h/2/live"), t0, 1, lease)
        .unwrap();
    let legacy = store.outbox_claim(t0, 1, lease).unwrap();
    assert_eq!((dead.len(), live.len(), legacy.len()), (1, 1, 1));
    let is_dead = |o: Option<&str>| o.is_none_or(|o| o.ends_with("/dead"));
    assert_eq!(
        store
            .outbox_release_dead(&is_dead, t0 + Duration::seconds(1))
            .unwrap(),
        2
    );
    let again = store
        .outbox_claim_for(Some("h/3/new"), t0 + Duration::seconds(1), 10, lease)
        .unwrap();
    let mut ids: Vec<i64> = again.iter().map(|e| e.id).collect();
    ids.sort_unstable();
    let mut want = vec![dead[0].id, legacy[0].id];
    want.sort_unstable();
    assert_eq!(
        ids, want,
        "the dead owner's and the ownerless items, well before the lease"
    );
    assert!(again.iter().all(|e| e.attempts == 2));
    let sending = store.outbox_list(OutboxStatus::Sending, 10).unwrap();
    assert!(
        sending.iter().any(|e| e.id == live[0].id),
        "a live owner keeps its lease"
    );
}

fn prune_removes_only_old_rows(b: Backend) {
    let store = fresh(b);
    let alerts = demo_alerts();
    let mut old = alerts[0].clone();
    old.id = "tfd-old".into();
    old.time = Utc::now() - Duration::days(40);
    let mut new = alerts[1].clone();
    new.time = Utc::now();
    store
        .record_alerts(&["ev-old"], None, &[old.clone()], &[])
        .unwrap();
    store
        .record_alerts(&["ev-new"], None, &[new.clone()], &[])
        .unwrap();
    store
        .ack(&Target::Alert(old.id.clone()), "a", None, Utc::now())
        .unwrap();
    // Alerts age by when they were recorded: the 40-day-old event's alert was recorded today
    // (a backfill), so only its history row (by event time) goes.
    let pruned = store.prune(Utc::now() - Duration::days(30)).unwrap();
    assert_eq!(pruned.rows, 1);
    assert!(store.alert("tfd-old").unwrap().is_some());
    assert_eq!(store.acks_for(&old).unwrap().len(), 1);
    // Past the retention of their recording, alerts, their acks, history and marks go.
    let pruned = store.prune(Utc::now() + Duration::minutes(1)).unwrap();
    // 2 alerts, 1 ack, 1 history row, 2 event marks.
    assert_eq!(pruned.rows, 6);
    assert!(store.alert("tfd-old").unwrap().is_none());
    assert!(store.alert(&new.id).unwrap().is_none());
    assert!(store.acks_for(&old).unwrap().is_empty());
    assert!(!store.is_seen("ev-old").unwrap());
}

#[test]
fn newer_schema_is_refused_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }));
    assert!(err.to_string().contains("t.db"), "{err}");
}

fn engine_with_store_never_alerts_twice_across_restarts(b: Backend) {
    let db = Db::new(b);
    let state = tfdrift::assets::file("demo/terraform.tfstate").unwrap();
    let events = tfdrift::assets::file("demo/events.jsonl").unwrap();
    let run = || {
        let store: Arc<dyn Store> = db.open().shared();
        let mut engine =
            common::engine(&[("demo", state)], &EngineOptions::default()).with_store(store.clone());
        let (alerts, stats) = common::replay(&mut engine, "events.jsonl", events);
        (alerts, stats, store)
    };
    let (first, stats1, store) = run();
    assert_eq!(first.len(), 10);
    assert_eq!(stats1.store_errors, 0);
    for a in &first {
        assert!(
            store.alert(&a.id).unwrap().is_some(),
            "recorded before returned"
        );
    }
    drop(store);
    // A restart that sees the same events (SQS redelivery, replayed backfill): silence.
    let (second, stats2, _) = run();
    assert!(second.is_empty(), "{second:?}");
    assert_eq!(stats2.duplicates, 10);
    assert_eq!(stats2.alerts, 0);
}

#[test]
fn replay_with_store_flag_records_and_dedupes_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("replay.db");
    let state = dir.path().join("demo.tfstate");
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &state,
        tfdrift::assets::file("demo/terraform.tfstate").unwrap(),
    )
    .unwrap();
    std::fs::write(&events, tfdrift::assets::file("demo/events.jsonl").unwrap()).unwrap();
    let run = || {
        let out = assert_cmd::Command::cargo_bin("tfdrift")
            .unwrap()
            .arg("replay")
            .arg("--state")
            .arg(&state)
            .arg("--store")
            .arg(&db)
            .arg(&events)
            .env("HOME", dir.path())
            .env_remove("TFDRIFT_CONFIG")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(run(), 10);
    assert_eq!(
        run(),
        0,
        "the second replay meets its events as already processed"
    );
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(
        store
            .recent_alerts(Utc.timestamp_opt(0, 0).unwrap(), 100)
            .unwrap()
            .len(),
        10
    );
    assert!(
        !dir.path().join(".local/share/tfdrift").exists(),
        "replay never creates the default database"
    );
}

/// A store written by the previous schema (version 2, no drift tables) is upgraded in place to
/// the newest version with its alerts intact, and records drifts from then on.
#[test]
fn a_version_2_store_is_migrated_to_drifts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &tfdrift::store::schema::MIGRATIONS[..2] {
            tx.execute_batch(sql).unwrap();
        }
        tx.pragma_update(None, "user_version", 2).unwrap();
        tx.execute(
            "INSERT INTO alerts (id, time, kind, severity, provider, resource_type, resource_id, fingerprint, event_id, event_name, recorded_at, json) \
             VALUES ('tfd-old', 0, 'attribute_drift', 'high', 'aws', 't', 'i', 'f', 'e', 'n', 0, '{}')",
            [],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        tfdrift::store::schema::version(&conn).unwrap(),
        tfdrift::store::schema::latest()
    );
    assert!(tfdrift::store::schema::latest() >= 5);
    let old: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM alerts WHERE id = 'tfd-old'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old, 1, "alerts survive the upgrade");
    assert!(
        store
            .drifts(&tfdrift::store::DriftFilter::default())
            .unwrap()
            .is_empty()
    );
    // Drifts are recorded with the alert that causes them, in its transaction.
    let a = demo_alerts().remove(0);
    let occ = tfdrift::drift::occurrences(&a, "demo");
    let ops: Vec<tfdrift::drift::DriftOp> = occ
        .iter()
        .map(|o| tfdrift::drift::DriftOp::Occur(Box::new(o.clone())))
        .collect();
    let batch = [tfdrift::store::EventRecord {
        seen: &[&a.event.id],
        time: Some(a.time),
        alerts: std::slice::from_ref(&a),
        outbox: &[],
        drifts: &ops,
    }];
    assert_eq!(store.record_batch(&batch).unwrap(), [true]);
    let d = store.drift(&occ[0].id).unwrap().unwrap();
    assert_eq!(d.last_alert_id, a.id);
    assert_eq!(store.drift_events(&d.id).unwrap().len(), 1);
    // The same event again is a duplicate: no second occurrence.
    assert_eq!(store.record_batch(&batch).unwrap(), [false]);
    assert_eq!(store.drift(&occ[0].id).unwrap().unwrap().occurrences, 1);
}

/// The store decides, in the alert's transaction, whether a drift's occurrence notifies: the
/// first does, a repeat does not, a severity rise does (`drift.updated`), nothing does while
/// snoozed, and the first occurrence after the snooze ended does.
fn drift_occurrences_notify_on_open_severity_rise_and_snooze_end_only(b: Backend) {
    use tfdrift::alert::Severity;
    use tfdrift::drift::{DriftOp, occurrences};
    let store = fresh(b);
    let base = demo_alerts().remove(0);
    let t0 = base.time;
    let record = |n: u32, sev: Severity, minutes: i64| {
        let mut a = base.clone();
        a.id = format!("tfd-sev-{n}");
        a.event.id = format!("ev-sev-{n}");
        a.severity = sev;
        a.time = t0 + Duration::minutes(minutes);
        let ops: Vec<DriftOp> = occurrences(&a, "s")
            .into_iter()
            .map(|o| DriftOp::Occur(Box::new(o)))
            .collect();
        let item = OutboxItem {
            channel: "ops".into(),
            alert_id: a.id.clone(),
            payload: "{\"type\":\"alert\"}".into(),
        };
        let batch = [tfdrift::store::EventRecord {
            seen: &[&a.event.id],
            time: Some(a.time),
            alerts: std::slice::from_ref(&a),
            outbox: std::slice::from_ref(&item),
            drifts: &ops,
        }];
        assert_eq!(store.record_batch(&batch).unwrap(), [true]);
        occurrences(&a, "s")[0].id.clone()
    };
    let events = || -> Vec<String> {
        store
            .outbox_list(OutboxStatus::Pending, 100)
            .unwrap()
            .iter()
            .map(|e| {
                let v: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
                v["drift"]["event"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let id = record(1, Severity::Medium, 0);
    assert_eq!(events(), ["drift.opened"]);
    record(2, Severity::Medium, 1);
    record(3, Severity::Low, 2);
    assert_eq!(events(), ["drift.opened"], "repeats are quiet");
    record(4, Severity::High, 3);
    assert_eq!(events(), ["drift.opened", "drift.updated"], "severity rose");
    store
        .drift_act(
            &id,
            tfdrift::store::DriftAction::Snooze(t0 + Duration::minutes(60)),
            "ops",
            t0 + Duration::minutes(4),
        )
        .unwrap()
        .unwrap();
    record(5, Severity::Critical, 10);
    assert_eq!(events().len(), 2, "muted while snoozed, even rising");
    record(6, Severity::Critical, 61);
    assert_eq!(
        events(),
        ["drift.opened", "drift.updated", "drift.updated"],
        "the snooze ended"
    );
    let d = store.drift(&id).unwrap().unwrap();
    assert_eq!(d.occurrences, 6);
    assert_eq!(d.severity, Severity::Critical);
    assert_eq!(d.channels, ["ops"]);
}

/// A drift resolved from outside an event (a state refresh) is resolved once, with a `resolve`
/// for each channel told about it; a person's action on it after that is refused.
fn drifts_resolve_and_tell_every_channel_told(b: Backend) {
    use tfdrift::drift::{DriftOp, Reason, Resolution, Status, Target as DriftTarget, occurrences};
    let store = fresh(b);
    let a = demo_alerts().remove(0);
    let ops: Vec<DriftOp> = occurrences(&a, "s")
        .into_iter()
        .map(|o| DriftOp::Occur(Box::new(o)))
        .collect();
    let items = [
        OutboxItem {
            channel: "ops".into(),
            alert_id: a.id.clone(),
            payload: "{\"type\":\"alert\"}".into(),
        },
        OutboxItem {
            channel: "pd".into(),
            alert_id: a.id.clone(),
            payload: "{\"type\":\"alert\"}".into(),
        },
    ];
    let batch = [tfdrift::store::EventRecord {
        seen: &[&a.event.id],
        time: Some(a.time),
        alerts: std::slice::from_ref(&a),
        outbox: &items,
        drifts: &ops,
    }];
    assert_eq!(store.record_batch(&batch).unwrap(), [true]);
    let id = occurrences(&a, "s")[0].id.clone();
    let open = store
        .drifts(&tfdrift::store::DriftFilter {
            unresolved_only: true,
            ..Default::default()
        })
        .unwrap();
    assert!(open.iter().any(|d| d.id == id));
    assert_eq!(store.drift(&id).unwrap().unwrap().channels, ["ops", "pd"]);
    let r = Resolution {
        target: DriftTarget::Id(id.clone()),
        reason: Reason::Accepted,
        who: None,
        at: a.time + Duration::minutes(5),
        note: None,
    };
    let done = store.resolve_drifts(std::slice::from_ref(&r)).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, Status::Resolved);
    assert!(
        store.resolve_drifts(&[r]).unwrap().is_empty(),
        "resolved once"
    );
    let resolves: Vec<(String, serde_json::Value)> = store
        .outbox_list(OutboxStatus::Pending, 100)
        .unwrap()
        .into_iter()
        .map(|e| (e.channel, serde_json::from_str(&e.payload).unwrap()))
        .filter(|(_, p): &(String, serde_json::Value)| p["type"] == "resolve")
        .collect();
    let chans: Vec<&str> = resolves.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(chans, ["ops", "pd"]);
    assert_eq!(resolves[0].1["alert"]["id"], a.id.as_str());
    assert_eq!(resolves[0].1["drift"]["id"], id.as_str());
    let kinds: Vec<_> = store
        .drift_events(&id)
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            tfdrift::drift::EventKind::Opened,
            tfdrift::drift::EventKind::Resolved
        ]
    );
    assert!(
        store
            .drift_act(
                &id,
                tfdrift::store::DriftAction::Acknowledge,
                "ops",
                Utc::now()
            )
            .unwrap()
            .is_none(),
        "already resolved"
    );
}

/// The team-mode journal: every writer is journaled in its own transaction (the CLI's ack
/// that knows nothing of it too), with its note; prune drops a prefix, so a watcher's cursor is
/// either resumable or known to be too old.
fn every_writer_is_journaled_and_prune_drops_a_prefix(b: Backend) {
    use tfdrift::store::journal::{ChangeItem, JournalBounds, NOTE_ACK, State};
    let store = fresh(b);
    let target = Target::Alert("tfd-1".into());
    let old = Utc::now() - Duration::days(40);
    store.ack(&target, "cli", Some(NOTE_ACK), old).unwrap();
    let cursor = store
        .act(
            &target,
            State::Resolved,
            "rita",
            Some("fixed"),
            None,
            Utc::now(),
        )
        .unwrap();
    assert_eq!(cursor, 2);
    let all = store.changes_since(0, 10).unwrap();
    assert_eq!(all.iter().map(|ch| ch.cursor).collect::<Vec<_>>(), [1, 2]);
    match &all[1].item {
        ChangeItem::Ack(ack) => {
            assert_eq!(ack.who, "rita");
            assert_eq!(ack.comment.as_deref(), Some("fixed"));
            assert_eq!(State::of_marker(ack.marker.as_deref()), State::Resolved);
        }
        other => panic!("{other:?}"),
    }
    // An alert and its snapshot: the cursor covers it.
    let alert = demo_alerts().remove(0);
    assert!(
        store
            .record_alerts(&[&alert.event.id], None, std::slice::from_ref(&alert), &[])
            .unwrap()
    );
    let (cursor, rows) = store.journal_snapshot(10).unwrap();
    assert_eq!(cursor, 3);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, alert.id);
    match &store.changes_since(2, 10).unwrap()[0].item {
        ChangeItem::Alert(r) => assert_eq!(r.id, alert.id),
        other => panic!("{other:?}"),
    }
    let page = store
        .list_alerts(&tfdrift::store::journal::AlertFilter::default(), None, 5)
        .unwrap();
    assert_eq!(page.alerts.len(), 1);
    let (row, acks) = store.alert_detail(&alert.id).unwrap().unwrap();
    assert_eq!(row.status.state, State::New);
    assert!(acks.is_empty());
    store.prune(Utc::now() - Duration::days(30)).unwrap();
    let bounds = store.journal_bounds().unwrap();
    assert_eq!(
        bounds,
        JournalBounds {
            oldest: Some(2),
            newest: 3
        }
    );
    assert!(!bounds.can_resume(0), "entry 1 was pruned");
    assert!(bounds.can_resume(1));
}

/// An ack resolves the incidents its alert's triggers opened on channels that asked
/// (`resolve_on_ack`), once; a reopen does not.
fn acks_enqueue_resolves_for_channels_that_asked(b: Backend) {
    use tfdrift::store::NOTE_REOPENED;
    let store = fresh(b);
    let a = demo_alerts().remove(0);
    let trigger = |ch: &str, resolve: bool| OutboxItem {
        channel: ch.into(),
        alert_id: a.id.clone(),
        payload: format!("{{\"type\":\"alert\",\"resolve_on_ack\":{resolve}}}"),
    };
    store
        .record_alerts(
            &[&a.event.id],
            None,
            std::slice::from_ref(&a),
            &[trigger("pd", true), trigger("slack", false)],
        )
        .unwrap();
    let resolves = || -> Vec<(String, String)> {
        store
            .outbox_list(OutboxStatus::Pending, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.payload.starts_with("{\"type\":\"resolve\""))
            .map(|e| (e.channel, e.payload))
            .collect()
    };
    store
        .ack(
            &Target::Alert(a.id.clone()),
            "x",
            Some(NOTE_REOPENED),
            Utc::now(),
        )
        .unwrap();
    assert!(resolves().is_empty(), "a reopen resolves nothing");
    store
        .ack(&Target::Fingerprint(fingerprint(&a)), "x", None, Utc::now())
        .unwrap();
    let got = resolves();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "pd");
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(
        got[0].1,
        format!("{{\"type\":\"resolve\",\"alert\":{json}}}")
    );
    store
        .ack(&Target::Alert(a.id.clone()), "y", None, Utc::now())
        .unwrap();
    assert_eq!(
        resolves().len(),
        1,
        "already resolved after its last trigger"
    );
}

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
fn two_writers_record_each_event_once(b: Backend) {
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
fn two_workers_deliver_each_outbox_item_once(b: Backend) {
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
fn a_dead_workers_lease_is_taken_over_after_its_lease_time(b: Backend) {
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

/// PostgreSQL: replicas starting together migrate once (the advisory lock), and a database
/// written by a newer tfdrift is refused, naming the server and database.
#[test]
fn postgres_replicas_migrate_together_and_a_newer_schema_is_refused() {
    let url = pg::database();
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresStore::open(&pg::settings(&url, 2)).map(drop))
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let s = pg::server();
    assert_eq!(
        s.psql(db, "SELECT version FROM tfdrift_schema"),
        tfdrift::store::postgres::latest_version().to_string()
    );
    assert_eq!(s.psql(db, "SELECT COUNT(*) FROM tfdrift_schema"), "1");
    s.psql(db, "UPDATE tfdrift_schema SET version = 99");
    let err = PostgresStore::open(&pg::settings(&url, 2)).expect_err("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains(db), "{err}");
}

/// PostgreSQL: a password (from the URL, `password_env` or `password_file`) never appears in
/// an error; a missing password source is named.
#[test]
fn postgres_errors_never_show_the_password() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!(
        "postgres://tfd:hunter2-in-url@127.0.0.1:{port}/x?sslmode=disable&connect_timeout=2"
    );
    let err = PostgresStore::open(&pg::settings(&url, 1)).expect_err("nothing listens");
    let msg = err.to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}/x")), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "hunter2-in-file\n").unwrap();
    let mut settings = pg::settings(
        &format!("postgres://tfd@127.0.0.1:{port}/x?sslmode=disable&connect_timeout=2"),
        1,
    );
    settings.password_file = Some(file.display().to_string());
    let msg = PostgresStore::open(&settings)
        .expect_err("refused")
        .to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    settings.password_env = Some("TFDRIFT_TEST_NO_SUCH_VAR".into());
    let msg = PostgresStore::open(&settings)
        .expect_err("two password sources")
        .to_string();
    assert!(msg.contains("keep one"), "{msg}");
    settings.password_file = None;
    let msg = PostgresStore::open(&settings)
        .expect_err("refused")
        .to_string();
    assert!(msg.contains("TFDRIFT_TEST_NO_SUCH_VAR"), "{msg}");
    // What the monitor's header and logs show.
    assert_eq!(
        pg::settings("postgres://tfd:hunter2@db.internal:5432/prod", 1).describe(),
        "postgres://tfd@db.internal:5432/prod"
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
fn two_writers_on_one_drift_lose_no_occurrence(b: Backend) {
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

/// PostgreSQL: a database at schema version 2 (written by an older tfdrift) is upgraded in
/// place to the newest version, its rows intact, and records drifts from then on.
#[test]
fn postgres_a_version_2_database_is_migrated() {
    let url = pg::database();
    let db = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let s = pg::server();
    let old = tfdrift::store::postgres::MIGRATIONS[..2].join("\n");
    s.psql(
        db,
        &format!(
            "BEGIN; CREATE TABLE tfdrift_schema (version BIGINT NOT NULL); \
             INSERT INTO tfdrift_schema VALUES (2); {old}; \
             INSERT INTO alerts (id, time, kind, severity, provider, resource_type, resource_id, \
             fingerprint, event_id, event_name, recorded_at, json) VALUES ('tfd-old', 0, \
             'attribute_drift', 'high', 'aws', 't', 'i', 'f', 'e', 'n', 0, '{{}}'); COMMIT;"
        ),
    );
    let store = PostgresStore::open(&pg::settings(&url, 2)).unwrap();
    assert_eq!(
        s.psql(db, "SELECT version FROM tfdrift_schema"),
        tfdrift::store::postgres::latest_version().to_string()
    );
    assert_eq!(
        s.psql(db, "SELECT COUNT(*) FROM alerts WHERE id = 'tfd-old'"),
        "1"
    );
    let a = demo_alerts().remove(0);
    let ops: Vec<tfdrift::drift::DriftOp> = tfdrift::drift::occurrences(&a, "demo")
        .into_iter()
        .map(|o| tfdrift::drift::DriftOp::Occur(Box::new(o)))
        .collect();
    let batch = [tfdrift::store::EventRecord {
        seen: &[&a.event.id],
        time: Some(a.time),
        alerts: std::slice::from_ref(&a),
        outbox: &[],
        drifts: &ops,
    }];
    assert_eq!(store.record_batch(&batch).unwrap(), [true]);
    assert_eq!(
        store
            .drifts(&tfdrift::store::DriftFilter::default())
            .unwrap()
            .len(),
        ops.len()
    );
    // The journal (migration 4) was installed by the upgrade: the alert and each drift's
    // opening have their entries.
    let changes = store.changes_since(0, 100).unwrap();
    assert_eq!(changes.len(), 1 + ops.len());
    assert!(
        matches!(&changes[0].item, tfdrift::store::journal::ChangeItem::Alert(r) if r.id == a.id)
    );
}
