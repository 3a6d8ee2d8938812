//! Command-line interface. Flags override `VEXTRUS_*` environment variables, which override
//! `vextrus.toml`, which overrides the defaults (`vextrus config reference` lists every key).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "vextrus",
    version,
    about = "Vextrus Platform: organizations, identity, access control, audit, files, notifications \
             and an npm registry for the Vextrus ERP, in one binary.",
    long_about = None,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./vextrus.toml if present; env: VEXTRUS_CONFIG].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: embedded PostgreSQL, generated secrets [env: VEXTRUS_DATA_DIR].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL of the schema owner; unset runs the embedded cluster [env: DATABASE_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the platform: HTTP API, job workers and (by default) the embedded PostgreSQL.
    Serve(ServeArgs),
    /// Apply pending database migrations (creating the database roles where allowed) and exit.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Platform operator commands (work directly on the database, also next to a running server).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Audit trail tools that need no database.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The npm registry: moving packages and users in.
    #[command(subcommand)]
    Registry(RegistryCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify an NDJSON audit export offline: its hash chain (from the genesis, or from the
    /// signed anchor its latest retention purge names), and its signed checkpoints against a JWKS.
    /// Exit status 1 if anything is wrong.
    Verify {
        /// The export (`GET /v1/audit/export`, NDJSON).
        #[arg(long)]
        export: std::path::PathBuf,
        /// The keys that signed the checkpoints: the platform's `/.well-known/audit-keys.json`
        /// (every key that ever signed; `/.well-known/jwks.json` lacks retired ones, whose
        /// checkpoints are then skipped).
        #[arg(long)]
        jwks: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; env: VEXTRUS_LISTEN].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Do not apply pending migrations at start (readiness stays false until they are).
    #[arg(long)]
    pub no_migrate: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets redacted.
    Print,
    /// Print every configuration key with its environment variable, default and meaning.
    Reference,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Import a Verdaccio storage directory: every package, version, tarball (integrity
    /// checked) and dist-tag, with their original times; and, with --htpasswd, its users (their
    /// bcrypt passwords keep working until the first sign-in rehashes them). Versions already
    /// here are skipped: run it again to resume or to catch up. Works next to a running `serve`.
    ImportVerdaccio {
        /// Verdaccio's `storage` directory.
        #[arg(long, required_unless_present = "verdaccio_config")]
        storage: Option<std::path::PathBuf>,
        /// Verdaccio's `config.yaml`: prints the settings it amounts to here (`[[registry.access]]`
        /// rules from its `packages:` patterns, `[[registry.uplinks]]`, and the switches they
        /// imply) to add to vextrus.toml. Without --storage, nothing is imported.
        #[arg(long)]
        verdaccio_config: Option<std::path::PathBuf>,
        /// Verdaccio's htpasswd file: its users become platform users in --org.
        #[arg(long, requires = "org")]
        htpasswd: Option<std::path::PathBuf>,
        /// The organization (slug) that gets unscoped packages (with `registry.allow_unscoped`),
        /// the scopes no organization owns yet (claimed for it), and the htpasswd users.
        #[arg(long)]
        org: Option<String>,
        /// The role imported users get in --org: `member` (install and publish, Verdaccio's
        /// `$authenticated`) or `viewer`.
        #[arg(long, default_value = "member", value_parser = ["member", "viewer"])]
        role: String,
    },
    /// Retire the registry's signing key (it stays listed at `/-/npm/v1/keys`, expiring now, so
    /// existing signatures still verify) and make a new one; running servers switch at once.
    RotateSigningKey,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage organizations (tenants).
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage the keys that sign access tokens.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage platform operators: users who may sign in to the platform scope (`org=platform`).
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Manage the admin bearer token used by automation.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Make a user a platform operator (they must also enable TOTP to sign in as one).
    Grant(LoginArg),
    /// Take the platform operator role away; their platform sessions stop refreshing.
    Revoke(LoginArg),
    /// List platform operators.
    List,
}

#[derive(Debug, Args)]
pub struct LoginArg {
    /// The user's username or email address.
    pub login: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Replace the generated admin token (embedded mode: `<data-dir>/admin-token`). A running
    /// `serve` switches to the new token within seconds; the old one stops working.
    Rotate,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys: when each was created, starts signing and leaves the JWKS.
    List,
    /// Add the next signing key. It is published at once and signs after
    /// auth.key_publish_lead_secs; the current key stays published until its tokens expire.
    Rotate {
        /// Sign with the new key at once (after a key compromise). Instances that have not yet
        /// reloaded their keys (up to a minute) reject tokens signed with it meanwhile.
        #[arg(long)]
        now: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Create(OrgCreateArgs),
    /// List organizations.
    List(OrgListArgs),
    /// Suspend an organization (by id or slug).
    Suspend(OrgRefArg),
    /// Resume a suspended organization (by id or slug).
    Resume(OrgRefArg),
}

#[derive(Debug, Args)]
pub struct OrgCreateArgs {
    /// Unique handle: 3–40 characters of a-z, 0-9 and '-'.
    #[arg(long)]
    pub slug: String,
    /// Display name.
    #[arg(long)]
    pub name: String,
    /// IANA time zone [default: Asia/Dhaka].
    #[arg(long)]
    pub timezone: Option<String>,
    /// ISO 4217 currency [default: BDT].
    #[arg(long)]
    pub currency: Option<String>,
    /// Locale: bn-BD or en [default: bn-BD].
    #[arg(long)]
    pub locale: Option<String>,
    /// Print the organization as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct OrgListArgs {
    /// Only organizations with this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Active,
    Suspended,
}

#[derive(Debug, Args)]
pub struct OrgRefArg {
    /// Organization id or slug.
    pub org: String,
    /// Print the organization as JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed_and_every_command_has_help() {
        let command = super::Cli::command();
        command.clone().debug_assert();
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                assert!(sub.get_about().is_some(), "`{name}` has no help text");
                walk(sub, &name);
            }
        }
        walk(&command, "vextrus");
    }
}
