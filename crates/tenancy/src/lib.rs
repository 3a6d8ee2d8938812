//! Organizations (tenants): a unique slug, a name, a status (active or suspended) and settings
//! (timezone, currency, locale) that default to Bangladesh: Asia/Dhaka, BDT, bn-BD.

mod error;
pub mod http;
pub mod model;
pub mod permissions;
pub mod plans;
pub use model::OrgRef;
pub mod service;
mod store;

pub use error::TenancyError;
pub use model::{Currency, Locale, OrgName, OrgSlug, OrgStatus, Organization, Settings, Timezone};

use vextrus_db::{Migration, ModuleMigrations};

/// `NOTIFY` channel on which an organization's id is sent when its status changes.
pub const STATUS_CHANNEL: &str = "vextrus_org_status";

pub const MIGRATIONS: ModuleMigrations = ModuleMigrations {
    module: "tenancy",
    migrations: &[
        Migration { version: 1, name: "organizations", sql: include_str!("../migrations/0001_organizations.sql") },
        Migration { version: 2, name: "member_updates", sql: include_str!("../migrations/0002_member_updates.sql") },
        Migration { version: 3, name: "plans", sql: include_str!("../migrations/0003_plans.sql") },
    ],
};
