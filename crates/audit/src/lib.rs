//! The audit trail: every change recorded in the same transaction as the change, in a hash
//! chain per tenant (and one for the platform), append-only, searchable and verifiable.
//!
//! This crate is the core that every module records through; it depends on no feature crate.
//! The HTTP API (with its permission guards) is `vextrus-audit-api`.

/// The purge event's action, for SQL text as well as Rust (see `chain::PURGED`).
macro_rules! purged {
    () => {
        "audit.events.purged"
    };
}

pub mod chain;
pub mod checkpoint;
pub mod jobs;
pub mod model;
pub mod retention;
pub mod service;
mod store;

use vextrus_db::{Migration, ModuleMigrations};

pub use checkpoint::Signer;
pub use model::{Actor, ActorKind, Event, NewEvent, Outcome, Target, changes};
pub use service::{VerifyReport, export_page, record, search, verify};
pub use store::Filter;

pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "audit",
    migrations: &[
        Migration { version: 1, name: "events", sql: include_str!("../migrations/0001_events.sql") },
        Migration { version: 2, name: "append_function", sql: include_str!("../migrations/0002_append_function.sql") },
        Migration { version: 3, name: "checkpoints", sql: include_str!("../migrations/0003_checkpoints.sql") },
        Migration { version: 4, name: "retention", sql: include_str!("../migrations/0004_retention.sql") },
        Migration {
            version: 5,
            name: "append_one_update",
            sql: include_str!("../migrations/0005_append_one_update.sql"),
        },
    ],
};
