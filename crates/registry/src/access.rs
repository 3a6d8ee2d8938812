//! Who may read a package by default, by its name: Verdaccio's `packages:` patterns carried over
//! (`[[registry.access]]`: `"@scope/*"`, `"**"`, …, first match wins) with the read access a team
//! had there (`$all` → `public`, `$authenticated` → `signed_in`, anyone named →
//! `organization`). A package follows the rules until someone chooses its visibility with
//! `npm access`; then that choice stands.

use std::sync::Arc;

use serde_json::json;
use vextrus_audit::{Actor, ActorKind, NewEvent, Target};
use vextrus_db::{Database, DbError, TenantId, Tx};

use crate::proxy::matches_pattern;
use crate::service::RegistryError;

/// One rule: names matching `pattern` are readable by `read` (`organization`, `signed_in` or
/// `public`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    pub pattern: String,
    pub read: &'static str,
}

impl AccessRule {
    /// A rule from the configuration; `read` is one of the three visibilities.
    pub fn new(pattern: &str, read: &str) -> Result<Self, String> {
        let read = match read {
            "organization" => "organization",
            "signed_in" => "signed_in",
            "public" => "public",
            other => return Err(format!("read = {other:?}: organization, signed_in or public")),
        };
        if pattern.trim().is_empty() {
            return Err("a rule needs a package pattern (\"@scope/*\", \"**\")".into());
        }
        Ok(Self { pattern: pattern.trim().to_owned(), read })
    }
}

/// The rules, in order.
#[derive(Debug, Clone, Default)]
pub struct AccessRules(Arc<[AccessRule]>);

impl AccessRules {
    pub fn new(rules: Vec<AccessRule>) -> Self {
        Self(rules.into())
    }

    /// Who may read `name` unless its visibility was chosen: the first matching rule's, else
    /// the organization only.
    pub fn default_for(&self, name: &str) -> &'static str {
        self.0.iter().find(|r| matches_pattern(&r.pattern, name)).map_or("organization", |r| r.read)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Some rule lets anyone read, without a token.
    pub fn any_public(&self) -> bool {
        self.0.iter().any(|r| r.read == "public")
    }
}

/// Brings every package whose visibility nobody chose in line with `rules` (at start, and after
/// a publish creates a package); each change is in its organization's audit trail, by the
/// configuration. Answers how many changed.
pub async fn apply(db: &Database, rules: &AccessRules, only: Option<(TenantId, &str)>) -> Result<u64, RegistryError> {
    let mut tx = db.system().await?;
    let following: Vec<(TenantId, String, String)> = sqlx::query_as(
        "SELECT tenant_id, name, visibility FROM registry.packages
          WHERE NOT visibility_explicit AND ($1::uuid IS NULL OR (tenant_id = $1 AND name = $2))
          ORDER BY tenant_id, name",
    )
    .bind(only.map(|(t, _)| t))
    .bind(only.map(|(_, n)| n))
    .fetch_all(tx.conn())
    .await
    .map_err(DbError::from)?;
    tx.commit().await?;
    let mut changed = 0;
    for (tenant, name, visibility) in following {
        let wanted = rules.default_for(&name);
        if wanted == visibility {
            continue;
        }
        let mut tx = db.tenant(tenant).await?;
        let updated = sqlx::query(
            "UPDATE registry.packages SET visibility = $3 WHERE tenant_id = $1 AND name = $2 AND NOT visibility_explicit",
        )
        .bind(tenant)
        .bind(&name)
        .bind(wanted)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?
        .rows_affected();
        if updated == 1 {
            let actor = Actor::new(ActorKind::System, None, Some("registry.access".to_owned()));
            let event = NewEvent::new(tenant, actor, "registry.package.visibility")
                .target(Target::new("package", &name))
                .changes(json!({"visibility": {"before": visibility, "after": wanted}}))
                .metadata(json!({"by": "configuration", "rule": rules.0.iter().find(|r| matches_pattern(&r.pattern, &name)).map(|r| &r.pattern)}));
            vextrus_audit::record(&mut tx, event).await?;
            changed += 1;
        }
        tx.commit().await?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_rule_decides_and_nothing_matching_stays_with_the_organization() {
        let rules = AccessRules::new(vec![
            AccessRule::new("@vextrus/internal-*", "organization").unwrap(),
            AccessRule::new("@vextrus/*", "public").unwrap(),
            AccessRule::new("@*/*", "signed_in").unwrap(),
        ]);
        assert_eq!(rules.default_for("@vextrus/internal-ledger"), "organization");
        assert_eq!(rules.default_for("@vextrus/kernel"), "public");
        assert_eq!(rules.default_for("@acme/widget"), "signed_in");
        assert_eq!(rules.default_for("left-pad"), "organization");
        assert!(AccessRule::new("**", "$all").is_err());
        assert!(AccessRule::new(" ", "public").is_err());
    }
}
