//! `vextrus admin org create|list|suspend|resume`.

use anyhow::{Context, anyhow};
use vextrus_db::Database;
use vextrus_tenancy::model::{NewOrganization, OrgRef, SettingsChange};
use vextrus_tenancy::{Currency, Locale, OrgName, OrgSlug, OrgStatus, Organization, Timezone, service};

use super::cli_operator;
use crate::cli::{OrgCommand, StatusArg};

pub async fn run(db: &Database, cmd: OrgCommand) -> anyhow::Result<()> {
    let mut tx = db.system().await?;
    match cmd {
        OrgCommand::Create(args) => {
            let invalid = |flag: &'static str| move |e: String| anyhow!("invalid {flag}: {e}");
            let new = NewOrganization {
                slug: OrgSlug::parse(&args.slug).map_err(invalid("--slug"))?,
                name: OrgName::parse(&args.name).map_err(invalid("--name"))?,
                settings: SettingsChange {
                    timezone: args
                        .timezone
                        .as_deref()
                        .map(Timezone::parse)
                        .transpose()
                        .map_err(invalid("--timezone"))?,
                    currency: args
                        .currency
                        .as_deref()
                        .map(Currency::parse)
                        .transpose()
                        .map_err(invalid("--currency"))?,
                    locale: args.locale.as_deref().map(Locale::parse).transpose().map_err(invalid("--locale"))?,
                },
            };
            let org = service::create(&mut tx, new, cli_operator()).await?;
            tx.commit().await?;
            print_one(&org, args.json)?;
        }
        OrgCommand::List(args) => {
            let status = args.status.map(|s| match s {
                StatusArg::Active => OrgStatus::Active,
                StatusArg::Suspended => OrgStatus::Suspended,
            });
            let mut all = Vec::new();
            let mut cursor = None;
            loop {
                let (page, next) = service::list(&mut tx, cursor, status, 200).await?;
                all.extend(page);
                match next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            tx.commit().await?;
            if args.json {
                for org in &all {
                    println!("{}", serde_json::to_string(org)?);
                }
            } else {
                print_table(&all);
            }
        }
        OrgCommand::Suspend(arg) => {
            let org = service::set_status(&mut tx, &parse_ref(&arg.org)?, OrgStatus::Suspended, cli_operator()).await?;
            tx.commit().await?;
            print_one(&org, arg.json)?;
        }
        OrgCommand::Resume(arg) => {
            let org = service::set_status(&mut tx, &parse_ref(&arg.org)?, OrgStatus::Active, cli_operator()).await?;
            tx.commit().await?;
            print_one(&org, arg.json)?;
        }
    }
    Ok(())
}

fn parse_ref(text: &str) -> anyhow::Result<OrgRef> {
    OrgRef::parse(text).with_context(|| format!("no organization {text:?}: give an id or a slug"))
}

fn print_one(org: &Organization, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(org)?);
    } else {
        print_table(std::slice::from_ref(org));
    }
    Ok(())
}

fn print_table(orgs: &[Organization]) {
    let rows: Vec<[String; 7]> = orgs
        .iter()
        .map(|o| {
            [
                o.id.to_string(),
                o.slug.to_string(),
                o.name.as_str().to_owned(),
                format!("{:?}", o.status).to_lowercase(),
                o.settings.timezone.as_str().to_owned(),
                o.settings.currency.as_str().to_owned(),
                o.settings.locale.as_str().to_owned(),
            ]
        })
        .collect();
    let header = ["ID", "SLUG", "NAME", "STATUS", "TIMEZONE", "CURRENCY", "LOCALE"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
    if orgs.is_empty() {
        println!("(no organizations)");
    }
}
