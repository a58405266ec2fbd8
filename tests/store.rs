//! The store, one suite for both backends: dedupe, alert log, history, acks and snoozes,
//! outbox lifecycle, pruning, drifts, the team-mode journal, and the engine recording through
//! it across a reopen — each run against SQLite (`sqlite::…`) and against a real PostgreSQL
//! server the tests start themselves (`postgres::…`, see `support/postgres.rs`). Drifts, the
//! journal and ack resolves are in `store_cases/team.rs`; what only several writers show
//! (exactly once across two handles, two outbox workers, a dead worker's lease, two daemons) in
//! `store_cases/replicas.rs`; what is specific to PostgreSQL in `store_cases/pg_only.rs`, to
//! SQLite (migrations, files) here.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use crate::common;
#[path = "support/postgres.rs"]
mod pg;
#[path = "store_cases/pg_only.rs"]
mod pg_only;
#[path = "store_cases/replicas.rs"]
mod replicas;
#[path = "store_cases/team.rs"]
mod team;

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

use replicas::{
    a_dead_workers_lease_is_taken_over_after_its_lease_time,
    two_workers_deliver_each_outbox_item_once, two_writers_on_one_drift_lose_no_occurrence,
    two_writers_record_each_event_once,
};

use team::{
    acks_enqueue_resolves_for_channels_that_asked, drifts_resolve_and_tell_every_channel_told,
    every_writer_is_journaled_and_prune_drops_a_prefix,
};

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
    issue_links_are_stored_and_replaced_per_channel_and_drift,
    reconcile_runs_board_is_the_latest_run_per_workspace,
    remediations_supersede_and_change_status_only_from_the_expected_one,
);

/// The reconcile status board: the latest run per workspace, a workspace's runs newest first.
fn reconcile_runs_board_is_the_latest_run_per_workspace(b: Backend) {
    use tfdrift::store::WorkspaceRun;
    use tfdrift::store::workspace_runs::RunResult;
    let s = fresh(b);
    let run = |ws: &str, result: RunResult, minute: u32| WorkspaceRun {
        id: 0,
        workspace: ws.into(),
        started_at: Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0).unwrap(),
        duration_ms: 1500,
        result,
        drifted: u64::from(result == RunResult::Drifted) * 3,
        unattributed: 1,
        ignored: 0,
        resolved: 0,
        error: (result == RunResult::Error).then(|| "No valid credential sources found".into()),
        report: serde_json::json!({"workspace": ws}),
    };
    assert!(s.latest_workspace_runs().unwrap().is_empty());
    s.record_workspace_run(&run("network", RunResult::InSync, 0))
        .unwrap();
    s.record_workspace_run(&run("app", RunResult::Error, 1))
        .unwrap();
    s.record_workspace_run(&run("network", RunResult::Drifted, 2))
        .unwrap();
    let board = s.latest_workspace_runs().unwrap();
    let got: Vec<(&str, RunResult)> = board
        .iter()
        .map(|r| (r.workspace.as_str(), r.result))
        .collect();
    assert_eq!(
        got,
        [("app", RunResult::Error), ("network", RunResult::Drifted)]
    );
    assert_eq!(
        board[0].error.as_deref(),
        Some("No valid credential sources found")
    );
    assert_eq!(board[1].report["workspace"], "network");
    let net = s.workspace_runs("network", 10).unwrap();
    assert_eq!(net.len(), 2);
    assert_eq!(net[0].result, RunResult::Drifted, "newest first");
    assert_eq!(
        net[1].started_at,
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
    );
}

