//! Board order, grouping by resource, the cells people read, and the Markdown copy.

use chrono::{Duration, TimeZone};
use serde_json::json;

use super::*;

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap() + Duration::minutes(min)
}

fn drift(
    id: &str,
    addr: Option<&str>,
    attr: &str,
    sev: Severity,
    status: Status,
    last: i64,
) -> Drift {
    Drift {
        id: id.into(),
        key: format!("|{}|{attr}", addr.unwrap_or("aws:aws_instance:i-1")),
        kind: "attribute_drift".into(),
        provider: "aws".into(),
        rtype: "aws_security_group".into(),
        resource_id: "sg-1".into(),
        address: addr.map(String::from),
        attribute: attr.into(),
        status,
        snoozed_until: (status == Status::Snoozed).then(|| t(120)),
        first_seen: t(0),
        last_seen: t(last),
        occurrences: 3,
        episode: 1,
        actors: vec!["bob".into(), "alice".into()],
        observed: json!("x"),
        state_value: json!("y"),
        severity: sev,
        rules: Vec::new(),
        last_alert_id: format!("alert-{id}"),
        resolved_at: None,
        resolved_reason: None,
        resolved_by: None,
        updated_at: t(last + 1),
        channels: Vec::new(),
    }
}

#[test]
fn worst_first_then_unhandled_then_newest() {
    let drifts = vec![
        drift("a", Some("r.a"), "x", Severity::High, Status::Open, 5),
        drift(
            "b",
            Some("r.b"),
            "x",
            Severity::Critical,
            Status::Acknowledged,
            9,
        ),
        drift("c", Some("r.c"), "x", Severity::Critical, Status::Open, 1),
        drift("d", Some("r.d"), "x", Severity::High, Status::Snoozed, 50),
        drift("e", Some("r.e"), "x", Severity::High, Status::Open, 7),
        drift("f", Some("r.f"), "x", Severity::Low, Status::Open, 99),
    ];
    let ids: Vec<&str> = order(&drifts)
        .iter()
        .map(|i| drifts[*i].id.as_str())
        .collect();
    // Critical before high; an unhandled critical before an acknowledged one however new;
    // among unhandled highs the newest first; the snoozed high after them.
    assert_eq!(ids, ["c", "b", "e", "a", "d", "f"]);
}

#[test]
fn rows_group_by_resource_in_the_order_of_their_worst_drift() {
    let drifts = vec![
        drift(
            "a",
            Some("aws_security_group.web"),
            "ingress",
            Severity::Critical,
            Status::Open,
            1,
        ),
        drift("b", None, "", Severity::High, Status::Open, 2),
        drift(
            "c",
            Some("aws_security_group.web"),
            "tags.Env",
            Severity::Low,
            Status::Open,
            3,
        ),
    ];
    let mut b = NowBoard::default();
    b.rebuild(&[], &drifts);
    assert_eq!(
        b.rows,
        vec![
            BoardRow::Resource {
                label: "aws_security_group.web".into(),
                members: vec![0, 2]
            },
            BoardRow::Drift(0),
            BoardRow::Drift(2),
            BoardRow::Resource {
                label: "aws_security_group:sg-1".into(),
                members: vec![1]
            },
            BoardRow::Drift(1),
        ]
    );
    assert_eq!(
        b.selected_drifts(),
        vec![0, 2],
        "a resource row covers its drifts"
    );
    // The selection follows its row through a reload that reorders.
    b.sel = 4;
    let mut again = drifts.clone();
    again[1].severity = Severity::Critical;
    again[1].last_seen = t(30);
    let old = drifts.clone();
    b.rebuild(&old, &again);
    assert_eq!(b.rows[b.sel], BoardRow::Drift(1));
    assert_eq!(b.sel, 1);
}

#[test]
fn cells_say_who_until_when_and_how_long() {
    let now = t(24 * 60 + 75);
    let mut d = drift("a", Some("r.a"), "", Severity::High, Status::Snoozed, 60);
    let known = Known {
        by: Some(Handled {
            who: "alice (tui)".into(),
            at: t(61),
        }),
        via: Some(Via::Console),
        faded_at: None,
    };
    let c = cells(&d, &known, now);
    assert_eq!(c.attribute, "(resource)");
    assert_eq!(c.status, "Z until Nov 27 11:00 by alice");
    assert_eq!(c.age, "1d1h");
    assert_eq!(c.count, "×3");
    assert_eq!(c.actor, "alice · console");
    d.status = Status::Acknowledged;
    assert_eq!(status_text(&d, &Known::default(), t(70)), "A acked 10:01");
    d.status = Status::Open;
    assert_eq!(status_text(&d, &known, now), "● open");
    assert_eq!(age(59), "59s");
    assert_eq!(age(3600 + 120), "1h02m");
}

#[test]
fn board_markdown_is_a_table_with_one_row_per_drift() {
    let drifts = vec![
        drift(
            "a",
            Some("aws_security_group.web"),
            "ingress",
            Severity::Critical,
            Status::Open,
            1,
        ),
        drift(
            "c",
            Some("aws_security_group.web"),
            "tags.Env",
            Severity::Low,
            Status::Open,
            3,
        ),
    ];
    let mut b = NowBoard::default();
    b.rebuild(&[], &drifts);
    let cells_of = |i: usize| {
        let d = drifts.get(i)?;
        Some((
            d.severity.as_str().to_string(),
            cells(d, &Known::default(), t(90)),
        ))
    };
    let md = crate::tui::markdown::board("Open drifts", &b.rows, &cells_of);
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "**Open drifts**");
    assert_eq!(
        lines[2],
        "| Severity | Resource | Attribute | Status | Open for | Seen | Last actor | Why it matters |"
    );
    assert_eq!(lines[3], "|---|---|---|---|---|---|---|---|");
    assert_eq!(
        lines[4],
        "| critical | `aws_security_group.web` | `ingress` | ● open | 1h30m | ×3 | alice | ingress: y → x |"
    );
    assert!(lines[5].starts_with("| low | `aws_security_group.web` | `tags.Env` |"));
    assert_eq!(lines.len(), 6, "no row for the resource itself:\n{md}");
}

#[test]
fn a_resolved_drift_says_how_by_whom_and_when_and_sorts_last() {
    let mut d = drift(
        "a",
        Some("r.a"),
        "x",
        Severity::Critical,
        Status::Resolved,
        5,
    );
    d.resolved_reason = Some(crate::drift::Reason::Reverted);
    d.resolved_by = Some("bob".into());
    d.resolved_at = Some(t(10));
    assert_eq!(
        status_text(&d, &Known::default(), t(12)),
        "resolved · reverted by bob 2m ago"
    );
    d.resolved_by = None;
    d.resolved_reason = Some(crate::drift::Reason::Accepted);
    assert_eq!(
        status_text(&d, &Known::default(), t(10)),
        "resolved · accepted 0s ago"
    );
    // Below every unresolved drift, however severe.
    let drifts = vec![
        d,
        drift("b", Some("r.b"), "x", Severity::Low, Status::Snoozed, 1),
        drift("c", Some("r.c"), "x", Severity::Info, Status::Open, 1),
    ];
    let ids: Vec<&str> = order(&drifts)
        .iter()
        .map(|i| drifts[*i].id.as_str())
        .collect();
    assert_eq!(ids, ["b", "c", "a"]);
    assert_eq!(NowBoard::counts(&drifts), (2, 0, 0, 1));
}
