//! The upload checks against real parts: a real `clamd` (Debian's clamav-daemon, started here
//! with a signature database holding only the EICAR test signature — the official databases
//! cannot be downloaded on this network) and real files (a Windows program shipped with pip, an
//! Office document and a plain ZIP written by Python's `zipfile`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vextrus_files::scan::{ClamdAddress, Scanner, Unscanned, Verdict};
use vextrus_files::sniff::{allowed, sniff_bytes, sniff_file};

use vextrus_testkit::clamd::{Clamd, EICAR};

async fn start_clamd() -> Clamd {
    Clamd::start("1M").await
}

fn scanner(socket: &Path, max_bytes: u64) -> Scanner {
    Scanner::new(ClamdAddress::Unix(socket.to_owned()), Duration::from_secs(20), max_bytes)
}

#[tokio::test]
async fn a_real_clamd_finds_eicar_and_nothing_else_is_ever_taken_for_clean() {
    let clamd = start_clamd().await;
    let scan = scanner(&clamd.socket, 8 << 20);

    assert_eq!(scan.scan(EICAR, EICAR.len() as u64).await, Verdict::Infected("Eicar-Test.UNOFFICIAL".into()));
    let invoice = "চালান নং ৪২: মোট ১২,৫০০ টাকা\n".repeat(1000);
    assert_eq!(scan.scan(invoice.as_bytes(), invoice.len() as u64).await, Verdict::Clean);

    // Larger than clamd's StreamMaxLength (1 MiB here): clamd refuses mid-stream — unscanned.
    let big = vec![b'a'; 2 << 20];
    assert_eq!(scan.scan(&big[..], big.len() as u64).await, Verdict::Unscanned(Unscanned::TooLarge));
    // Larger than our own limit: not sent at all, and a stream longer than it said is cut off.
    let small_limit = scanner(&clamd.socket, 1000);
    assert_eq!(small_limit.scan(&big[..], big.len() as u64).await, Verdict::Unscanned(Unscanned::TooLarge));
    assert_eq!(small_limit.scan(&big[..], 10).await, Verdict::Unscanned(Unscanned::TooLarge));

    // clamd stopped: unscanned (unavailable), never clean — for EICAR or anything else.
    let socket = clamd.socket.clone();
    drop(clamd);
    for content in [EICAR, invoice.as_bytes()] {
        let verdict = scan.scan(content, content.len() as u64).await;
        assert!(matches!(verdict, Verdict::Unscanned(Unscanned::Unavailable(_))), "{verdict:?}");
        assert_eq!(verdict.code(), "unavailable");
    }
    assert!(scanner(&socket, 1 << 20).ping().await.is_err());
}

#[tokio::test]
async fn a_clamd_that_never_answers_is_unavailable_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("silent.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    // Accepts and reads, never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let scan = Scanner::new(ClamdAddress::Unix(socket), Duration::from_millis(500), 1 << 20);
    let verdict = scan.scan(&b"hello"[..], 5).await;
    assert!(matches!(verdict, Verdict::Unscanned(Unscanned::Unavailable(_))), "{verdict:?}");
}

/// A file written by Python's `zipfile`: an Office Open XML document, or a plain archive.
fn python_zip(dir: &Path, name: &str, office: bool) -> PathBuf {
    let path = dir.join(name);
    let script = r#"
import sys, zipfile
path, office = sys.argv[1], sys.argv[2] == "1"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    if office:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        z.writestr("word/document.xml", '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Invoice</w:t></w:r></w:p></w:body></w:document>')
    else:
        z.writestr("notes.txt", "not an office document")
"#;
    let status =
        Command::new("python3").arg("-c").arg(script).arg(&path).arg(if office { "1" } else { "0" }).status().unwrap();
    assert!(status.success());
    path
}

/// A real Windows program: the launcher pip ships (distlib's `t64.exe`).
fn windows_program() -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, pip._vendor.distlib as d; print(os.path.join(os.path.dirname(d.__file__), 't64.exe'))",
        ])
        .output()
        .unwrap();
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(path.exists(), "pip's t64.exe not found at {}", path.display());
    path
}

#[tokio::test]
async fn types_come_from_the_bytes_never_from_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let pdf_only = vec!["application/pdf".to_owned()];

    // A program renamed invoice.pdf is a program, and a PDF-only bucket refuses it.
    let renamed = dir.path().join("invoice.pdf");
    std::fs::copy(windows_program(), &renamed).unwrap();
    let program = sniff_file(renamed).await.unwrap();
    assert_eq!(program.media_type(), "application/vnd.microsoft.portable-executable");
    assert!(!allowed(&pdf_only, program.media_type()));

    let pdf = sniff_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n");
    assert_eq!(pdf.media_type(), "application/pdf");
    assert!(allowed(&pdf_only, pdf.media_type()) && pdf.inline_safe());

    // An Office document is told apart from a plain ZIP, whatever each is called.
    let docx = sniff_file(python_zip(dir.path(), "report.zip", true)).await.unwrap();
    assert_eq!(docx.media_type(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
    let zip = sniff_file(python_zip(dir.path(), "report.docx", false)).await.unwrap();
    assert_eq!(zip.media_type(), "application/zip");
    assert!(!docx.inline_safe() && !zip.inline_safe());

    // SVG (script can live in it) and HTML are never inline; a PNG is.
    let svg = sniff_bytes(br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#);
    assert_eq!(svg.media_type(), "image/svg+xml");
    assert!(!svg.inline_safe());
    let html = sniff_bytes(b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>");
    assert_eq!(html.media_type(), "text/html");
    assert!(!html.inline_safe());
    let png = sniff_bytes(&[
        0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0, 0, 0, 1, 8,
        6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89,
    ]);
    assert_eq!(png.media_type(), "image/png");
    assert!(png.inline_safe());
}
