use std::path::Path;

use vextrus_config::{Config, FIELDS, Kind};

use crate::cli::ConfigCommand;

pub fn config(config: &Config, file: Option<&Path>, cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Print => {
            let source = file.map_or("no file; defaults and environment".to_owned(), |f| f.display().to_string());
            println!("# effective configuration ({source}); secrets are redacted");
            print!("{}", toml::to_string(config)?);
        }
        ConfigCommand::Reference => {
            println!("| key | environment | default | meaning |\n|---|---|---|---|");
            for field in FIELDS {
                let mut env = vec![format!("`{}`", field.env())];
                env.extend(field.env_aliases.iter().map(|a| format!("`{a}`")));
                if field.kind == Kind::Secret {
                    env.push(format!("`{}_FILE`", field.env()));
                }
                println!("| `{}` | {} | {} | {} |", field.key, env.join(", "), field.default, field.doc);
            }
        }
    }
    Ok(())
}
