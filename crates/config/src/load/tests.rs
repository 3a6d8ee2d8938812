use super::*;
use secrecy::ExposeSecret;

fn sources(env: &[(&str, &str)]) -> Sources {
    Sources {
        file: Some(PathBuf::from("/dev/null")),
        env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        flags: Vec::new(),
    }
}

#[test]
fn defaults_are_the_embedded_configuration() {
    let loaded = load(&sources(&[])).unwrap();
    assert_eq!(loaded.config.listen.to_string(), "127.0.0.1:8080");
    assert!(loaded.config.database.url.is_none());
    assert_eq!(loaded.config.database.app_role, "vextrus_app");
    assert!(loaded.warnings.is_empty());
}

#[test]
fn flag_beats_environment_beats_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vextrus.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:1000\"\n[jobs]\nconcurrency = 7\n[database]\nmax_connections = 3\n")
        .unwrap();
    let mut s = sources(&[("VEXTRUS_LISTEN", "127.0.0.1:2000"), ("VEXTRUS_JOBS_CONCURRENCY", "9")]);
    s.file = Some(file);
    let s = s.flag("listen", Some("127.0.0.1:3000".into()), "--listen");
    let config = load(&s).unwrap().config;
    assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(config.jobs.concurrency, 9);
    assert_eq!(config.database.max_connections, 3);
}

#[test]
fn secret_from_file_variable() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("token");
    std::fs::write(&secret, "s3cret-value\n").unwrap();
    let config = load(&sources(&[("VEXTRUS_ADMIN_TOKEN_FILE", secret.to_str().unwrap())])).unwrap().config;
    assert_eq!(config.admin_token.unwrap().expose_secret(), "s3cret-value");
}

#[test]
fn secret_and_secret_file_together_is_an_error() {
    let err = load(&sources(&[("VEXTRUS_ADMIN_TOKEN", "a"), ("VEXTRUS_ADMIN_TOKEN_FILE", "/dev/null")])).unwrap_err();
    assert!(err.to_string().contains("admin_token"), "{err}");
}

#[test]
fn database_url_alias_is_weaker_than_vextrus_name() {
    let config =
        load(&sources(&[("DATABASE_URL", "postgres://a@h/one"), ("VEXTRUS_DATABASE_URL", "postgres://a@h/two")]))
            .unwrap()
            .config;
    assert_eq!(config.database.url.unwrap().expose_secret(), "postgres://a@h/two");
}

#[test]
fn invalid_value_names_the_key_and_its_source() {
    let err = load(&sources(&[("VEXTRUS_LISTEN", "not-an-address")])).unwrap_err().to_string();
    assert!(err.contains("`listen`") && err.contains("VEXTRUS_LISTEN"), "{err}");
    let err = load(&sources(&[("VEXTRUS_DATABASE_MAX_CONNECTIONS", "many")])).unwrap_err().to_string();
    assert!(err.contains("database.max_connections"), "{err}");
    let err = load(&sources(&[("VEXTRUS_DATABASE_APP_ROLE", "Robert'); DROP")])).unwrap_err().to_string();
    assert!(err.contains("database.app_role"), "{err}");
}

#[test]
fn wrong_type_in_file_names_the_nested_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v.toml");
    std::fs::write(&file, "[database]\nmax_connections = \"ten\"\n").unwrap();
    let mut s = sources(&[]);
    s.file = Some(file.clone());
    let err = load(&s).unwrap_err().to_string();
    assert!(err.contains("database.max_connections") && err.contains(file.to_str().unwrap()), "{err}");
}

#[test]
fn unknown_keys_and_variables_warn() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("v.toml");
    std::fs::write(&file, "lisen = \"x\"\n[database]\nurll = \"y\"\n").unwrap();
    let mut s = sources(&[("VEXTRUS_LISTEN_ADDR", "x")]);
    s.file = Some(file);
    let warnings = load(&s).unwrap().warnings;
    assert!(warnings.iter().any(|w| w.contains("`lisen`")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("`database.urll`")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("VEXTRUS_LISTEN_ADDR")), "{warnings:?}");
}

#[test]
fn printed_configuration_redacts_secrets() {
    let config = load(&sources(&[
        ("VEXTRUS_ADMIN_TOKEN", "hunter2-token"),
        ("DATABASE_URL", "postgres://owner:pa55word@db.example:5432/vextrus"),
        ("VEXTRUS_DATABASE_APP_PASSWORD", "app-pa55"),
    ]))
    .unwrap()
    .config;
    let printed = toml::to_string(&config).unwrap();
    for secret in ["hunter2-token", "pa55word", "app-pa55"] {
        assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
    }
    assert!(
        printed.contains("postgres://owner:%5Bredacted%5D@db.example:5432/vextrus")
            || printed.contains("[redacted]@db.example"),
        "{printed}"
    );
    assert!(!format!("{config:?}").contains("hunter2-token"));
}

#[test]
fn every_field_in_the_catalogue_is_a_real_key() {
    // Setting each key through its environment variable must not produce an "unknown key" warning.
    for field in FIELDS {
        let value = match field.kind {
            Kind::Int if field.key.starts_with("audit.") => "12",
            Kind::Int => "5",
            Kind::Bool => "true",
            _ if field.key == "listen" => "127.0.0.1:9",
            _ if field.key == "registry.adduser_role" => "member",
            _ if field.key.ends_with("_role") => "role_x",
            _ if field.key == "log.format" => "json",
            _ if field.key == "storage.backend" => "local",
            _ if field.key == "public_url" || field.key == "registry.uplink_url" => "https://erp.example.com",
            _ => "value",
        };
        let env = [(field.env(), value.to_owned())];
        let s = Sources { file: Some("/dev/null".into()), env: env.into_iter().collect(), flags: vec![] };
        let loaded = load(&s).unwrap_or_else(|e| panic!("{}: {e}", field.key));
        assert!(loaded.warnings.is_empty(), "{}: {:?}", field.key, loaded.warnings);
    }
}

