//! Message types and their templates. A module declares its types as [`TemplateDef`]s (the way it
//! declares permissions) and the binary assembles them into one [`Templates`] catalog. Templates
//! are minijinja with strict undefined: a variable the data lacks is an error when the message is
//! triggered, never a broken message. Each type has texts in Bengali and English; the recipient's
//! locale picks one. Filters for Bangladesh: `bn_digits` (০১২…), `bdt` (৳ with lakh/crore
//! grouping: `৳১২,৩৪,৫৬৭.৫০` in Bengali, `৳12,34,567.50` in English), `dhaka_date` and
//! `dhaka_datetime` (Asia/Dhaka), all following the message's locale.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value as JValue};
use serde::Serialize;
use serde_json::Value;

use crate::model::{Category, Channel, Locale};

/// One message type: what it is and what it says, in both languages.
#[derive(Debug, Clone, Copy)]
pub struct TemplateDef {
    /// `<module>.<name>`, e.g. `identity.verify_email`.
    pub kind: &'static str,
    pub category: Category,
    /// Its data holds a secret (a sign-in code): data and rendered texts are kept only until the
    /// message is delivered or given up.
    pub sensitive: bool,
    pub bn: Texts,
    pub en: Texts,
}

/// A type's texts in one language. A channel is available when its text is.
#[derive(Debug, Clone, Copy)]
pub struct Texts {
    /// Email subject and push title.
    pub subject: &'static str,
    /// Email plain text (and in-app body).
    pub text: &'static str,
    /// Email HTML (escaped automatically); without it the email is text only.
    pub html: Option<&'static str>,
    /// SMS text; without it the type is not sent by SMS.
    pub sms: Option<&'static str>,
}

/// An organization's own words to its people (a notice, an offer, a reminder), in whatever
/// language it writes them: `subject` and `text` (used for SMS too). Data: `{subject, text}`.
pub const ANNOUNCEMENT: TemplateDef = TemplateDef {
    kind: "notify.announcement",
    category: Category::Transactional,
    sensitive: false,
    bn: Texts { subject: "{{ subject }}", text: "{{ text }}", html: None, sms: Some("{{ text }}") },
    en: Texts { subject: "{{ subject }}", text: "{{ text }}", html: None, sms: Some("{{ text }}") },
};

/// Notify's own message types.
pub const TEMPLATES: &[TemplateDef] = &[ANNOUNCEMENT];

/// A message rendered for one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("there is no message type {0:?}")]
    UnknownType(String),
    #[error("message type {kind:?} is not sent by {channel}")]
    NoChannel { kind: String, channel: &'static str },
    #[error("{0}")]
    Template(String),
}

/// Every message type the platform knows.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    defs: HashMap<&'static str, TemplateDef>,
}

impl Templates {
    pub fn new(modules: &[&[TemplateDef]]) -> Result<Self, String> {
        let mut env = environment();
        let mut defs = HashMap::new();
        for def in modules.iter().flat_map(|m| m.iter()) {
            if defs.insert(def.kind, *def).is_some() {
                return Err(format!("message type {} declared twice", def.kind));
            }
            for (locale, texts) in [(Locale::BnBd, def.bn), (Locale::En, def.en)] {
                let parts = [
                    ("subject.txt", Some(texts.subject)),
                    ("text.txt", Some(texts.text)),
                    ("body.html", texts.html),
                    ("sms.txt", texts.sms),
                ];
                for (part, source) in parts {
                    if let Some(source) = source {
                        env.add_template_owned(name(def.kind, locale, part), source)
                            .map_err(|e| format!("{} ({}): {e}", def.kind, locale.as_str()))?;
                    }
                }
            }
        }
        Ok(Self { env, defs })
    }