/// The issue-tracker link of a drift (GitHub/GitLab channels): absent, written, replaced in
/// place, separate per channel, and still there after reopening the store.
fn issue_links_are_stored_and_replaced_per_channel_and_drift(b: Backend) {
    use tfdrift::store::IssueLink;
    let db = Db::new(b);
    let s = db.open();
    assert_eq!(s.issue_link("gh", "drf-1").unwrap(), None);
    let mut link = IssueLink {
        channel: "gh".into(),
        drift_id: "drf-1".into(),
        number: 42,
        open: true,
        episode: 1,
        last_sent: Some("opened:1".into()),
        commented_at: None,
    };
    s.put_issue_link(&link).unwrap();
    assert_eq!(s.issue_link("gh", "drf-1").unwrap(), Some(link.clone()));
    link.open = false;
    link.last_sent = Some("resolved:1".into());
    link.commented_at = Some(Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap());
    s.put_issue_link(&link).unwrap();
    assert_eq!(s.issue_link("gl", "drf-1").unwrap(), None, "per channel");
    drop(s);
    let again = db.open();
    assert_eq!(again.issue_link("gh", "drf-1").unwrap(), Some(link));
}

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

/// Remediation requests: a new request supersedes the pending ones of its drift (not other
/// drifts'), newest first, and a status change is a compare-and-set (two approvals racing
/// cannot both move a request to applying).
fn remediations_supersede_and_change_status_only_from_the_expected_one(b: Backend) {
    use tfdrift::remediation::{Kind, Remediation, Status};
    let s = fresh(b);
    let at = Utc.with_ymd_and_hms(2026, 12, 7, 23, 0, 0).unwrap();
    let req = |drift: &str, who: &str| Remediation {
        id: 0,
        drift_id: drift.into(),
        kind: Kind::Restore,
        note: "console change".into(),
        workspace: "shop".into(),
        address: "aws_sqs_queue.jobs".into(),
        requested_by: who.into(),
        requested_at: at,
        expires_at: at + chrono::Duration::minutes(15),
        plan_path: "/tmp/plan".into(),
        plan_sha256: "ab".repeat(32),
        plan_text: "~ visibility_timeout_seconds = 45 -> 30".into(),
        drift_fingerprint: "fp".into(),
        status: Status::Pending,
        approvers: Vec::new(),
        decided_by: None,
        decided_at: None,
        output: String::new(),
        reason: None,
    };
    assert!(s.remediations(None, 10).unwrap().is_empty());
    let a = s.insert_remediation(&req("drf-a", "rita")).unwrap();
    let other = s.insert_remediation(&req("drf-b", "rita")).unwrap();
    let a2 = s.insert_remediation(&req("drf-a", "ada")).unwrap();
    assert!(a < other && other < a2);
    let first = s.remediation(a).unwrap().unwrap();
    assert_eq!(first.status, Status::Superseded);
    assert!(
        first.reason.as_deref().unwrap().contains(&a2.to_string()),
        "{first:?}"
    );
    assert_eq!(
        s.remediation(other).unwrap().unwrap().status,
        Status::Pending
    );
    let mut newest = s.remediation(a2).unwrap().unwrap();
    assert_eq!(newest.requested_by, "ada");
    assert_eq!(newest.kind, Kind::Restore);
    assert_eq!(newest.requested_at, at);
    assert_eq!(newest.plan_text, "~ visibility_timeout_seconds = 45 -> 30");
    let ids: Vec<i64> = s
        .remediations(Some("drf-a"), 10)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [a2, a], "newest first, one drift's only");
    assert_eq!(s.remediations(None, 2).unwrap().len(), 2);

    newest.status = Status::Applying;
    newest.approvers = vec!["bob".into()];
    newest.decided_by = Some("bob".into());
    newest.decided_at = Some(at + chrono::Duration::minutes(1));
    assert!(s.update_remediation(&newest, Status::Pending).unwrap());
    assert!(
        !s.update_remediation(&newest, Status::Pending).unwrap(),
        "a second approval finds it no longer pending"
    );
    newest.status = Status::Applied;
    newest.output = "Apply complete! Resources: 0 added, 1 changed, 0 destroyed.".into();
    assert!(s.update_remediation(&newest, Status::Applying).unwrap());
    let back = s.remediation(a2).unwrap().unwrap();
    assert_eq!(back, newest);
    assert!(s.remediation(9999).unwrap().is_none());
}
