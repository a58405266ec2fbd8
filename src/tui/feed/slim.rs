//! Bounded memory for the feed: only the newest alerts are held in full; older ones are
//! slimmed to what the table, sort and filter need (the details re-read them from the store),
//! and past a cap the oldest are dropped from memory altogether (they stay in the store).

use super::{Counts, Entry, Feed, SortKeys, Status, sev_index};
use crate::alert::Enrichment;

/// Drops what only the details need: enrichment (identity, tags, history, blast radius), diff
/// values (policies can be kilobytes), remediation, runbook, user agent.
pub(super) fn slim(e: &mut Entry) {
    if e.slim {
        return;
    }
    let a = &mut e.alert;
    a.enrichment = Enrichment::default();
    for d in &mut a.diffs {
        d.state = serde_json::Value::Null;
        d.observed = serde_json::Value::Null;
        d.path.shrink_to_fit();
    }
    a.diffs.shrink_to_fit();
    a.remediation = Vec::new();
    a.runbook = None;
    a.actor.user_agent = None;
    a.schema = String::new();
    e.slim = true;
}

impl Feed {
    /// Keeps full alerts for only the newest `full_kept` (needs a store to re-read the
    /// others' details) and at most `max_held` alerts in memory.
    pub fn set_limits(&mut self, full_kept: Option<usize>, max_held: usize) {
        self.full_kept = full_kept;
        self.max_held = max_held.max(10);
        self.slim_old();
    }

    /// Alerts dropped from memory (the oldest; still in the store).
    #[must_use]
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    pub(super) fn slim_old(&mut self) {
        if let Some(n) = self.full_kept {
            while self.entries.len().saturating_sub(self.slim_upto) > n {
                slim(&mut self.entries[self.slim_upto]);
                self.slim_upto += 1;
            }
        }
        if self.entries.len() > self.max_held {
            self.drop_oldest(self.max_held / 10);
        }
    }

    /// Drops the `n` oldest (by arrival) entries and rebuilds the index (amortised: a tenth at
    /// a time).
    fn drop_oldest(&mut self, n: usize) {
        let n = n.clamp(1, self.entries.len());
        let cut = self.hay_ends[n - 1];
        self.entries.drain(..n);
        self.hay.drain(..cut);
        self.hay_ends.drain(..n);
        for end in &mut self.hay_ends {
            *end -= cut;
        }
        self.keys.drain(..n);
        self.slim_upto = self.slim_upto.saturating_sub(n);
        self.dropped += n;
        let mut counts = Counts::default();
        for e in &self.entries {
            counts.by_severity[sev_index(e.alert.severity)] += 1;
            if e.status == Status::New {
                counts.unhandled += 1;
            }
        }
        self.counts = counts;
        self.rebuild();
    }

    /// Bytes held on the heap and inline (an estimate for the docs and the bench).
    #[must_use]
    pub fn approx_bytes(&self) -> usize {
        let inline = self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.view.capacity() * std::mem::size_of::<u32>()
            + self.hay.capacity()
            + self.hay_ends.capacity() * std::mem::size_of::<usize>()
            + self.keys.capacity() * std::mem::size_of::<SortKeys>();
        let heap: usize = self.entries.iter().map(entry_heap_bytes).sum();
        inline + heap
    }
}

fn opt_len(s: Option<&String>) -> usize {
    s.map_or(0, String::capacity)
}

fn entry_heap_bytes(e: &Entry) -> usize {
    let a = &e.alert;
    e.why.len()
        + a.schema.capacity()
        + a.id.capacity()
        + a.provider.capacity()
        + a.resource.rtype.capacity()
        + a.resource.id.capacity()
        + opt_len(a.resource.address.as_ref())
        + a.diffs.capacity() * std::mem::size_of::<crate::alert::Diff>()
        + a.diffs
            .iter()
            .map(|d| d.path.capacity() + d.state.to_string().len() + d.observed.to_string().len())
            .sum::<usize>()
        + a.event.id.capacity()
        + a.event.name.capacity()
        + a.event.service.capacity()
        + opt_len(a.event.region.as_ref())
        + opt_len(a.event.account.as_ref())
        + [
            &a.actor.identity_type,
            &a.actor.principal,
            &a.actor.arn,
            &a.actor.email,
            &a.actor.session,
            &a.actor.user_agent,
            &a.actor.source_ip,
        ]
        .iter()
        .map(|s| opt_len(s.as_ref()))
        .sum::<usize>()
        + a.rules.iter().map(String::capacity).sum::<usize>()
        + a.remediation.iter().map(String::capacity).sum::<usize>()
        + opt_len(a.runbook.as_ref())
}
