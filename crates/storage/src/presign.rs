//! AWS Signature Version 4 presigned URLs (query-string authentication) that also sign the
//! `Content-Type` header: an upload with another type fails the signature check. object_store's
//! own signer signs the host only.

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use ring::{digest, hmac};

/// RFC 3986 unreserved characters stay; everything else is encoded (as SigV4 requires).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(key: &[u8], data: &str) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes()).as_ref().to_vec()
}

/// What a presigned request is for.
#[derive(Debug, Clone)]
pub struct Presign<'a> {
    pub method: &'a str,
    /// `http(s)://host[:port]`.
    pub origin: &'a str,
    /// The absolute path, unencoded (`/bucket/key`).
    pub path: &'a str,
    pub region: &'a str,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub expires_secs: u64,
    /// Signed besides `host` (lower-case names).
    pub headers: &'a [(&'a str, &'a str)],
    pub now: DateTime<Utc>,
}

/// The presigned URL.
pub fn presign(p: &Presign<'_>) -> String {
    let date = p.now.format("%Y%m%d").to_string();
    let stamp = p.now.format("%Y%m%dT%H%M%SZ").to_string();
    let scope = format!("{date}/{}/s3/aws4_request", p.region);
    let host = p.origin.split_once("://").map_or(p.origin, |(_, h)| h);
    let mut headers: Vec<(String, String)> =
        p.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned())).collect();
    headers.push(("host".into(), host.to_owned()));
    headers.sort();
    let signed_headers = headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let mut query = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("X-Amz-Credential", format!("{}/{scope}", p.access_key_id)),
        ("X-Amz-Date", stamp.clone()),
        ("X-Amz-Expires", p.expires_secs.to_string()),
        ("X-Amz-SignedHeaders", signed_headers.clone()),
    ]
    .iter()
    .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
    .collect::<Vec<_>>();
    query.sort();
    let query = query.join("&");
    let uri = p.path.split('/').map(encode).collect::<Vec<_>>().join("/");
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let canonical = format!("{}\n{uri}\n{query}\n{canonical_headers}\n{signed_headers}\nUNSIGNED-PAYLOAD", p.method);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let key = [&date, p.region, "s3", "aws4_request"]
        .iter()
        .fold(format!("AWS4{}", p.secret_access_key).into_bytes(), |key, part| mac(&key, part));
    let signature = hex(&mac(&key, &to_sign));
    format!("{}{uri}?{query}&X-Amz-Signature={signature}", p.origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of AWS's "Authenticating Requests: Using Query Parameters" page.
    #[test]
    fn matches_the_aws_documentation_example() {
        let now = DateTime::parse_from_rfc3339("2013-05-24T00:00:00Z").unwrap().with_timezone(&Utc);
        let url = presign(&Presign {
            method: "GET",
            origin: "https://examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            region: "us-east-1",
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            expires_secs: 86400,
            headers: &[],
            now,
        });
        assert!(
            url.ends_with("X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"),
            "{url}"
        );
        assert!(url.starts_with("https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"));
    }

    #[test]
    fn the_content_type_is_part_of_the_signature() {
        let now = Utc::now();
        let sign = |ct: &'static str| {
            presign(&Presign {
                method: "PUT",
                origin: "http://127.0.0.1:9000",
                path: "/bucket/files/a b",
                region: "us-east-1",
                access_key_id: "k",
                secret_access_key: "s",
                expires_secs: 900,
                headers: &[("content-type", ct)],
                now,
            })
        };
        let (pdf, png) = (sign("application/pdf"), sign("image/png"));
        assert!(pdf.contains("X-Amz-SignedHeaders=content-type%3Bhost") && pdf.contains("/bucket/files/a%20b?"));
        assert_ne!(pdf, png);
    }
}