#[test]
fn audit_retention_stays_within_its_bounds() {
    let load_env = |pairs: &[(&str, &str)]| {
        let env = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        load(&Sources { file: Some("/dev/null".into()), env, flags: vec![] })
    };
    let err = load_env(&[("VEXTRUS_AUDIT_RETENTION_MONTHS", "6")]).unwrap_err().to_string();
    assert!(err.contains("audit.retention_months") && err.contains("(12)"), "{err}");
    let lowered = load_env(&[("VEXTRUS_AUDIT_RETENTION_MONTHS", "6"), ("VEXTRUS_AUDIT_MIN_RETENTION_MONTHS", "3")]);
    assert_eq!(lowered.unwrap().config.audit.retention_months, 6);
    let err = load_env(&[("VEXTRUS_AUDIT_MIN_RETENTION_MONTHS", "0")]).unwrap_err().to_string();
    assert!(err.contains("audit.min_retention_months"), "{err}");
}

#[test]
fn the_s3_backend_needs_its_bucket_and_keys() {
    let load_env = |pairs: &[(&str, &str)]| {
        let env = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        load(&Sources { file: Some("/dev/null".into()), env, flags: vec![] })
    };
    let err = load_env(&[("VEXTRUS_STORAGE_BACKEND", "s3")]).unwrap_err().to_string();
    assert!(err.contains("storage.s3_bucket"), "{err}");
    let err = load_env(&[("VEXTRUS_STORAGE_BACKEND", "ftp")]).unwrap_err().to_string();
    assert!(err.contains("storage.backend"), "{err}");
    let ok = load_env(&[
        ("VEXTRUS_STORAGE_BACKEND", "s3"),
        ("VEXTRUS_STORAGE_S3_BUCKET", "objects"),
        ("AWS_ACCESS_KEY_ID", "id"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
    ]);
    let config = ok.unwrap().config;
    assert_eq!(config.storage.s3_access_key_id.as_deref(), Some("id"));
    assert!(!format!("{:?}", config.storage).contains("secret\""), "the secret is redacted");
}

#[test]
fn uplinks_come_from_the_file_with_defaults_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let load_file = |text: &str| {
        let path = dir.path().join("vextrus.toml");
        std::fs::write(&path, text).unwrap();
        load(&Sources { file: Some(path), env: Default::default(), flags: vec![] })
    };
    let loaded = load_file(
        "[[registry.uplinks]]\nname = \"npmjs\"\nurl = \"https://registry.npmjs.org/\"\nauth = \"Bearer s3cret\"\n\
         [[registry.uplinks]]\nname = \"types\"\nurl = \"http://127.0.0.1:4873/\"\npackages = [\"@types/*\"]\nmaxage_secs = 5\n",
    )
    .unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let uplinks = &loaded.config.registry.uplinks;
    assert_eq!((uplinks[0].packages.as_slice(), uplinks[0].maxage_secs), (&["**".to_owned()][..], 120));
    assert_eq!((uplinks[1].packages.as_slice(), uplinks[1].maxage_secs), (&["@types/*".to_owned()][..], 5));
    assert!(!format!("{:?}", loaded.config).contains("s3cret"), "the uplink's credentials are redacted");
    let err = load_file("[[registry.uplinks]]\nurl = \"ftp://x\"\n").unwrap_err().to_string();
    assert!(err.contains("registry.uplinks"), "{err}");
    let err = load_file("[[registry.uplinks]]\nurl = \"http://a/\"\n[[registry.uplinks]]\nurl = \"http://b/\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("two uplinks"), "{err}");
    let err = load_file("[[registry.uplinks]]\nurl = \"http://a/\"\nmaxage = 5\n").unwrap_err().to_string();
    assert!(err.contains("maxage"), "a misspelt key is an error: {err}");
}

#[test]
fn access_rules_come_from_the_file_in_order_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let load_file = |text: &str| {
        let path = dir.path().join("vextrus.toml");
        std::fs::write(&path, text).unwrap();
        load(&Sources { file: Some(path), env: Default::default(), flags: vec![] })
    };
    let loaded = load_file(
        "[[registry.access]]\npackages = \"@vextrus/*\"\nread = \"public\"\n\
         [[registry.access]]\npackages = \"**\"\nread = \"signed_in\"\n",
    )
    .unwrap();
    let rules: Vec<(&str, &str)> =
        loaded.config.registry.access.iter().map(|r| (r.packages.as_str(), r.read.as_str())).collect();
    assert_eq!(rules, [("@vextrus/*", "public"), ("**", "signed_in")]);
    let err = load_file("[[registry.access]]\npackages = \"**\"\nread = \"$all\"\n").unwrap_err().to_string();
    assert!(err.contains("registry.access") && err.contains("signed_in"), "{err}");
    let err = load_file("[[registry.access]]\nread = \"public\"\n").unwrap_err().to_string();
    assert!(err.contains("registry.access"), "{err}");
}
