//! Every route in the OpenAPI document, fed what a hostile client sends: a NUL character and an
//! oversized value in every string field of its body, in every path and query parameter. The
//! answer is always a 4xx (or a success where the value is acceptable) — never a 5xx.

mod common;

use common::TestApp;
use reqwest::Method;
use serde_json::{Map, Value, json};

/// Resolves `$ref`s into the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// A plausible value for `schema`, and the JSON pointers of its string leaves.
fn sample(doc: &Value, schema: &Value, at: &str, strings: &mut Vec<String>) -> Value {
    let schema = resolve(doc, schema);
    if let Some(options) = schema.get("oneOf").or(schema.get("anyOf")).and_then(Value::as_array) {
        let chosen = options.iter().find(|o| resolve(doc, o)["type"] != "null").unwrap_or(&options[0]);
        return sample(doc, chosen, at, strings);
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    match kind.as_str() {
        Some("object") | None if schema.get("properties").is_some() => {
            let mut object = Map::new();
            for (name, property) in schema["properties"].as_object().unwrap() {
                let value = sample(doc, property, &format!("{at}/{name}"), strings);
                object.insert(name.clone(), value);
            }
            Value::Object(object)
        }
        Some("array") => json!([sample(doc, &schema["items"], &format!("{at}/0"), strings)]),
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(false),
        Some("string") => {
            strings.push(at.to_owned());
            match schema["format"].as_str() {
                Some("uuid") => json!(uuid::Uuid::now_v7().to_string()),
                Some("email") => json!("someone@example.com"),
                Some("date-time") => json!("2026-01-01T00:00:00Z"),
                _ => schema["enum"].get(0).cloned().unwrap_or(json!("plain-value")),
            }
        }
        _ => json!({}),
    }
}

struct Operation {
    method: String,
    path: String,
    body: Option<(String, Value, Vec<String>)>,
    query: Vec<String>,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let content = op["requestBody"]["content"].as_object();
            let body = content.and_then(|c| c.iter().next()).map(|(kind, media)| {
                let mut strings = Vec::new();
                let value = sample(doc, &media["schema"], "", &mut strings);
                (kind.clone(), value, strings)
            });
            let query = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter().filter(|p| p["in"] == "query").map(|p| p["name"].as_str().unwrap().to_owned()).collect()
                })
                .unwrap_or_default();
            ops.push(Operation { method: method.to_uppercase(), path: path.clone(), body, query });
        }
    }
    ops
}

/// `{param}`s filled with `value`.
fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out + rest
}

async fn send(app: &TestApp, token: &str, op: &Operation, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut request = app.client.request(Method::from_bytes(op.method.as_bytes()).unwrap(), app.url(path));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    if let (Some((kind, _, _)), Some(body)) = (&op.body, body) {
        request = if kind.contains("form") {
            let pairs: Vec<(String, String)> = body
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect();
            request.form(&pairs)
        } else {
            request.json(body)
        };
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn no_route_answers_5xx_to_nul_bytes_or_oversized_values() {
    let app = TestApp::start().await;
    app.sign_up("hostile-input", "owner@hostile.example", "hostile-owner").await;
    let doc = serde_json::to_value(&app.openapi).unwrap();
    let ops = operations(&doc);
    assert!(ops.len() >= 60, "the walk covers the document ({} operations)", ops.len());
    let huge = "ব".repeat(20_000); // 60 KB of Bengali: past every field's limit, within the body limit
    let mut sent = 0;
    for op in &ops {
        // A fresh token each time: some operations end sessions.
        let token = app.access_token("hostile-owner", None).await;
        let mut cases: Vec<(String, Option<Value>)> = Vec::new();
        let plain = op.body.as_ref().map(|(_, v, _)| v.clone());
        if op.path.contains('{') {
            cases.push((fill(&op.path, "x%00y"), plain.clone()));
            cases.push((fill(&op.path, &"z".repeat(3000)), plain.clone()));
        }
        let base = fill(&op.path, &uuid::Uuid::now_v7().to_string());
        for name in &op.query {
            cases.push((format!("{base}?{name}=a%00b"), plain.clone()));
            cases.push((format!("{base}?{name}={}", "q".repeat(5000)), plain.clone()));
        }
        if let Some((_, value, strings)) = &op.body {
            for pointer in strings {
                for evil in [json!("nul\u{0}inside"), json!(huge.clone()), json!("\u{0}")] {
                    let mut body = value.clone();
                    *body.pointer_mut(pointer).unwrap() = evil;
                    cases.push((base.clone(), Some(body)));
                }
            }
        }
        for (path, body) in cases {
            for credential in [token.as_str(), ""] {
                let (status, text) = send(&app, credential, op, &path, body.as_ref()).await;
                sent += 1;
                assert!(status < 500, "{} {path} answered {status}: {text}\nbody: {body:?}", op.method);
            }
        }
    }
    // The registry's own protocol too.
    let token = app.access_token("hostile-owner", None).await;
    for path in ["/npm/%00", "/npm/@hostile-input%2fx%00", "/npm/-/v1/search?text=%00"] {
        let status = app.as_user(&token, Method::GET, path).send().await.unwrap().status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
    }
    let doc = json!({"name": "@hostile-input/x", "versions": {"1.0.0": {"name": "@hostile-input/x", "version": "1.0.0",
        "description": "nul\u{0}"}}, "_attachments": {"x": {"data": "AAAA"}}});
    let put = app.as_user(&token, Method::PUT, "/npm/@hostile-input%2fx").json(&doc).send().await.unwrap();
    assert_eq!(put.status(), 400);
    eprintln!("{sent} hostile requests, none answered 5xx");
}

#[tokio::test]
async fn slow_and_idle_clients_do_not_hold_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut settings = vextrus_server::HttpSettings::new(64 * 1024, std::time::Duration::from_secs(10));
    settings.header_read_timeout = std::time::Duration::from_secs(1);
    let app = TestApp::start_with(settings).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let closed_within = |mut stream: tokio::net::TcpStream, seconds: u64| async move {
        let mut buffer = vec![0u8; 4096];
        let started = std::time::Instant::now();
        loop {
            let read = tokio::time::timeout(std::time::Duration::from_secs(seconds), stream.read(&mut buffer)).await;
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
                Ok(Ok(_)) => continue, // a 408 or similar before the close is fine
                Err(_) => panic!("the connection was still open after {seconds} s"),
            }
        }
    };
    // Headers trickling in, never finished (slowloris).
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let took = closed_within(slow, 5).await;
    assert!(took >= std::time::Duration::from_millis(900), "not before the limit: {took:?}");
    // A keep-alive connection left idle after its answer.
    let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = vec![0u8; 1024];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    closed_within(idle, 5).await;
    // And the server serves on.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}
