//! What an audit event says: who (actor), did what (action) to what (target), with what result
//! (outcome) and which changes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::TenantId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ServiceAccount,
    PlatformOperator,
    /// The platform itself (jobs, sign-up before anyone is signed in).
    System,
    /// Someone not (yet) authenticated: a failed sign-in, an invitation accepted by its code.
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ServiceAccount => "service_account",
            ActorKind::PlatformOperator => "platform_operator",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "user" => ActorKind::User,
            "service_account" => ActorKind::ServiceAccount,
            "platform_operator" => ActorKind::PlatformOperator,
            "system" => ActorKind::System,
            _ => ActorKind::Anonymous,
        }
    }
}

/// Who acted. `ip`, `user_agent` and `request_id` are filled from the request being handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    #[serde(rename = "type")]
    pub kind: ActorKind,
    pub id: Option<Uuid>,
    pub username: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// An actor of `kind`, with the current request's origin.
    pub fn new(kind: ActorKind, id: Option<Uuid>, username: Option<String>) -> Self {
        let context = vextrus_server::request_id::context().unwrap_or_default();
        Actor {
            kind,
            id,
            username,
            ip: context.ip,
            user_agent: context.user_agent,
            request_id: vextrus_server::request_id::current(),
        }
    }

    pub fn system() -> Self {
        Self::new(ActorKind::System, None, None)
    }

    pub fn anonymous() -> Self {
        Self::new(ActorKind::Anonymous, None, None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "success" => Outcome::Success,
            "denied" => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl Target {
    pub fn new(kind: &str, id: impl ToString) -> Self {
        Target { kind: kind.to_owned(), id: id.to_string() }
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The organization's chain, or `TenantId::PLATFORM` for platform-level events.
    pub tenant: TenantId,
    pub actor: Actor,
    /// Dotted and stable (`tenancy.organization.update`), or OWASP's vocabulary for
    /// authentication (`authn_login_fail`).
    pub action: &'static str,
    pub target: Option<Target>,
    pub outcome: Outcome,
    /// `{"field": {"before": …, "after": …}}` for what changed; never secrets.
    pub changes: serde_json::Value,
    pub metadata: serde_json::Value,
    /// When it happened, if not now: for importing history (and tests). The chain is ordered
    /// by `seq`; retention removes a chain's oldest events in `seq` order.
    pub occurred_at: Option<DateTime<Utc>>,
}

impl NewEvent {
    pub fn new(tenant: TenantId, actor: Actor, action: &'static str) -> Self {
        NewEvent {
            tenant,
            actor,
            action,
            target: None,
            outcome: Outcome::Success,
            changes: serde_json::json!({}),
            metadata: serde_json::json!({}),
            occurred_at: None,
        }
    }

    pub fn at(mut self, occurred_at: DateTime<Utc>) -> Self {
        self.occurred_at = Some(occurred_at);
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn changes(mut self, changes: serde_json::Value) -> Self {
        self.changes = changes;
        self
    }

    pub fn metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    #[schema(value_type = Uuid)]
    pub tenant_id: TenantId,
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub target: Option<Target>,
    pub outcome: Outcome,
    pub changes: serde_json::Value,
    pub metadata: serde_json::Value,
    /// Hex SHA-256 of the previous event of the chain (zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over `prev_hash` and the canonical form of this event.
    pub hash: String,
}

/// `{"field": {"before": …, "after": …}}` for the fields (nested ones as `a.b`) whose values
/// differ between two JSON forms of a record; `ignore` names fields that always change
/// (`updated_at`).
pub fn changes(before: &serde_json::Value, after: &serde_json::Value, ignore: &[&str]) -> serde_json::Value {
    fn walk(
        prefix: &str,
        before: &serde_json::Value,
        after: &serde_json::Value,
        ignore: &[&str],
        out: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        match (before, after) {
            (serde_json::Value::Object(b), serde_json::Value::Object(a)) => {
                let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
                for key in keys {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    if ignore.contains(&path.as_str()) {
                        continue;
                    }
                    let null = serde_json::Value::Null;
                    walk(&path, b.get(key).unwrap_or(&null), a.get(key).unwrap_or(&null), ignore, out);
                }
            }
            (b, a) if b != a => {
                out.insert(prefix.to_owned(), serde_json::json!({"before": b, "after": a}));
            }
            _ => {}
        }
    }
    let mut out = serde_json::Map::new();
    walk("", before, after, ignore, &mut out);
    serde_json::Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn changes_name_only_what_changed() {
        let before = json!({"name": "A", "settings": {"timezone": "Asia/Dhaka", "locale": "bn-BD"}, "updated_at": 1});
        let after = json!({"name": "B", "settings": {"timezone": "Asia/Dhaka", "locale": "en"}, "updated_at": 2});
        assert_eq!(
            super::changes(&before, &after, &["updated_at"]),
            json!({"name": {"before": "A", "after": "B"}, "settings.locale": {"before": "bn-BD", "after": "en"}})
        );
        assert_eq!(super::changes(&before, &before, &[]), json!({}));
    }
}
