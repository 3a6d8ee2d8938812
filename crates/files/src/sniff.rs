//! What a file is, from its bytes: magic numbers, and for containers what is inside (a DOCX or an
//! XLSX is told apart from a plain ZIP, a Windows program from an MS-DOS one), by `file-format`.
//! The uploader's `Content-Type` and the name's extension play no part: a program renamed
//! `invoice.pdf` is a program.

use std::path::PathBuf;

use file_format::FileFormat;

/// Raster images and PDF are the only types a browser is let to show inline from our origin;
/// SVG and HTML can carry script and are always downloads.
const INLINE: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];

/// A file's sniffed type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed(FileFormat);

impl Sniffed {
    /// The media type stored and served (`application/octet-stream` when nothing matched).
    pub fn media_type(&self) -> &str {
        self.0.media_type()
    }

    /// A human name, e.g. "Office Open XML Document".
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Whether it may be served `inline` (otherwise always as an attachment).
    pub fn inline_safe(&self) -> bool {
        inline_safe(self.media_type())
    }
}

/// Whether `t` is written as a media type (`type/subtype`, RFC 9110 tokens, at most 100 bytes);
/// with `family`, `type/*` too.
pub fn well_formed(t: &str, family: bool) -> bool {
    let token = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c));
    t.len() <= 100 && t.split_once('/').is_some_and(|(a, b)| token(a) && ((family && b == "*") || token(b)))
}

/// Whether a stored (sniffed) media type may be served `inline`.
pub fn inline_safe(media_type: &str) -> bool {
    INLINE.contains(&media_type)
}

/// Sniffs bytes in memory (the whole file: containers are read from their end too).
pub fn sniff_bytes(bytes: &[u8]) -> Sniffed {
    Sniffed(FileFormat::from_bytes(bytes))
}

/// Sniffs a staged file, off the async threads (reading a container's directory is blocking I/O).
pub async fn sniff_file(path: PathBuf) -> std::io::Result<Sniffed> {
    tokio::task::spawn_blocking(move || FileFormat::from_file(path).map(Sniffed))
        .await
        .map_err(std::io::Error::other)?
}

/// Whether `media_type` is on a bucket's allow-list: exact types (`application/pdf`) or a whole
/// family (`image/*`). An empty list allows every type.
pub fn allowed(allow_list: &[String], media_type: &str) -> bool {
    allow_list.is_empty()
        || allow_list.iter().any(|a| match a.strip_suffix("/*") {
            Some(family) => media_type.split_once('/').is_some_and(|(f, _)| f.eq_ignore_ascii_case(family)),
            None => a.eq_ignore_ascii_case(media_type),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_take_exact_types_and_families() {
        let pdf_only = vec!["application/pdf".to_owned()];
        assert!(allowed(&pdf_only, "application/pdf"));
        assert!(!allowed(&pdf_only, "application/vnd.microsoft.portable-executable"));
        let images = vec!["image/*".to_owned()];
        assert!(allowed(&images, "image/png"));
        assert!(!allowed(&images, "application/pdf"));
        assert!(!allowed(&images, "imagex/png"));
        assert!(allowed(&[], "application/octet-stream"));
    }
}
