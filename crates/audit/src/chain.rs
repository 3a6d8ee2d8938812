//! The hash chain: each event's hash is SHA-256 over the previous hash and a canonical JSON
//! serialisation of the event (fixed field order; object keys sorted; time in RFC 3339 with
//! microseconds, as PostgreSQL keeps it). Anyone with an export can recompute it.

use chrono::SecondsFormat;
use ring::digest::{Context, SHA256};
use serde::Serialize;

use crate::model::{Actor, Event, Target};

pub const GENESIS: [u8; 32] = [0; 32];

#[derive(Serialize)]
struct Canonical<'a> {
    tenant_id: String,
    seq: i64,
    id: String,
    occurred_at: String,
    actor: &'a Actor,
    action: &'a str,
    target: &'a Option<Target>,
    outcome: &'a str,
    changes: &'a serde_json::Value,
    metadata: &'a serde_json::Value,
}

/// The hash an event must have, given the hash before it.
pub fn hash(prev: &[u8], event: &Event) -> [u8; 32] {
    let mut context = Context::new(&SHA256);
    context.update(prev);
    context.update(&canonical(event));
    let mut out = [0u8; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// The canonical JSON of an event split around its `seq` (whose digits go between), for the
/// database to number and hash it in one step. `event.seq` is ignored.
pub fn canonical_halves(event: &Event) -> (String, String) {
    let mut numbered = event.clone();
    numbered.seq = 0;
    let text = String::from_utf8(canonical(&numbered)).expect("JSON is UTF-8");
    // `tenant_id` (a UUID string) comes first, so the first `"seq":0` is the field.
    let at = text.find("\"seq\":0").expect("seq is serialised") + "\"seq\":".len();
    (text[..at].to_owned(), text[at + 1..].to_owned())
}

fn canonical(event: &Event) -> Vec<u8> {
    let canonical = Canonical {
        tenant_id: event.tenant_id.to_string(),
        seq: event.seq,
        id: event.id.to_string(),
        occurred_at: event.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor: &event.actor,
        action: &event.action,
        target: &event.target,
        outcome: event.outcome.as_str(),
        changes: &event.changes,
        metadata: &event.metadata,
    };
    serde_json::to_vec(&canonical).expect("events serialise")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The action the retention job records after sealing an anchor; its metadata names the anchor
/// (`through_seq`, `through_hash`): the last event it removed.
pub const PURGED: &str = purged!();

/// Where the kept part of a chain begins: the last removed event's `seq` and hash, as named by
/// the chain's latest purge event (so the anchor itself is protected by the chain after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

impl Anchor {
    /// The anchor a purge event names; `None` for any other event.
    pub fn named_by(event: &Event) -> Option<Anchor> {
        if event.action != PURGED {
            return None;
        }
        let seq = event.metadata.get("through_seq")?.as_i64()?;
        let hash = event.metadata.get("through_hash")?.as_str()?.to_owned();
        Some(Anchor { seq, hash })
    }
}

/// The first bad `seq` of a whole chain held in memory (an export), walked from the genesis or
/// from the anchor its latest purge event names; `None`: the chain holds.
pub fn first_bad(events: &[Event]) -> Option<i64> {
    let first = events.first()?;
    let anchor = events.iter().rev().find_map(Anchor::named_by);
    let mut walk = match Walk::start(first, anchor) {
        Ok(walk) => walk,
        Err(bad) => return Some(bad),
    };
    walk.feed(events).and_then(|()| walk.finish()).err()
}

/// Walks a chain in `seq` order, page by page, and says where it first breaks: a gap, a wrong
/// `prev_hash`, a wrong `hash`, or an anchored event whose hash is not the anchor's.
#[derive(Debug, Clone)]
pub struct Walk {
    prev: String,
    last_seq: i64,
    anchor: Option<Anchor>,
    checked: i64,
}

impl Walk {
    /// Starts before `first`, the oldest event kept: from the genesis when it is `seq` 1;
    /// otherwise the events before it must have been removed under `anchor` (the chain's latest
    /// purge event), or the first missing `seq` is the error.
    pub fn start(first: &Event, anchor: Option<Anchor>) -> Result<Walk, i64> {
        if first.seq == 1 {
            return Ok(Walk { prev: hex(&GENESIS), last_seq: 0, anchor, checked: 0 });
        }
        let anchor = match anchor {
            Some(a) if a.seq >= first.seq - 1 => a,
            other => return Err(other.map_or(0, |a| a.seq) + 1),
        };
        if anchor.seq == first.seq - 1 && anchor.hash != first.prev_hash {
            return Err(first.seq);
        }
        // Events up to the anchor that are still there (a purge cut short) must lead to it.
        Ok(Walk { prev: first.prev_hash.clone(), last_seq: first.seq - 1, anchor: Some(anchor), checked: 0 })
    }

    /// Checks the next events; `Err` is the first bad `seq`.
    pub fn feed(&mut self, events: &[Event]) -> Result<(), i64> {
        for event in events {
            let expected = self.last_seq + 1;
            if event.seq != expected || event.prev_hash != self.prev {
                return Err(expected.min(event.seq));
            }
            let computed = hex(&hash(&from_hex(&self.prev), event));
            let anchored = self.anchor.as_ref().is_some_and(|a| a.seq == event.seq && a.hash != computed);
            if computed != event.hash || anchored {
                return Err(event.seq);
            }
            self.prev = computed;
            self.last_seq = event.seq;
            self.checked += 1;
        }
        Ok(())
    }

    /// After the last event: an anchor past the end means events are missing from the end.
    pub fn finish(&self) -> Result<(), i64> {
        match &self.anchor {
            Some(a) if a.seq > self.last_seq => Err(self.last_seq + 1),
            _ => Ok(()),
        }
    }

    /// The `seq` and hash of the last event checked (the start's, before any).
    pub fn head(&self) -> (i64, &str) {
        (self.last_seq, &self.prev)
    }

    pub fn checked(&self) -> i64 {
        self.checked
    }
}

pub fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}