    pub fn def(&self, kind: &str) -> Option<&TemplateDef> {
        self.defs.get(kind)
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.defs.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    /// Renders `kind` for `channel` in `locale` with `data`.
    pub fn render(&self, kind: &str, locale: Locale, channel: Channel, data: &Value) -> Result<Rendered, RenderError> {
        self.render_with(kind, locale, channel, data, None)
    }

    /// Renders as [`Templates::render`], with an organization's own texts for this locale in
    /// place of the type's when it has them.
    pub fn render_with(
        &self,
        kind: &str,
        locale: Locale,
        channel: Channel,
        data: &Value,
        own: Option<&Override>,
    ) -> Result<Rendered, RenderError> {
        let def = self.def(kind).ok_or_else(|| RenderError::UnknownType(kind.to_owned()))?;
        let texts = match locale {
            Locale::BnBd => def.bn,
            Locale::En => def.en,
        };
        let own_env = own.map(|o| o.environment(def.kind, locale, texts)).transpose()?;
        let env = own_env.as_ref().unwrap_or(&self.env);
        let has_html = own.map_or(texts.html.is_some(), |o| o.html.is_some());
        let ctx = context(locale, data);
        let render = |part: &str| -> Result<String, RenderError> {
            let template =
                env.get_template(&name(def.kind, locale, part)).map_err(|e| RenderError::Template(e.to_string()))?;
            template.render(&ctx).map_err(|e| describe(e, &template.undeclared_variables(false), data))
        };
        match channel {
            Channel::Email => Ok(Rendered {
                subject: Some(one_line(&render("subject.txt")?)),
                text: render("text.txt")?,
                html: has_html.then(|| render("body.html")).transpose()?,
            }),
            Channel::Sms => {
                if texts.sms.is_none() {
                    return Err(RenderError::NoChannel { kind: kind.to_owned(), channel: channel.as_str() });
                }
                Ok(Rendered { subject: None, text: render("sms.txt")?.trim().to_owned(), html: None })
            }
            Channel::Push | Channel::InApp => {
                Ok(Rendered { subject: Some(one_line(&render("subject.txt")?)), text: render("text.txt")?, html: None })
            }
        }
    }
}

/// An organization's own texts for a message type in one language. `subject` and `text` replace
/// the type's; without `html` the email is text only (the type's HTML would say the old words);
/// without `sms` the type's SMS text stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub sms: Option<String>,
}

/// Limits of an override's parts, in characters.
const OVERRIDE_LIMITS: [(&str, usize); 4] = [("subject", 500), ("text", 20_000), ("html", 100_000), ("sms", 1_600)];

impl Override {
    fn parts<'a>(&'a self, texts: &'a Texts) -> [(&'static str, Option<&'a str>); 4] {
        [
            ("subject.txt", Some(self.subject.as_str())),
            ("text.txt", Some(self.text.as_str())),
            ("body.html", self.html.as_deref()),
            ("sms.txt", self.sms.as_deref().or(texts.sms)),
        ]
    }

    /// A one-off environment holding these texts under the type's names.
    fn environment(&self, kind: &str, locale: Locale, texts: Texts) -> Result<Environment<'static>, RenderError> {
        let mut env = environment();
        for (part, source) in self.parts(&texts) {
            if let Some(source) = source {
                env.add_template_owned(name(kind, locale, part), source.to_owned())
                    .map_err(|e| RenderError::Template(format!("the organization's {part}: {e}")))?;
            }
        }
        Ok(env)
    }
}

impl Templates {
    /// Checks an organization's texts for `kind` in `locale`: within the limits, parsed, an SMS
    /// text only for a type sent by SMS, and no variable that the type's own texts do not use
    /// (the data a module sends is shaped for those). The error names the part.
    pub fn check_override(&self, kind: &str, locale: Locale, own: &Override) -> Result<(), (String, String)> {
        let def = self.def(kind).ok_or_else(|| ("type".to_owned(), format!("there is no message type {kind:?}")))?;
        let texts = match locale {
            Locale::BnBd => def.bn,
            Locale::En => def.en,
        };
        let values = [Some(&own.subject), Some(&own.text), own.html.as_ref(), own.sms.as_ref()];
        for ((field, limit), value) in OVERRIDE_LIMITS.iter().zip(values) {
            if value.is_some_and(|v| v.chars().count() > *limit || v.contains('\0')) {
                return Err(((*field).to_owned(), format!("at most {limit} characters, no NUL")));
            }
        }
        if own.subject.trim().is_empty() || own.text.trim().is_empty() {
            return Err(("text".into(), "subject and text are required".into()));
        }
        if own.sms.is_some() && texts.sms.is_none() {
            return Err(("sms".into(), format!("{kind} is not sent by SMS")));
        }
        let mut known = std::collections::HashSet::new();
        for part in ["subject.txt", "text.txt", "body.html", "sms.txt"] {
            if let Ok(t) = self.env.get_template(&name(def.kind, locale, part)) {
                known.extend(t.undeclared_variables(false));
            }
        }
        let env = own.environment(def.kind, locale, texts).map_err(|e| ("text".to_owned(), e.to_string()))?;
        for (field, part) in
            [("subject", "subject.txt"), ("text", "text.txt"), ("html", "body.html"), ("sms", "sms.txt")]
        {
            let Ok(template) = env.get_template(&name(def.kind, locale, part)) else { continue };
            let mut unknown: Vec<String> =
                template.undeclared_variables(false).into_iter().filter(|v| !known.contains(v)).collect();
            unknown.sort_unstable();
            if !unknown.is_empty() {
                let names = unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ");
                return Err((field.to_owned(), format!("uses {names}, which {kind}'s data does not carry")));
            }
            // A trial with every variable set: work that grows without the data (loops over
            // ranges) must fit the fuel every render has.
            let trial: serde_json::Map<String, Value> = known.iter().map(|v| (v.clone(), Value::from("1"))).collect();
            if let Err(e) = template.render(context(locale, &Value::Object(trial)))
                && e.kind() == ErrorKind::OutOfFuel
            {
                return Err((field.to_owned(), "does more work than a message may (a loop too long)".into()));
            }
        }
        Ok(())
    }
}

