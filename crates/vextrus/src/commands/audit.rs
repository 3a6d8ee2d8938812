//! `vextrus audit verify --export FILE --jwks FILE`: checks an audit export without a database.

use std::collections::HashMap;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::cli::AuditCommand;

pub fn audit(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { export, jwks } => {
            let ndjson =
                std::fs::read_to_string(&export).with_context(|| format!("cannot read {}", export.display()))?;
            let jwks_text =
                std::fs::read_to_string(&jwks).with_context(|| format!("cannot read {}", jwks.display()))?;
            let keys = ed25519_keys(&jwks_text).with_context(|| format!("{} is not a usable JWKS", jwks.display()))?;
            let report = vextrus_audit::checkpoint::verify_export(&ndjson, &keys);
            println!("{}", serde_json::to_string_pretty(&report)?);
            anyhow::ensure!(report.ok, "the export does not verify: {}", report.problem.unwrap_or_default());
            if report.unsealed_events > 0 {
                eprintln!(
                    "note: the last {} event(s) are chained but not yet covered by a signed checkpoint",
                    report.unsealed_events
                );
            }
            if report.checkpoints_skipped > 0 {
                eprintln!(
                    "note: {} checkpoint(s) skipped (signed by keys this JWKS lacks, or outside the export)",
                    report.checkpoints_skipped
                );
            }
            Ok(())
        }
    }
}

/// The Ed25519 (`OKP`/`Ed25519`) public keys of a JWKS, by `kid`.
fn ed25519_keys(text: &str) -> anyhow::Result<HashMap<String, Vec<u8>>> {
    let jwks: serde_json::Value = serde_json::from_str(text)?;
    let keys = jwks["keys"].as_array().context("no `keys` array")?;
    let mut out = HashMap::new();
    for key in keys {
        if key["kty"] == "OKP" && key["crv"] == "Ed25519" {
            let kid = key["kid"].as_str().context("a key without `kid`")?;
            let x = URL_SAFE_NO_PAD.decode(key["x"].as_str().context("a key without `x`")?)?;
            anyhow::ensure!(x.len() == 32, "key {kid} is not 32 bytes");
            out.insert(kid.to_owned(), x);
        }
    }
    anyhow::ensure!(!out.is_empty(), "no Ed25519 keys");
    Ok(out)
}
