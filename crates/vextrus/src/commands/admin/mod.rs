//! Platform operator commands. They use the same Rust APIs as the HTTP handlers, over the
//! system path, and work next to a running `serve` (attaching to its embedded cluster).

mod keys;
mod operator;
mod org;

use anyhow::Context;
use vextrus::platform::{self, Mode};
use vextrus_config::Config;
use vextrus_db::Database;

use crate::cli::{AdminCommand, TokenCommand};

pub async fn admin(config: Config, cmd: AdminCommand) -> anyhow::Result<()> {
    if let AdminCommand::Token(TokenCommand::Rotate) = cmd {
        // A file operation: no database needed.
        let embedded = config.database.url.is_none();
        let path = platform::rotate_admin_token(&config, embedded)?;
        println!("new admin token written to {} (running servers switch to it within seconds)", path.display());
        return Ok(());
    }
    let (opened, db) = open(&config).await?;
    let result = match cmd {
        AdminCommand::Org(cmd) => org::run(&db, cmd).await,
        AdminCommand::Keys(cmd) => keys::run(&db, &config, opened.mode != Mode::External, cmd).await,
        AdminCommand::Operator(cmd) => operator::run(&db, cmd).await,
        AdminCommand::Token(_) => unreachable!("handled above"),
    };
    db.close().await;
    opened.close().await;
    result
}

/// The database for a command-line tool, its schema current (migrated here only when this
/// process owns the embedded cluster and migrations on start are on). Close both when done.
pub(crate) async fn open(config: &Config) -> anyhow::Result<(platform::Opened, Database)> {
    let opened = platform::open_for_tool(config).await?;
    let connected = async {
        let pending = pending(&opened.options).await?;
        if !pending.is_empty() {
            if opened.mode == Mode::EmbeddedOwned && config.database.migrate_on_start {
                opened.options.migrate(vextrus::MODULES).await.context("applying migrations")?;
            } else {
                anyhow::bail!(
                    "the database schema is not current (pending: {}); run `vextrus migrate`",
                    pending.join(", ")
                );
            }
        }
        Database::connect(&opened.options).await.context("connecting to the database")
    }
    .await;
    match connected {
        Ok(db) => Ok((opened, db)),
        Err(e) => {
            opened.close().await;
            Err(e)
        }
    }
}

async fn pending(options: &vextrus_db::DatabaseOptions) -> anyhow::Result<Vec<String>> {
    use vextrus_db::sqlx::ConnectOptions;
    let mut conn = options.owner.connect().await.context("connecting to the database")?;
    Ok(vextrus_db::pending_migrations(&mut conn, vextrus::MODULES).await?)
}

/// Who acts from the command line: a platform operator at this machine, named by the OS user.
pub(crate) fn cli_operator() -> vextrus_audit::Actor {
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let mut actor =
        vextrus_audit::Actor::new(vextrus_audit::ActorKind::PlatformOperator, None, Some(format!("cli:{who}")));
    actor.user_agent = Some(format!("vextrus-cli/{}", env!("CARGO_PKG_VERSION")));
    actor
}
