//! Checking an uploaded tarball before anything is stored: it must be gzip, and the tar inside
//! must hold exactly one `<root>/package.json` naming the package and version being published
//! (npm's root directory is `package/`; clients strip whatever the first component is).
//!
//! Every size here is ours: an entry header may claim any size, and only what is actually read —
//! never more than the caps below — is ever held in memory. Long names (GNU `L`) and pax headers
//! (`x`), which clients honour as an entry's real path, are read too, so that a second
//! `package.json` cannot hide behind them.

use std::io::Read;

/// Bytes of tar read at most (a decompression bomb stops here).
const MAX_SCANNED: u64 = 512 * 1024 * 1024;
/// The largest `package.json` accepted (npm's own registry refuses far smaller documents).
pub const MAX_MANIFEST: u64 = 1024 * 1024;
/// The largest long-name or pax header read.
const MAX_EXTENDED_HEADER: u64 = 64 * 1024;
/// Entries read at most (a tar of millions of empty entries is work without end).
const MAX_ENTRIES: usize = 100_000;
const BLOCK: usize = 512;

/// What a tarball says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    pub manifest: serde_json::Value,
    /// npm's `hasInstallScript`: a `preinstall`, `install` or `postinstall` script, or a root
    /// `binding.gyp` (which npm builds with `node-gyp rebuild`).
    pub has_install_script: bool,
}

/// `Ok` when the tarball is a gzipped tar whose one `package.json` names `name` at `version`.
pub fn check(gzipped: &[u8], name: &str, version: &str) -> Result<Inspected, String> {
    if !gzipped.starts_with(&[0x1f, 0x8b]) {
        return Err("the tarball is not gzip".into());
    }
    let mut tar = flate2::read::GzDecoder::new(gzipped).take(MAX_SCANNED);
    let found = scan(&mut tar)?;
    let manifest = found.manifest.ok_or("the tarball holds no package.json")?;
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
    let scripts = manifest.get("scripts").and_then(serde_json::Value::as_object);
    let has_install_script = found.binding_gyp
        || scripts.is_some_and(|s| ["preinstall", "install", "postinstall"].iter().any(|k| s.contains_key(*k)));
    Ok(Inspected { manifest, has_install_script })
}

#[derive(Debug, Default)]
struct Found {
    manifest: Option<Vec<u8>>,
    binding_gyp: bool,
}

/// Reads at most `cap` bytes of an entry of `size` (as its header claims), then skips the rest
/// and the padding. Memory grows only with what arrives.
fn read_entry(tar: &mut impl Read, size: u64, cap: u64, what: &str) -> Result<Vec<u8>, String> {
    if size > cap {
        return Err(format!("the tarball's {what} is larger than {cap} bytes"));
    }
    let mut data = Vec::new();
    tar.by_ref().take(size).read_to_end(&mut data).map_err(broken)?;
    if (data.len() as u64) < size {
        return Err("the tarball is cut short".into());
    }
    skip(tar, padding(size))?;
    Ok(data)
}

fn broken(e: std::io::Error) -> String {
    format!("the tarball is not a valid gzipped tar: {e}")
}

fn padding(size: u64) -> u64 {
    size.next_multiple_of(BLOCK as u64) - size
}

fn skip(tar: &mut impl Read, bytes: u64) -> Result<(), String> {
    let skipped = std::io::copy(&mut tar.by_ref().take(bytes), &mut std::io::sink()).map_err(broken)?;
    if skipped < bytes { Err("the tarball is cut short".into()) } else { Ok(()) }
}

/// Walks every entry: the root `package.json` (at most one), and whether a root `binding.gyp` is there.
fn scan(tar: &mut impl Read) -> Result<Found, String> {
    let mut found = Found::default();
    let mut header = [0u8; BLOCK];
    // The path a pax or GNU long-name header gives the entry that follows it.
    let mut long_path: Option<String> = None;
    for _ in 0..MAX_ENTRIES {
        if let Err(e) = tar.read_exact(&mut header) {
            return if e.kind() == std::io::ErrorKind::UnexpectedEof { Ok(found) } else { Err(broken(e)) };
        }
        if header.iter().all(|b| *b == 0) {
            return Ok(found);
        }
        let size = octal(&header[124..136]).ok_or("the tarball has a corrupt entry header")?;
        let kind = header[156];
        match kind {
            b'L' => {
                let data = read_entry(tar, size, MAX_EXTENDED_HEADER, "long name")?;
                long_path = Some(String::from_utf8_lossy(data.split(|b| *b == 0).next().unwrap_or(&[])).into_owned());
                continue;
            }
            b'x' => {
                let data = read_entry(tar, size, MAX_EXTENDED_HEADER, "pax header")?;
                long_path = pax_path(&data)?.or(long_path);
                continue;
            }
            b'g' => {
                read_entry(tar, size, MAX_EXTENDED_HEADER, "pax header")?;
                continue;
            }
            _ => {}
        }
        let path = long_path.take().unwrap_or_else(|| entry_path(&header));
        let at_root = |file: &str| {
            path.trim_start_matches("./").split_once('/').is_some_and(|(root, rest)| !root.is_empty() && rest == file)
        };
        let regular = matches!(kind, b'0' | 0 | b'7');
        if regular && at_root("package.json") {
            if found.manifest.is_some() {
                return Err("the tarball holds more than one package.json".into());
            }
            found.manifest = Some(read_entry(tar, size, MAX_MANIFEST, "package.json")?);
            continue;
        }
        found.binding_gyp |= regular && at_root("binding.gyp");
        // Only regular files (and unknown kinds, read as such) carry data; links and folders' sizes
        // are ignored by clients, but skipping what the header claims keeps us aligned as tar does.
        skip(tar, size + padding(size))?;
    }
    Err(format!("the tarball has more than {MAX_ENTRIES} entries"))
}

