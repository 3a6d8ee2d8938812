//! `/v1/orgs`: organizations, for platform operators. One file per action.

mod create;
mod get;
mod list;
mod plans;
mod status;
mod update;

use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vextrus_server::{ApiError, AppState};

use crate::model::{Currency, Locale, OrgRef, SettingsChange, Timezone};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_org, list::list_orgs))
        .routes(routes!(get::get_org, update::update_org))
        .routes(routes!(status::suspend_org))
        .routes(routes!(status::resume_org))
        .routes(routes!(plans::list_plans))
        .routes(routes!(plans::put_plan, plans::delete_plan))
        .routes(routes!(plans::set_org_plan))
}

/// Settings in a request; absent fields keep their value (or the default, on creation).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// IANA time zone, e.g. `Asia/Dhaka`.
    pub timezone: Option<String>,
    /// ISO 4217 code, e.g. `BDT`.
    pub currency: Option<String>,
    /// `bn-BD` or `en`.
    pub locale: Option<String>,
}

impl SettingsInput {
    fn parse(self) -> Result<SettingsChange, ApiError> {
        Ok(SettingsChange {
            timezone: self.timezone.as_deref().map(Timezone::parse).transpose().map_err(field("settings.timezone"))?,
            currency: self.currency.as_deref().map(Currency::parse).transpose().map_err(field("settings.currency"))?,
            locale: self.locale.as_deref().map(Locale::parse).transpose().map_err(field("settings.locale"))?,
        })
    }
}

/// Maps a parser's message to a 422 naming `name`.
fn field(name: &'static str) -> impl Fn(String) -> ApiError {
    move |message| ApiError::invalid_field(name, message)
}

/// The `{org}` path segment: an id or a slug. Text that is neither cannot name anything.
fn org_ref(text: &str) -> Result<OrgRef, ApiError> {
    OrgRef::parse(text).ok_or_else(|| ApiError::not_found("org_not_found", format!("No organization {text:?}.")))
}
