//! `vextrus admin operator grant|revoke|list`.

use vextrus_db::Database;
use vextrus_identity::operators;

use super::cli_operator;
use crate::cli::OperatorCommand;

pub async fn run(db: &Database, cmd: OperatorCommand) -> anyhow::Result<()> {
    let mut tx = db.system().await?;
    match cmd {
        OperatorCommand::Grant(arg) => {
            let user = operators::set_platform_role(&mut tx, &arg.login, true, cli_operator()).await?;
            tx.commit().await?;
            println!("{} is a platform operator (signs in with org=platform, password and TOTP)", user.username);
        }
        OperatorCommand::Revoke(arg) => {
            let user = operators::set_platform_role(&mut tx, &arg.login, false, cli_operator()).await?;
            tx.commit().await?;
            println!("{} is no longer a platform operator", user.username);
        }
        OperatorCommand::List => {
            let list = operators::list(&mut tx).await?;
            tx.commit().await?;
            println!("{:<40}  {:<30}  TOTP", "USERNAME", "EMAIL");
            for op in list {
                println!("{:<40}  {:<30}  {}", op.username, op.email, if op.totp { "on" } else { "off" });
            }
        }
    }
    Ok(())
}
