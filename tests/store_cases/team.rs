//! Drift resolution, the team-mode journal and acknowledgement resolves, on both backends.

use chrono::{Duration, Utc};
use tfdrift::store::{OutboxItem, OutboxStatus, Target, fingerprint};

use super::{Backend, demo_alerts, fresh};

/// A drift resolved from outside an event (a state refresh) is resolved once, with a `resolve`
/// for each channel told about it; a person's action on it after that is refused.
pub(crate) fn drifts_resolve_and_tell_every_channel_told(b: Backend) {
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
pub(crate) fn every_writer_is_journaled_and_prune_drops_a_prefix(b: Backend) {
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
pub(crate) fn acks_enqueue_resolves_for_channels_that_asked(b: Backend) {
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
