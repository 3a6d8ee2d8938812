//! Each user's say over what reaches them in an organization: switches per category and channel
//! (on unless turned off; security messages have none) and quiet hours (Dhaka time), during
//! which SMS and push wait for the window's end. Email and in-app messages are not interruptions
//! and are never held.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;
use vextrus_db::{DbError, TenantTx, Tx};

use crate::btrc::dhaka;
use crate::model::{Category, Channel};

/// A channel turned off or on for a category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// `transactional` or `promotional` (security messages cannot be turned off).
    pub category: String,
    /// `email`, `sms`, `push` or `in_app`.
    pub channel: String,
    pub enabled: bool,
}

/// Quiet hours, Dhaka time, `HH:MM`; the window may cross midnight (`22:00`–`08:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    #[schema(value_type = String, example = "22:00")]
    #[serde(with = "hhmm")]
    pub starts: NaiveTime,
    #[schema(value_type = String, example = "08:00")]
    #[serde(with = "hhmm")]
    pub ends: NaiveTime,
}

mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("{:?} is not a time of day (HH:MM)", super::cut(&text))))
    }
}

fn cut(text: &str) -> String {
    text.chars().take(20).collect()
}

impl QuietHours {
    /// When something that would go at `at` may go: `at` outside the window, its end inside it.
    pub fn release(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let local = at.with_timezone(&dhaka());
        let now = local.time().with_nanosecond(0).unwrap_or(local.time());
        let inside = if self.starts < self.ends {
            self.starts <= now && now < self.ends
        } else {
            now >= self.starts || now < self.ends
        };
        if !inside {
            return at;
        }
        let day = if now < self.ends { local.date_naive() } else { local.date_naive() + Duration::days(1) };
        dhaka()
            .from_local_datetime(&day.and_time(self.ends))
            .single()
            .expect("a fixed offset has no gaps")
            .with_timezone(&Utc)
    }
}

/// One user's preferences.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Only the switches that differ from "on" need be given; a `PUT` replaces them all.
    #[serde(default)]
    pub switches: Vec<Switch>,
    pub quiet_hours: Option<QuietHours>,
}

impl Preferences {
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.switches.len() > 8 {
            return Err(("switches".into(), "at most 8 (two categories × four channels)".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.switches.iter().enumerate() {
            match Category::parse(&s.category) {
                Some(Category::Transactional | Category::Promotional) => {}
                Some(Category::Security) => {
                    return Err((format!("switches[{i}].category"), "security messages cannot be turned off".into()));
                }
                None => return Err((format!("switches[{i}].category"), "transactional or promotional".into())),
            }
            if Channel::parse(&s.channel).is_none() {
                return Err((format!("switches[{i}].channel"), "email, sms, push or in_app".into()));
            }
            if !seen.insert((s.category.as_str(), s.channel.as_str())) {
                return Err((format!("switches[{i}]"), "named twice".into()));
            }
        }
        if let Some(q) = self.quiet_hours
            && q.starts == q.ends
        {
            return Err(("quiet_hours".into(), "starts and ends must differ".into()));
        }
        Ok(())
    }
}

/// What the trigger needs of its user recipients' preferences.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    off: std::collections::HashSet<(Uuid, &'static str, &'static str)>,
    quiet: HashMap<Uuid, QuietHours>,
}

impl Rules {
    pub fn allows(&self, user: Uuid, category: Category, channel: Channel) -> bool {
        category == Category::Security || !self.off.contains(&(user, category.as_str(), channel.as_str()))
    }

    /// When a message to `user` on `channel` asked for at `at` may go.
    pub fn release(&self, user: Uuid, channel: Channel, at: DateTime<Utc>) -> DateTime<Utc> {
        match (channel, self.quiet.get(&user)) {
            (Channel::Sms | Channel::Push, Some(q)) => q.release(at),
            _ => at,
        }
    }
}

/// The switches turned off and the quiet hours of `users` (one round trip).
pub(crate) async fn rules(tx: &mut TenantTx, users: &[Uuid]) -> Result<Rules, DbError> {
    let rows = sqlx::query(
        "SELECT user_id, category, channel, NULL::time AS starts, NULL::time AS ends
           FROM notify.preferences WHERE user_id = ANY($1) AND NOT enabled
         UNION ALL
         SELECT user_id, NULL, NULL, starts, ends FROM notify.quiet_hours WHERE user_id = ANY($1)",
    )
    .bind(users)
    .fetch_all(tx.conn())
    .await?;
    let mut rules = Rules::default();
    for r in rows {
        let user: Uuid = r.get(0);
        let (category, channel): (Option<String>, Option<String>) = (r.get(1), r.get(2));
        let (starts, ends): (Option<NaiveTime>, Option<NaiveTime>) = (r.get(3), r.get(4));
        if let (Some(category), Some(channel)) = (category, channel) {
            let category = Category::parse(&category).map(Category::as_str);
            let channel = Channel::parse(&channel).map(Channel::as_str);
            if let (Some(category), Some(channel)) = (category, channel) {
                rules.off.insert((user, category, channel));
            }
        } else if let (Some(starts), Some(ends)) = (starts, ends) {
            rules.quiet.insert(user, QuietHours { starts, ends });
        }
    }
    Ok(rules)
}

pub(crate) async fn load(tx: &mut TenantTx, user: Uuid) -> Result<Preferences, DbError> {
    let switches = sqlx::query(
        "SELECT category, channel, enabled FROM notify.preferences WHERE user_id = $1 ORDER BY category, channel",
    )
    .bind(user)
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|r| Switch { category: r.get(0), channel: r.get(1), enabled: r.get(2) })
    .collect();
    let quiet_hours =
        sqlx::query_as::<_, (NaiveTime, NaiveTime)>("SELECT starts, ends FROM notify.quiet_hours WHERE user_id = $1")
            .bind(user)
            .fetch_optional(tx.conn())
            .await?
            .map(|(starts, ends)| QuietHours { starts, ends });
    Ok(Preferences { switches, quiet_hours })
}

