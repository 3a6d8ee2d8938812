//! PostgreSQL for every module: the embedded cluster, roles and migrations, the tenant
//! transaction through which alone tenant tables are reached, and the job queue (outbox).
//!
//! Three roles (names configurable):
//! - **owner** owns every schema and table; migrations run as it (`SET ROLE`);
//! - **app** is the request path: owns nothing, no BYPASSRLS; sees a tenant's rows only inside a
//!   [`TenantTx`], which sets `vextrus.tenant_id` for that transaction alone;
//! - **system** is the explicitly cross-tenant path ([`SystemTx`]: job dispatch, platform
//!   operators). It owns nothing either; each tenant table grants it a policy of its own, so no
//!   role needs BYPASSRLS (which managed PostgreSQL services do not hand out).

pub mod embedded;
mod error;
mod follow;
pub mod jobs;
pub mod limits;
mod migrate;
mod page;
mod pool;
mod roles;
mod tenant;

pub use error::{DbError, error_chain};
pub use follow::{Expiring, Reload, follow};
pub use migrate::{Migration, ModuleMigrations, apply_migrations, pending_migrations};
pub use page::next_page;
pub use pool::{Database, DatabaseOptions, PoolStats};
pub use roles::{RoleNames, bootstrap_roles, check_roles};
pub use tenant::{ScopedTx, SystemReads, SystemTx, TenantId, TenantTx, Tx};

/// The `db` crate's own migrations (bookkeeping helpers and the job queue); apply them first.
pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "db",
    migrations: &[
        Migration { version: 1, name: "job_queue", sql: include_str!("../migrations/0001_job_queue.sql") },
        Migration { version: 2, name: "limits", sql: include_str!("../migrations/0002_limits.sql") },
        Migration {
            version: 3,
            name: "job_claim_indexes",
            sql: include_str!("../migrations/0003_job_claim_indexes.sql"),
        },
    ],
};

pub use sqlx;
