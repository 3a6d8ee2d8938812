use vextrus_config::Config;

use vextrus::platform;

pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let opened = platform::open_for_tool(&config).await?;
    let result = opened.options.migrate(vextrus::MODULES).await;
    opened.close().await;
    let applied = result?;
    println!("applied {applied} migration(s); the schema is current");
    Ok(())
}
