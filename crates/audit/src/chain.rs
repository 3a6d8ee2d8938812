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

/// The first `seq` at which a tenant's events (in `seq` order) stop forming a valid chain: a
/// gap, a wrong `prev_hash` or a wrong `hash`. `None`: the chain holds.
pub fn first_bad(events: &[Event], start_hash: &[u8], start_seq: i64) -> Option<i64> {
    let mut prev = hex(start_hash);
    for (expected_seq, event) in (start_seq + 1..).zip(events) {
        if event.seq != expected_seq || event.prev_hash != prev {
            return Some(expected_seq.min(event.seq));
        }
        let computed = hex(&hash(&from_hex(&prev), event));
        if computed != event.hash {
            return Some(event.seq);
        }
        prev = computed;
    }
    None
}

pub fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len() / 2).filter_map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect()
}
