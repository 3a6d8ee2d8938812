mod admin;
mod audit;
mod config;
mod migrate;
mod registry;
mod serve;

use vextrus_config::{Loaded, Sources};

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve(args) => args.listen.map(|a| a.to_string()),
        _ => None,
    };
    let sources = Sources::from_process(cli.global.config.clone())
        .flag("data_dir", cli.global.data_dir.as_ref().map(|p| p.display().to_string()), "--data-dir")
        .flag("database.url", cli.global.database_url.clone(), "--database-url")
        .flag("listen", listen, "--listen");
    let Loaded { config, warnings, file } = vextrus_config::load(&sources)?;
    crate::logging::init(&config.log)?;
    if let Some(file) = &file {
        tracing::debug!(file = %file.display(), "read configuration file");
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    match cli.command {
        Command::Serve(args) => serve::serve(config, &args).await,
        Command::Migrate => migrate::migrate(config).await,
        Command::Config(cmd) => config::config(&config, file.as_deref(), cmd),
        Command::Admin(cmd) => admin::admin(config, cmd).await,
        Command::Audit(cmd) => audit::audit(cmd),
        Command::Registry(cmd) => registry::run(config, cmd).await,
    }
}
