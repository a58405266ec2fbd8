//! Grouping for the monitor, as pure functions over borrowed items: the Now board groups drifts
//! by resource, the feed groups alerts by drift (× count, first and last seen) or by actor
//! session (same actor and via, gaps under [`SESSION_GAP`]: "alice · console · 09:00–09:12 ·
//! 40 changes · 3 critical"). Nothing here knows about the terminal.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use crate::alert::{Severity, Via};

/// A pause longer than this ends an actor's session.
pub const SESSION_GAP: Duration = Duration::minutes(15);

/// How the feed is grouped (the `b` key cycles through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// One row per alert.
    #[default]
    None,
    /// One row per drift: its alerts are occurrences.
    Drift,
    /// One row per actor session.
    Session,
}

impl GroupBy {
    /// The next mode (wraps).
    #[must_use]
    pub fn next(self) -> GroupBy {
        match self {
            GroupBy::None => GroupBy::Drift,
            GroupBy::Drift => GroupBy::Session,
            GroupBy::Session => GroupBy::None,
        }
    }

    /// Name for the title and messages.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            GroupBy::None => "none",
            GroupBy::Drift => "by drift",
            GroupBy::Session => "by actor session",
        }
    }
}

/// One thing to group (an alert or a drift), with what grouping needs.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// The caller's index (feed entry, position in a drift list).
    pub idx: u32,
    /// When (alert time; a drift's last seen).
    pub time: DateTime<Utc>,
    /// Severity.
    pub severity: Severity,
    /// Not acknowledged, snoozed or resolved.
    pub unhandled: bool,
    /// What [`by_key`] groups on (drift id, resource).
    pub key: &'a str,
    /// Who.
    pub actor: &'a str,
    /// How.
    pub via: Via,
}

/// A group of items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The key (`by_key`), or `actor·via·start` for a session.
    pub key: String,
    /// Members' indices: input order for [`by_key`], oldest first for [`sessions`].
    pub members: Vec<u32>,
    /// Earliest member time.
    pub first: DateTime<Utc>,
    /// Latest member time.
    pub last: DateTime<Utc>,
    /// Highest severity.
    pub worst: Severity,
    /// Critical members.
    pub critical: usize,
    /// Unhandled members.
    pub unhandled: usize,
    /// The actor of a session (of the first member otherwise).
    pub actor: String,
    /// The via of a session (of the first member otherwise).
    pub via: Via,
}

impl Group {
    fn start(key: String, it: &Item<'_>) -> Group {
        Group {
            key,
            members: Vec::new(),
            first: it.time,
            last: it.time,
            worst: it.severity,
            critical: 0,
            unhandled: 0,
            actor: it.actor.to_string(),
            via: it.via,
        }
    }

    fn add(&mut self, it: &Item<'_>) {
        self.members.push(it.idx);
        self.first = self.first.min(it.time);
        self.last = self.last.max(it.time);
        self.worst = self.worst.max(it.severity);
        self.critical += usize::from(it.severity == Severity::Critical);
        self.unhandled += usize::from(it.unhandled);
    }
}