/// The `path` record of a pax extended header (`"<len> path=<value>\n"` records).
fn pax_path(data: &[u8]) -> Result<Option<String>, String> {
    let corrupt = || "the tarball has a corrupt pax header".to_owned();
    let mut rest = data;
    let mut path = None;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ').ok_or_else(corrupt)?;
        let length: usize =
            std::str::from_utf8(&rest[..space]).ok().and_then(|t| t.parse().ok()).ok_or_else(corrupt)?;
        if length <= space + 1 || length > rest.len() {
            return Err(corrupt());
        }
        let record = &rest[space + 1..length];
        let record = record.strip_suffix(b"\n").ok_or_else(corrupt)?;
        if let Some(value) = record.strip_prefix(b"path=") {
            path = Some(String::from_utf8_lossy(value).into_owned());
        }
        rest = &rest[length..];
    }
    Ok(path)
}

/// `prefix/name` of a ustar header (either part may be empty).
fn entry_path(header: &[u8; BLOCK]) -> String {
    let field =
        |b: &[u8]| String::from_utf8_lossy(&b[..b.iter().position(|c| *c == 0).unwrap_or(b.len())]).into_owned();
    let (name, prefix) = (field(&header[0..100]), field(&header[345..500]));
    let ustar = &header[257..262] == b"ustar";
    if ustar && !prefix.is_empty() { format!("{prefix}/{name}") } else { name }
}

