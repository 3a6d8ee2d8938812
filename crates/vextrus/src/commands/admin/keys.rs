//! `vextrus admin keys list|rotate`.

use chrono::Duration;
use vextrus::platform;
use vextrus_config::Config;
use vextrus_db::Database;
use vextrus_identity::keys::{self, KeyInfo};

use super::cli_operator;
use crate::cli::KeysCommand;

pub async fn run(db: &Database, config: &Config, embedded: bool, cmd: KeysCommand) -> anyhow::Result<()> {
    let mut tx = db.system().await?;
    match cmd {
        KeysCommand::List => {
            let keys = keys::list_keys(&mut tx).await?;
            tx.commit().await?;
            print(&keys);
        }
        KeysCommand::Rotate { now } => {
            let master = platform::master_key(config, embedded)?;
            let lead = if now { Duration::zero() } else { Duration::seconds(config.auth.key_publish_lead_secs as i64) };
            let lifetime = Duration::seconds(config.auth.access_token_ttl_secs as i64);
            let key = keys::rotate(&mut tx, &master, lead, lifetime, cli_operator()).await?;
            tx.commit().await?;
            println!("added key {}: published now, signs from {}", key.kid, when(key.activates_at));
            print(&keys::list_keys(&mut db.system().await?).await?);
        }
    }
    Ok(())
}

fn print(keys: &[KeyInfo]) {
    println!("{:<24}  {:<23}  {:<23}  LEAVES JWKS", "KID", "CREATED", "SIGNS FROM");
    for k in keys {
        let expires = k.expires_at.map_or_else(|| "-".to_owned(), when);
        println!("{:<24}  {:<23}  {:<23}  {expires}", k.kid, when(k.created_at), when(k.activates_at));
    }
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}