/// Groups items on their key. Groups come in the order of their first member in the input
/// (so a sorted input gives groups sorted by their best member), members in input order.
#[must_use]
pub fn by_key(items: &[Item<'_>]) -> Vec<Group> {
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Group> = Vec::new();
    for it in items {
        let i = *at.entry(it.key).or_insert_with(|| {
            out.push(Group::start(it.key.to_string(), it));
            out.len() - 1
        });
        out[i].add(it);
    }
    out
}

/// Groups items into actor sessions: the same actor and via, each change less than `gap`
/// after the previous one. Members oldest first; sessions newest (last change) first.
#[must_use]
pub fn sessions(items: &[Item<'_>], gap: Duration) -> Vec<Group> {
    let mut sorted: Vec<&Item<'_>> = items.iter().collect();
    sorted.sort_by(|a, b| {
        (a.actor, a.via as u8, a.time, a.idx).cmp(&(b.actor, b.via as u8, b.time, b.idx))
    });
    let mut out: Vec<Group> = Vec::new();
    for it in sorted {
        let same = out.last().is_some_and(|g: &Group| {
            g.actor == it.actor && g.via == it.via && it.time - g.last < gap
        });
        if !same {
            let key = format!(
                "{}·{}·{}",
                it.actor,
                crate::tui::filter::via_name(it.via),
                it.time.timestamp()
            );
            out.push(Group::start(key, it));
        }
        if let Some(g) = out.last_mut() {
            g.add(it);
        }
    }
    out.sort_by(|a, b| b.last.cmp(&a.last).then_with(|| a.key.cmp(&b.key)));
    out
}

/// `09:00` today, `Nov 26 09:00` on another day.
fn hm(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%b %d %H:%M").to_string()
    }
}

/// `alice · console · 09:00–09:12 · 40 changes · 3 critical`.
#[must_use]
pub fn session_label(g: &Group, now: DateTime<Utc>) -> String {
    let span = if g.first == g.last {
        hm(g.first, now)
    } else if g.first.date_naive() == g.last.date_naive() {
        format!("{}–{}", hm(g.first, now), g.last.format("%H:%M"))
    } else {
        format!("{}–{}", hm(g.first, now), hm(g.last, now))
    };
    let n = g.members.len();
    let mut s = format!(
        "{} · {} · {span} · {n} change{}",
        g.actor,
        crate::tui::filter::via_name(g.via),
        if n == 1 { "" } else { "s" }
    );
    if g.critical > 0 {
        let _ = write!(s, " · {} critical", g.critical);
    }
    s
}

/// `× 14 · first 09:00 · last 09:12` for a drift group.
#[must_use]
pub fn drift_label(g: &Group, now: DateTime<Utc>) -> String {
    format!(
        "× {} · first {} · last {}",
        g.members.len(),
        hm(g.first, now),
        hm(g.last, now)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn item<'a>(idx: u32, min: i64, actor: &'a str, via: Via, key: &'a str) -> Item<'a> {
        Item {
            idx,
            time: t(min),
            severity: if idx.is_multiple_of(13) {
                Severity::Critical
            } else {
                Severity::Low
            },
            unhandled: true,
            key,
            actor,
            via,
        }
    }

    #[test]
    fn a_forty_change_console_session_is_one_group() {
        // alice clicks through the console for 12 minutes: 40 changes, never 15 min apart.
        let mut items: Vec<Item<'_>> = (0..40u32)
            .map(|i| item(i, i64::from(i) * 12 / 39, "alice", Via::Console, "k"))
            .collect();
        // The same person from the CLI, and bob in the console meanwhile: other sessions.
        items.push(item(40, 5, "alice", Via::Cli, "k"));
        items.push(item(41, 6, "bob", Via::Console, "k"));
        // alice again after a 20-minute pause: a new session.
        items.push(item(42, 32, "alice", Via::Console, "k"));
        let groups = sessions(&items, SESSION_GAP);
        assert_eq!(groups.len(), 4, "{groups:#?}");
        let big = groups.iter().find(|g| g.members.len() == 40).unwrap();
        assert_eq!(big.members, (0..40).collect::<Vec<_>>());
        assert_eq!(big.critical, 4, "indices 0, 13, 26, 39");
        let now = t(60);
        assert_eq!(
            session_label(big, now),
            "alice · console · 09:00–09:12 · 40 changes · 4 critical"
        );
        // Newest session first.
        assert_eq!(groups[0].members, vec![42]);
        assert_eq!(
            session_label(&groups[0], now),
            "alice · console · 09:32 · 1 change"
        );
    }

    #[test]
    fn a_gap_of_exactly_fifteen_minutes_splits() {
        let items = [
            item(1, 0, "a", Via::Cli, "k"),
            item(2, 14, "a", Via::Cli, "k"),
            item(3, 29, "a", Via::Cli, "k"),
        ];
        let groups = sessions(&items, SESSION_GAP);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].members, vec![1, 2]);
        assert_eq!(groups[0].members, vec![3]);
    }

    #[test]
    fn by_key_keeps_input_order_and_counts() {
        let mut items = vec![
            item(0, 3, "a", Via::Cli, "drf-b"),
            item(1, 1, "a", Via::Cli, "drf-a"),
            item(2, 2, "b", Via::Console, "drf-b"),
            item(3, 0, "c", Via::Sdk, "drf-b"),
        ];
        items[2].unhandled = false;
        let groups = by_key(&items);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].key, "drf-b");
        assert_eq!(groups[0].members, vec![0, 2, 3]);
        assert_eq!(groups[0].first, t(0));
        assert_eq!(groups[0].last, t(3));
        assert_eq!(groups[0].unhandled, 2);
        assert_eq!(groups[0].worst, Severity::Critical, "index 0 is critical");
        assert_eq!(groups[1].members, vec![1]);
        assert_eq!(
            drift_label(&groups[0], t(60)),
            "× 3 · first 09:00 · last 09:03"
        );
    }

    #[test]
    fn modes_cycle() {
        assert_eq!(GroupBy::None.next(), GroupBy::Drift);
        assert_eq!(GroupBy::Drift.next(), GroupBy::Session);
        assert_eq!(GroupBy::Session.next(), GroupBy::None);
    }
}