/// A header's octal number; GNU's base-256 form (high bit set) is read as what it is, a size far
/// past every cap here.
fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        return Some(u64::MAX / 2);
    }
    let text = std::str::from_utf8(field).ok()?.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() { Some(0) } else { u64::from_str_radix(text, 8).ok().filter(|n| *n < u64::MAX / 2) }
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

    /// A raw tar header for `path` claiming `size` bytes of kind `kind` (the data is not added).
    fn header(path: &str, size_field: &[u8], kind: u8) -> [u8; 512] {
        let mut header = [0u8; 512];
        header[..path.len()].copy_from_slice(path.as_bytes());
        header[124..124 + size_field.len()].copy_from_slice(size_field);
        header[156] = kind;
        header[257..263].copy_from_slice(b"ustar\0");
        header
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn finds_the_manifest_and_compares_it() {
        let good = tarball(&[
            ("package/index.js", b"module.exports = 1;\n"),
            ("package/package.json", br#"{"name": "@vextrus/kernel", "version": "1.0.0"}"#),
        ]);
        let inspected = super::check(&good, "@vextrus/kernel", "1.0.0").unwrap();
        assert_eq!(inspected.manifest["name"], "@vextrus/kernel");
        assert!(!inspected.has_install_script);
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

    #[test]
    fn a_second_package_json_is_refused_however_it_is_named() {
        let manifest: &[u8] = br#"{"name": "x", "version": "1.0.0"}"#;
        let twice = tarball(&[("package/package.json", manifest), ("package/package.json", manifest)]);
        assert!(super::check(&twice, "x", "1.0.0").unwrap_err().contains("more than one package.json"));
        let other_root = tarball(&[("package/package.json", manifest), ("other/package.json", manifest)]);
        assert!(super::check(&other_root, "x", "1.0.0").unwrap_err().contains("more than one"));
        // A pax header gives the second entry its real path.
        let pax = b"29 path=package/package.json\n";
        let mut tar = Vec::new();
        let first = tarball(&[("package/package.json", manifest)]);
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&first[..]), &mut raw).unwrap();
        tar.extend_from_slice(&raw[..1024]); // the first entry: header and one block of data
        tar.extend_from_slice(&header("PaxHeader/x", format!("{:011o}\0", pax.len()).as_bytes(), b'x'));
        tar.extend_from_slice(pax);
        tar.resize(tar.len().next_multiple_of(512), 0);
        tar.extend_from_slice(&header("innocent.txt", format!("{:011o}\0", manifest.len()).as_bytes(), b'0'));
        tar.extend_from_slice(manifest);
        tar.resize(tar.len().next_multiple_of(512) + 1024, 0);
        assert!(super::check(&gzip(&tar), "x", "1.0.0").unwrap_err().contains("more than one"));
    }

    #[test]
    fn install_scripts_are_read_from_the_tarball() {
        let scripted: &[u8] = br#"{"name": "x", "version": "1.0.0", "scripts": {"postinstall": "node evil.js"}}"#;
        assert!(
            super::check(&tarball(&[("package/package.json", scripted)]), "x", "1.0.0").unwrap().has_install_script
        );
        let plain: &[u8] = br#"{"name": "x", "version": "1.0.0", "scripts": {"test": "node t.js"}}"#;
        let gyp = tarball(&[("package/package.json", plain), ("package/binding.gyp", b"{}")]);
        assert!(super::check(&gyp, "x", "1.0.0").unwrap().has_install_script, "node-gyp builds at install");
        assert!(!super::check(&tarball(&[("package/package.json", plain)]), "x", "1.0.0").unwrap().has_install_script);
    }

    #[test]
    fn a_header_claiming_a_huge_manifest_is_refused_without_allocating_it() {
        for size in [&b"77777777777\0"[..], b"777777777777", b"\x80\0\0\0\0\0\0\x10\0\0\0\0"] {
            let mut tar = header("package/package.json", size, b'0').to_vec();
            tar.extend_from_slice(br#"{"name": "x", "version": "1.0.0"}"#);
            tar.resize(4096, 0);
            let error = super::check(&gzip(&tar), "x", "1.0.0").unwrap_err();
            assert!(error.contains("larger than") || error.contains("corrupt"), "{error}");
        }
        // An honest size past the cap is refused too; one within it that the data does not fill is cut short.
        let mut tar = header("package/package.json", format!("{:011o}\0", 900).as_bytes(), b'0').to_vec();
        tar.extend_from_slice(b"{}");
        assert!(super::check(&gzip(&tar), "x", "1.0.0").unwrap_err().contains("cut short"));
    }

    /// A small deterministic generator (xorshift), so a failure names the seed that found it.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// A valid tar (not gzipped) mutated: bytes flipped, a header's size, kind or path rewritten,
    /// blocks cut, repeated or inserted.
    fn mutated(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
        let mut tar = base.to_vec();
        for _ in 0..1 + rng.below(4) {
            let block = rng.below(tar.len() / 512) * 512;
            match rng.below(7) {
                0 => {
                    let at = rng.below(tar.len());
                    tar[at] = rng.next() as u8;
                }
                1 => {
                    let digits = format!("{:011o}", rng.next() >> rng.below(64));
                    let field = &digits.as_bytes()[digits.len().saturating_sub(12)..];
                    tar[block + 124..block + 124 + field.len()].copy_from_slice(field);
                }
                2 => tar[block + 156] = [b'0', b'L', b'x', b'g', b'5', b'2', 0][rng.below(7)],
                3 => tar.truncate(rng.below(tar.len())),
                4 => {
                    let copy = tar[block..(block + 512).min(tar.len())].to_vec();
                    tar.splice(block..block, copy);
                }
                5 => {
                    let path: &[u8] =
                        [&b"package/package.json\0"[..], b"./package/binding.gyp\0", b"a/package.json\0"][rng.below(3)];
                    tar[block..block + path.len()].copy_from_slice(path);
                }
                _ => tar[block + 124] = 0x80 | rng.next() as u8,
            }
            if tar.len() < 512 {
                tar.resize(512, 0);
            }
        }
        tar
    }

    /// Thousands of mutated tarballs: never a panic, and — run again by itself under an address
    /// space of 1 GiB, where an allocation sized from a header (up to 64 GiB) aborts — never more
    /// memory than the caps allow.
    #[test]
    fn mutated_tarballs_never_panic_nor_allocate_what_a_header_claims() {
        const CHILD: &str = "VEXTRUS_TARBALL_FUZZ_CHILD";
        if std::env::var_os(CHILD).is_none() {
            let exe = std::env::current_exe().unwrap();
            let status = std::process::Command::new("sh")
                .args(["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\""])
                .arg(exe)
                .args(["--exact", "tarball::tests::mutated_tarballs_never_panic_nor_allocate_what_a_header_claims"])
                .args(["--test-threads=1", "--nocapture"])
                .env(CHILD, "1")
                .status()
                .unwrap();
            assert!(status.success(), "the mutated tarballs run within 1 GiB of address space: {status}");
            return;
        }
        let manifest: &[u8] = br#"{"name": "x", "version": "1.0.0", "scripts": {"install": "x"}}"#;
        let good = tarball(&[("package/index.js", b"module.exports = 1;\n"), ("package/package.json", manifest)]);
        let mut base = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&good[..]), &mut base).unwrap();
        let seed = std::env::var("VEXTRUS_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_cafe);
        let mut rng = Rng(seed);
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let input = gzip(&mutated(&mut rng, &base));
            match super::check(&input, "x", "1.0.0") {
                Ok(inspected) => {
                    assert!(serde_json::to_vec(&inspected.manifest).unwrap().len() as u64 <= super::MAX_MANIFEST);
                    accepted += 1;
                }
                Err(message) => {
                    assert!(!message.is_empty());
                    refused += 1;
                }
            }
        }
        eprintln!("seed {seed}: {accepted} accepted, {refused} refused");
        assert!(accepted > 0 && refused > 0, "the mutations reach both outcomes");
    }
}