fn name(kind: &str, locale: Locale, part: &str) -> String {
    format!("{kind}/{}/{part}", locale.as_str())
}

/// The data, with the message's locale beside it for the filters.
fn context(locale: Locale, data: &Value) -> JValue {
    let mut map: serde_json::Map<String, Value> = match data {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    map.insert("_locale".into(), Value::String(locale.as_str().into()));
    JValue::from_serialize(&map)
}

/// A subject is one line: line breaks would start new headers.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// What a caller may be told about a failed render: the variables the data lacks, by name.
fn describe(error: Error, used: &std::collections::HashSet<String>, data: &Value) -> RenderError {
    if error.kind() != ErrorKind::UndefinedError {
        return RenderError::Template(error.to_string());
    }
    let mut missing: Vec<&str> =
        used.iter().map(String::as_str).filter(|v| *v != "_locale" && data.get(v).is_none()).collect();
    missing.sort_unstable();
    let message = if missing.is_empty() {
        format!("the data lacks a value the template uses ({error})")
    } else {
        format!("the data lacks {}", missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "))
    };
    RenderError::Template(message)
}

/// The environment every template renders in: strict, bounded, with the Bangladeshi filters.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A loop or recursion that never ends stops here instead of holding a worker.
    env.set_fuel(Some(50_000));
    env.add_filter("bn_digits", |value: String| bengali_digits(&value));
    env.add_filter("bdt", |state: &State, value: JValue| -> Result<String, Error> {
        let amount = amount_text(&value)?;
        Ok(localise(state, &format!("৳{}", group_lakh(&amount))))
    });
    env.add_filter("dhaka_date", |state: &State, value: String| -> Result<String, Error> {
        Ok(localise(state, &dhaka(&value)?.format("%d/%m/%Y").to_string()))
    });
    env.add_filter("dhaka_datetime", |state: &State, value: String| -> Result<String, Error> {
        Ok(localise(state, &dhaka(&value)?.format("%d/%m/%Y %H:%M").to_string()))
    });
    env
}

fn localise(state: &State, text: &str) -> String {
    let bengali = state.lookup("_locale").is_some_and(|l| l.as_str() == Some("bn-BD"));
    if bengali { bengali_digits(text) } else { text.to_owned() }
}

fn dhaka(text: &str) -> Result<DateTime<chrono::FixedOffset>, Error> {
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("{text:?} is not an RFC 3339 time: {e}")))?;
    Ok(at.with_timezone(&Utc).with_timezone(&crate::btrc::dhaka()))
}

/// ASCII digits as Bengali digits (০–৯); everything else as it is.
pub fn bengali_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(0x09E6 + d).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// An amount as exact decimal text with two places: a string (`"1234567.5"`) is taken as it is
/// written (no binary floating point on the way); a number is rounded to paisa.
fn amount_text(value: &JValue) -> Result<String, Error> {
    let bad = || Error::new(ErrorKind::InvalidOperation, format!("{value} is not an amount"));
    let text = match value.as_str() {
        Some(s) => s.trim().to_owned(),
        None => match f64::try_from(value.clone()) {
            Ok(n) if n.is_finite() && n.abs() < 1e15 => format!("{n:.2}"),
            _ => return Err(bad()),
        },
    };
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !whole.is_empty()
        && whole.len() <= 15
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 2
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(bad());
    }
    Ok(format!("{sign}{whole}.{fraction:0<2}"))
}