pub(crate) async fn save(tx: &mut TenantTx, user: Uuid, p: &Preferences) -> Result<(), DbError> {
    let tenant = tx.tenant();
    sqlx::query("DELETE FROM notify.preferences WHERE user_id = $1").bind(user).execute(tx.conn()).await?;
    let categories: Vec<&str> = p.switches.iter().map(|s| s.category.as_str()).collect();
    let channels: Vec<&str> = p.switches.iter().map(|s| s.channel.as_str()).collect();
    let enabled: Vec<bool> = p.switches.iter().map(|s| s.enabled).collect();
    sqlx::query(
        "INSERT INTO notify.preferences (tenant_id, user_id, category, channel, enabled)
         SELECT $1, $2, c, ch, e FROM UNNEST($3::text[], $4::text[], $5::boolean[]) AS u (c, ch, e)",
    )
    .bind(tenant)
    .bind(user)
    .bind(&categories)
    .bind(&channels)
    .bind(&enabled)
    .execute(tx.conn())
    .await?;
    match p.quiet_hours {
        Some(q) => {
            sqlx::query(
                "INSERT INTO notify.quiet_hours (tenant_id, user_id, starts, ends) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, user_id) DO UPDATE SET starts = EXCLUDED.starts, ends = EXCLUDED.ends,
                     updated_at = now()",
            )
            .bind(tenant)
            .bind(user)
            .bind(q.starts)
            .bind(q.ends)
            .execute(tx.conn())
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM notify.quiet_hours WHERE user_id = $1").bind(user).execute(tx.conn()).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dhaka_at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("{text}+06:00")).unwrap().with_timezone(&Utc)
    }

    fn hours(starts: &str, ends: &str) -> QuietHours {
        let t = |s| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        QuietHours { starts: t(starts), ends: t(ends) }
    }

    #[test]
    fn a_window_across_midnight_holds_until_its_end() {
        let q = hours("22:00", "07:30");
        assert_eq!(q.release(dhaka_at("2026-12-01T23:15:00")), dhaka_at("2026-12-02T07:30:00"));
        assert_eq!(q.release(dhaka_at("2026-12-02T03:00:00")), dhaka_at("2026-12-02T07:30:00"));
        assert_eq!(q.release(dhaka_at("2026-12-02T22:00:00")), dhaka_at("2026-12-03T07:30:00"));
        let outside = dhaka_at("2026-12-02T07:30:00");
        assert_eq!(q.release(outside), outside);
        let evening = dhaka_at("2026-12-02T21:59:59");
        assert_eq!(q.release(evening), evening);
    }

    #[test]
    fn a_window_within_a_day() {
        let q = hours("13:00", "14:00");
        assert_eq!(q.release(dhaka_at("2026-12-02T13:20:00")), dhaka_at("2026-12-02T14:00:00"));
        let before = dhaka_at("2026-12-02T12:59:00");
        assert_eq!(q.release(before), before);
    }

    #[test]
    fn security_cannot_be_switched_off_and_switches_are_checked() {
        let p = |category: &str, channel: &str| Preferences {
            switches: vec![Switch { category: category.into(), channel: channel.into(), enabled: false }],
            quiet_hours: None,
        };
        assert!(p("promotional", "sms").validate().is_ok());
        assert_eq!(p("security", "email").validate().unwrap_err().0, "switches[0].category");
        assert_eq!(p("promotional", "fax").validate().unwrap_err().0, "switches[0].channel");
        let mut twice = p("promotional", "sms");
        twice.switches.push(twice.switches[0].clone());
        assert_eq!(twice.validate().unwrap_err().0, "switches[1]");
        let rules = Rules::default();
        assert!(rules.allows(Uuid::nil(), Category::Security, Channel::Sms));
    }
}
