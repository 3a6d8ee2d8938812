//! A packument serialized once for every public URL it may be served from. The URL a client
//! reached the platform at (`Host`, or a trusted proxy's `X-Forwarded-Host`) appears in every
//! tarball URL, but it is the client's to choose: what is kept in memory is the document with a
//! secret marker where the URL goes, split at the markers, so that one copy serves every URL and
//! no client can make the platform keep another.

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use ring::digest::{SHA256, digest};

/// Stands where the public URL goes; random per process, so no document can contain it.
static MARKER: LazyLock<String> = LazyLock::new(|| {
    let mut random = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random)
        .expect("the system's random source works");
    format!("http://{}.vextrus-base.invalid", crate::service::hex(&random))
});

/// What [`Rendered::new`]'s document is rendered with in place of the public URL.
pub(crate) fn marker() -> &'static str {
    &MARKER
}

/// A serialized document, split where the public URL goes.
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    parts: std::sync::Arc<[Bytes]>,
    /// The canonical bytes' digest: an ETag for a base URL is derived from it.
    digest: [u8; 16],
    len: usize,
}

impl Rendered {
    /// `json` was rendered with [`marker`] as its base URL.
    pub(crate) fn new(json: Vec<u8>) -> Self {
        let all = Bytes::from(json);
        let mut digest_bytes = [0u8; 16];
        digest_bytes.copy_from_slice(&digest(&SHA256, &all).as_ref()[..16]);
        let marker = MARKER.as_bytes();
        let mut parts = Vec::new();
        let mut start = 0;
        let mut at = 0;
        while let Some(found) = all[at..].windows(marker.len()).position(|w| w == marker) {
            parts.push(all.slice(start..at + found));
            at += found + marker.len();
            start = at;
        }
        parts.push(all.slice(start..));
        Self { parts: parts.into(), digest: digest_bytes, len: all.len() }
    }

    /// Bytes held in memory (the body and the bookkeeping around it).
    pub(crate) fn weight(&self) -> usize {
        self.len + self.parts.len() * std::mem::size_of::<Bytes>() + 64
    }

    /// The document as served from `base`.
    pub(crate) fn body(&self, base: &str) -> Bytes {
        if let [only] = &self.parts[..] {
            return only.clone();
        }
        let markers = self.parts.len() - 1;
        let mut body = BytesMut::with_capacity(self.len - markers * MARKER.len() + markers * base.len());
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(base.as_bytes());
            }
            body.extend_from_slice(part);
        }
        body.freeze()
    }

    /// A weak ETag of the document as served from `base`.
    pub(crate) fn etag(&self, base: &str) -> String {
        let mut input = Vec::with_capacity(16 + base.len());
        input.extend_from_slice(&self.digest);
        if self.parts.len() > 1 {
            input.extend_from_slice(base.as_bytes());
        }
        format!("W/\"{}\"", crate::service::hex(&digest(&SHA256, &input).as_ref()[..16]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rendering_serves_every_base_as_if_rendered_for_it() {
        let doc = |base: &str| {
            serde_json::to_vec(&serde_json::json!({
                "versions": {"1.0.0": {"dist": {"tarball": format!("{base}/npm/x/-/x-1.0.0.tgz")}},
                             "2.0.0": {"dist": {"tarball": format!("{base}/npm/x/-/x-2.0.0.tgz")}}},
                "readme": "http://example.com",
            }))
            .unwrap()
        };
        let rendered = Rendered::new(doc(marker()));
        for base in ["http://127.0.0.1:8080", "https://registry.vextrus.example", ""] {
            assert_eq!(rendered.body(base), Bytes::from(doc(base)), "{base}");
        }
        assert_ne!(rendered.etag("http://a"), rendered.etag("http://b"));
        assert_eq!(rendered.etag("http://a"), rendered.etag("http://a"));
        let plain = Rendered::new(b"{}".to_vec());
        assert_eq!(plain.body("http://a"), Bytes::from_static(b"{}"));
        assert_eq!(plain.etag("http://a"), plain.etag("http://b"), "nothing in it depends on the base");
        assert!(rendered.weight() < doc(marker()).len() + 256);
    }
}
