//! Checking an uploaded tarball before anything is stored: it must be gzip, and the tar inside
//! must hold `<root>/package.json` naming the package and version being published (npm's root
//! directory is `package/`; clients strip whatever the first component is).

use std::io::Read;

/// Bytes of tar read at most while looking for `package.json` (a decompression bomb stops here).
const MAX_SCANNED: u64 = 512 * 1024 * 1024;
const BLOCK: usize = 512;

/// `Ok` when the tarball is a gzipped tar whose `package.json` names `name` at `version`.
pub fn check(gzipped: &[u8], name: &str, version: &str) -> Result<(), String> {
    if !gzipped.starts_with(&[0x1f, 0x8b]) {
        return Err("the tarball is not gzip".into());
    }
    let mut tar = flate2::read::GzDecoder::new(gzipped).take(MAX_SCANNED);
    let manifest = package_json(&mut tar)?.ok_or("the tarball holds no package.json")?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&manifest).map_err(|e| format!("the tarball's package.json is not JSON: {e}"))?;
    let (inner_name, inner_version) = (manifest["name"].as_str(), manifest["version"].as_str());
    if inner_name != Some(name) || inner_version.map(crate::model::parse_version) != Some(Ok(version.to_owned())) {
        return Err(format!(
            "the tarball's package.json is {}@{}, not {name}@{version}",
            inner_name.unwrap_or("?"),
            inner_version.unwrap_or("?")
        ));
    }
    Ok(())
}

/// The contents of the first `<root>/package.json` entry, if any.
fn package_json(tar: &mut impl Read) -> Result<Option<Vec<u8>>, String> {
    let broken = |e: std::io::Error| format!("the tarball is not a valid gzipped tar: {e}");
    let mut header = [0u8; BLOCK];
    loop {
        if let Err(e) = tar.read_exact(&mut header) {
            return if e.kind() == std::io::ErrorKind::UnexpectedEof { Ok(None) } else { Err(broken(e)) };
        }
        if header.iter().all(|b| *b == 0) {
            return Ok(None);
        }
        let size = octal(&header[124..136]).ok_or("the tarball has a corrupt entry header")?;
        let kind = header[156];
        let path = entry_path(&header);
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        let is_manifest = matches!(kind, b'0' | 0)
            && path.split_once('/').is_some_and(|(root, rest)| !root.is_empty() && rest == "package.json");
        if is_manifest {
            let mut data = vec![0u8; usize::try_from(size).map_err(|_| "package.json is too large")?];
            tar.read_exact(&mut data).map_err(broken)?;
            return Ok(Some(data));
        }
        std::io::copy(&mut tar.by_ref().take(padded), &mut std::io::sink()).map_err(broken)?;
    }
}

/// `prefix/name` of a ustar header (either part may be empty).
fn entry_path(header: &[u8; BLOCK]) -> String {
    let field =
        |b: &[u8]| String::from_utf8_lossy(&b[..b.iter().position(|c| *c == 0).unwrap_or(b.len())]).into_owned();
    let (name, prefix) = (field(&header[0..100]), field(&header[345..500]));
    let ustar = &header[257..262] == b"ustar";
    if ustar && !prefix.is_empty() { format!("{prefix}/{name}") } else { name }
}

fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() { Some(0) } else { u64::from_str_radix(text, 8).ok() }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    /// A gzipped tar with the given entries (ustar, as npm packs them).
    pub(crate) fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = Vec::new();
        for (path, data) in entries {
            let mut header = [0u8; 512];
            header[..path.len()].copy_from_slice(path.as_bytes());
            header[100..108].copy_from_slice(b"0000644\0");
            header[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
            header[156] = b'0';
            header[257..263].copy_from_slice(b"ustar\0");
            header[148..156].copy_from_slice(b"        ");
            let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
            header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            tar.extend_from_slice(&header);
            tar.extend_from_slice(data);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        }
        tar.extend_from_slice(&[0u8; 1024]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn finds_the_manifest_and_compares_it() {
        let good = tarball(&[
            ("package/index.js", b"module.exports = 1;\n"),
            ("package/package.json", br#"{"name": "@vextrus/kernel", "version": "1.0.0"}"#),
        ]);
        assert_eq!(super::check(&good, "@vextrus/kernel", "1.0.0"), Ok(()));
        assert!(super::check(&good, "@vextrus/kernel", "1.0.1").unwrap_err().contains("not @vextrus/kernel@1.0.1"));
        assert!(super::check(&good, "@vextrus/utils", "1.0.0").is_err());
        assert!(super::check(b"PK\x03\x04 a zip", "x", "1.0.0").unwrap_err().contains("not gzip"));
        let empty = tarball(&[("package/index.js", b"1")]);
        assert!(super::check(&empty, "x", "1.0.0").unwrap_err().contains("no package.json"));
        let nested = tarball(&[("package/lib/package.json", br#"{"name": "x", "version": "1.0.0"}"#)]);
        assert!(super::check(&nested, "x", "1.0.0").is_err(), "only the root's package.json counts");
        let mut cut = good.clone();
        cut.truncate(good.len() / 2);
        assert!(super::check(&cut, "@vextrus/kernel", "1.0.0").is_err());
    }
}