/// `1234567.50` → `12,34,567.50`: the last three digits, then groups of two (lakh, crore).
fn group_lakh(amount: &str) -> String {
    let (sign, digits) = amount.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("", amount));
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "00"));
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let grouped = if whole.len() <= 3 {
        whole.to_owned()
    } else {
        let (head, last3) = whole.split_at(whole.len() - 3);
        let mut groups: Vec<&str> = Vec::new();
        let mut rest = head;
        while rest.len() > 2 {
            let (a, b) = rest.split_at(rest.len() - 2);
            groups.push(b);
            rest = a;
        }
        groups.push(rest);
        groups.reverse();
        format!("{},{last3}", groups.join(","))
    };
    format!("{sign}{grouped}.{fraction}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const DEF: TemplateDef = TemplateDef {
        kind: "test.invoice_due",
        category: Category::Transactional,
        sensitive: false,
        bn: Texts {
            subject: "চালান {{ number | bn_digits }} বাকি",
            text: "{{ name }}, {{ amount | bdt }} পরিশোধের শেষ তারিখ {{ due | dhaka_date }}।",
            html: Some("<p>{{ name }}</p>"),
            sms: Some("{{ amount | bdt }} বাকি"),
        },
        en: Texts {
            subject: "Invoice {{ number }}\r\nBcc: x@example.com",
            text: "{{ name }}, {{ amount | bdt }} is due on {{ due | dhaka_datetime }}.",
            html: None,
            sms: None,
        },
    };

    fn templates() -> Templates {
        Templates::new(&[&[DEF]]).unwrap()
    }

    #[test]
    fn bangla_money_and_dates() {
        let data = json!({"number": "42", "name": "<Rahim>", "amount": "1234567.5", "due": "2026-12-01T19:30:00Z"});
        let bn = templates().render("test.invoice_due", Locale::BnBd, Channel::Email, &data).unwrap();
        assert_eq!(bn.subject.as_deref(), Some("চালান ৪২ বাকি"));
        assert_eq!(bn.text, "<Rahim>, ৳১২,৩৪,৫৬৭.৫০ পরিশোধের শেষ তারিখ ০২/১২/২০২৬।");
        assert_eq!(bn.html.as_deref(), Some("<p>&lt;Rahim&gt;</p>"));
        let en = templates().render("test.invoice_due", Locale::En, Channel::Email, &data).unwrap();
        assert_eq!(en.text, "<Rahim>, ৳12,34,567.50 is due on 02/12/2026 01:30.");
        assert_eq!(en.subject.as_deref(), Some("Invoice 42 Bcc: x@example.com"), "one line, no header injection");
        assert_eq!(en.html, None);
    }

    #[test]
    fn a_missing_variable_is_an_error_not_a_gap() {
        let error =
            templates().render("test.invoice_due", Locale::En, Channel::Email, &json!({"number": 1})).unwrap_err();
        assert!(
            matches!(error, RenderError::Template(ref m) if m.contains("lacks `amount`, `due`, `name`")),
            "{error}"
        );
    }

    #[test]
    fn channels_follow_the_texts() {
        let data = json!({"amount": 99});
        assert_eq!(
            templates().render("test.invoice_due", Locale::BnBd, Channel::Sms, &data).unwrap().text,
            "৳৯৯.০০ বাকি"
        );
        assert!(matches!(
            templates().render("test.invoice_due", Locale::En, Channel::Sms, &data),
            Err(RenderError::NoChannel { .. })
        ));
        assert!(matches!(
            templates().render("nope", Locale::En, Channel::Sms, &data),
            Err(RenderError::UnknownType(_))
        ));
    }

    #[test]
    fn lakh_grouping() {
        for (amount, grouped) in [
            ("0", "0.00"),
            ("999", "999.00"),
            ("1000", "1,000.00"),
            ("100000", "1,00,000.00"),
            ("12345678.9", "1,23,45,678.90"),
            ("-1234567.50", "-12,34,567.50"),
        ] {
            assert_eq!(group_lakh(&amount_text(&JValue::from(amount)).unwrap()), grouped, "{amount}");
        }
        assert!(amount_text(&JValue::from("1e5")).is_err());
        assert!(amount_text(&JValue::from("12.345")).is_err());
    }
}
