//! Creating and checking the three roles. Where the connecting user may create roles we do it;
//! otherwise the roles must exist already (the README has the SQL for a managed PostgreSQL).

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgConnection;

use crate::DbError;

#[derive(Debug, Clone)]
pub struct RoleNames {
    pub owner: String,
    pub app: String,
    pub system: String,
    pub app_password: Option<SecretString>,
    pub system_password: Option<SecretString>,
}

impl Default for RoleNames {
    fn default() -> Self {
        Self {
            owner: "vextrus_owner".into(),
            app: "vextrus_app".into(),
            system: "vextrus_system".into(),
            app_password: None,
            system_password: None,
        }
    }
}

/// Creates missing roles (when allowed), lets the connecting user act as the owner and gives
/// the owner `CREATE` on the database. Idempotent; serialised across instances by the caller's
/// advisory lock.
pub async fn bootstrap_roles(conn: &mut PgConnection, roles: &RoleNames) -> Result<(), DbError> {
    let (can_create, is_super): (bool, bool) =
        sqlx::query_as("SELECT rolcreaterole OR rolsuper, rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut *conn)
            .await?;
    let wanted = [
        (&roles.owner, None),
        (&roles.app, roles.app_password.as_ref()),
        (&roles.system, roles.system_password.as_ref()),
    ];
    for (name, password) in wanted {
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(name)
            .fetch_one(&mut *conn)
            .await?;
        if exists {
            if let (Some(password), true) = (password, can_create) {
                set_password(conn, name, password).await?;
            }
            continue;
        }
        if !can_create {
            return Err(DbError::Roles(
                format!("role {name} does not exist and the connecting user may not create roles; see the README section \"Managed PostgreSQL\"").into(),
            ));
        }
        // Role names were validated as plain identifiers by the configuration; quote_ident anyway.
        let login = if name == &roles.owner { "NOLOGIN" } else { "LOGIN" };
        let sql: String = sqlx::query_scalar(&format!(
            "SELECT format('CREATE ROLE %I {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION', $1::text)"
        ))
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::raw_sql(&sql).execute(&mut *conn).await?;
        tracing::info!(role = %name, "created database role");
        if let Some(password) = password {
            set_password(conn, name, password).await?;
        }
    }
    // Membership lets a non-superuser migration user `SET ROLE owner`; superusers need none.
    if !is_super {
        let needs_grant: bool =
            sqlx::query_scalar("SELECT current_user <> $1 AND NOT pg_has_role(current_user, $1, 'MEMBER')")
                .bind(&roles.owner)
                .fetch_one(&mut *conn)
                .await?;
        if needs_grant {
            exec_formatted(conn, "GRANT %I TO CURRENT_USER", &[&roles.owner]).await?;
        }
    }
    // Where the migration user is not privileged (a managed PostgreSQL), an administrator has
    // run these already (README, "Managed PostgreSQL"); failing them is then not an error.
    let database = current_database(conn).await?;
    let grants: [(&str, Vec<&str>); 4] = [
        ("GRANT CREATE, CONNECT ON DATABASE %I TO %I", vec![&database, &roles.owner]),
        ("GRANT CONNECT ON DATABASE %I TO %I", vec![&database, &roles.app]),
        ("GRANT CONNECT ON DATABASE %I TO %I", vec![&database, &roles.system]),
        // Temporary tables would be objects the app role owns; it has no use for them.
        ("REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC", vec![&database]),
    ];
    for (template, args) in grants {
        if let Err(e) = exec_formatted(conn, template, &args).await {
            if can_create {
                return Err(e);
            }
            tracing::warn!(error = %e, statement = template, "skipped; an administrator must have done it");
        }
    }
    Ok(())
}

/// Refuses to run with a request-path or system role that could defeat Row-Level Security.
pub async fn check_roles(conn: &mut PgConnection, roles: &RoleNames) -> Result<(), DbError> {
    for name in [&roles.app, &roles.system] {
        let row: Option<(bool, bool)> =
            sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
                .bind(name)
                .fetch_optional(&mut *conn)
                .await?;
        match row {
            None => return Err(DbError::Roles(format!("role {name} does not exist").into())),
            Some((true, _)) | Some((_, true)) => {
                return Err(DbError::Roles(
                    format!(
                        "role {name} is a superuser or has BYPASSRLS; Row-Level Security would not protect tenants"
                    )
                    .into(),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

async fn set_password(conn: &mut PgConnection, role: &str, password: &SecretString) -> Result<(), DbError> {
    let sql: String = sqlx::query_scalar("SELECT format('ALTER ROLE %I PASSWORD %L', $1::text, $2::text)")
        .bind(role)
        .bind(password.expose_secret())
        .fetch_one(&mut *conn)
        .await?;
    sqlx::raw_sql(&sql).execute(&mut *conn).await?;
    Ok(())
}

async fn current_database(conn: &mut PgConnection) -> Result<String, DbError> {
    Ok(sqlx::query_scalar("SELECT current_database()::text").fetch_one(conn).await?)
}

/// Runs `template` after PostgreSQL's `format()` has quoted `args` into it, so identifiers
/// from configuration never reach SQL unquoted.
async fn exec_formatted(conn: &mut PgConnection, template: &str, args: &[&str]) -> Result<(), DbError> {
    let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("${i}::text")).collect();
    let select =
        format!("SELECT format($0, {})", placeholders.join(", ")).replace("$0", &format!("${}", args.len() + 1));
    let mut query = sqlx::query_scalar::<_, String>(&select);
    for arg in args {
        query = query.bind(*arg);
    }
    let sql = query.bind(template).fetch_one(&mut *conn).await?;
    sqlx::raw_sql(&sql).execute(conn).await?;
    Ok(())
}
