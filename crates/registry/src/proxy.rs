//! Upstream registries ("uplinks"): names no organization here owns are fetched from the first
//! uplink whose patterns match, cached, and served as if they were ours (tarball URLs point
//! here). Packuments are kept as the upstream sent them — in memory and in PostgreSQL, so every
//! instance shares them and a restart keeps them — and revalidated in the background once older
//! than the uplink's `maxage` (stale-while-revalidate). Tarballs are fetched on first download,
//! checked against the packument's integrity while they stream into object storage, and served
//! from there afterwards. When the upstream is down or slow the cached copy is served; with
//! nothing cached the answer is 503, never 404. A package the upstream unpublishes becomes a
//! tombstone here.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA512};
use serde_json::{Map, Value, json};
use vextrus_db::{Database, DbError, Tx as _};
use vextrus_storage::{Object, Storage, StorageError};

use crate::model::PackageName;
use crate::rendered::Rendered;

/// One upstream registry.
#[derive(Clone)]
pub struct Uplink {
    pub name: String,
    /// The registry's root, ending in `/` (`https://registry.npmjs.org/`).
    pub url: url::Url,
    /// The `Authorization` header it is sent, if any (never logged).
    pub auth: Option<String>,
    /// Verdaccio's package patterns: which names it may serve.
    pub packages: Vec<String>,
    pub timeout: Duration,
    pub maxage: Duration,
    pub not_found_ttl: Duration,
    pub max_failures: u32,
    pub fail_timeout: Duration,
}

impl std::fmt::Debug for Uplink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uplink").field("name", &self.name).field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl Uplink {
    /// An uplink serving every name, with the configuration's defaults.
    pub fn new(name: &str, url: &str) -> Result<Self, String> {
        let mut url = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        Ok(Self {
            name: name.to_owned(),
            url,
            auth: None,
            packages: vec!["**".into()],
            timeout: Duration::from_secs(30),
            maxage: Duration::from_secs(120),
            not_found_ttl: Duration::from_secs(300),
            max_failures: 2,
            fail_timeout: Duration::from_secs(300),
        })
    }

    fn serves(&self, name: &str) -> bool {
        self.packages.iter().any(|pattern| matches_pattern(pattern, name))
    }
}

/// Verdaccio's (minimatch's) package patterns: `*` is any run of characters but `/`, `**` any
/// run at all; everything else stands for itself.
pub fn matches_pattern(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p {
            [] => n.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=n.len()).any(|i| go(rest, &n[i..])),
            [b'*', rest @ ..] => (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != b'/').any(|i| go(rest, &n[i..])),
            [c, rest @ ..] => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// What proxying is configured with.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub uplinks: Vec<Uplink>,
    /// Proxied versions younger than this are hidden.
    pub min_release_age: Option<chrono::Duration>,
    /// Proxied packages are served without a token.
    pub anonymous: bool,
    /// Roughly how many bytes of packuments to keep in memory (the rest reload from PostgreSQL).
    pub memory_bytes: usize,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self { uplinks: Vec::new(), min_release_age: None, anonymous: false, memory_bytes: 256 << 20 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No uplink has it (or may serve it).
    #[error("not found")]
    NotFound,
    /// The upstream cannot be reached and nothing usable is cached.
    #[error("{0}")]
    Unavailable(String),
    /// The upstream answered something unusable (a tarball failing its integrity check).
    #[error("{0}")]
    BadGateway(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A packument as the upstream last answered.
#[derive(Debug)]
pub struct Entry {
    uplink: String,
    state: State,
    etag: Option<String>,
    fetched: Instant,
    /// Versions published after this are quarantined (the minimum release age).
    cutoff: Option<chrono::DateTime<chrono::Utc>>,
    /// The serialized answers, full and abbreviated (each serves every public URL).
    rendered: Mutex<[Option<Rendered>; 2]>,
}

/// A found package keeps the upstream's bytes and, for tarball downloads, where each tarball is
/// and what it must hash to; the document itself is parsed again when a rendering is made (once
/// per format) or a version is asked for. A parsed document is several times the
/// size of its bytes, and popular packuments are megabytes.
#[derive(Debug)]
enum State {
    Found { raw: Bytes, tarballs: HashMap<String, (String, Expected)> },
    Missing,
    Gone,
}

impl Entry {
    fn fresh(&self, uplink: Option<&Uplink>) -> bool {
        let ttl = match (&self.state, uplink) {
            (_, None) => Duration::ZERO,
            (State::Found { .. }, Some(u)) => u.maxage,
            (_, Some(u)) => u.not_found_ttl,
        };
        self.fetched.elapsed() < ttl
    }

    /// The document as served (a found package's, with young versions quarantined).
    pub fn doc(&self) -> Result<Value, ProxyError> {
        match &self.state {
            State::Found { raw, .. } => {
                parse(raw, self.cutoff).ok_or_else(|| ProxyError::BadGateway("the stored packument is not JSON".into()))
            }
            State::Missing | State::Gone => Err(ProxyError::NotFound),
        }
    }

    /// Roughly what the entry holds in memory: its bytes and the two renderings of them.
    fn weight(&self) -> usize {
        match &self.state {
            State::Found { raw, tarballs } => raw.len() * 3 + tarballs.len() * 256,
            State::Missing | State::Gone => 256,
        }
    }

    /// The packument as served (for any public URL), serialized once per format.
    pub(crate) fn rendered(&self, name: &PackageName, abbreviated: bool) -> Result<Rendered, ProxyError> {
        let slot = usize::from(abbreviated);
        if let Some(found) = &self.rendered.lock().unwrap_or_else(|e| e.into_inner())[slot] {
            return Ok(found.clone());
        }
        let doc = self.doc()?;
        let served = render(&doc, name, crate::rendered::marker(), abbreviated);
        let rendered = Rendered::new(serde_json::to_vec(&served).unwrap_or_default());
        self.rendered.lock().unwrap_or_else(|e| e.into_inner())[slot] = Some(rendered.clone());
        Ok(rendered)
    }
}

/// A row of `registry.upstream_packuments`, with its age in seconds.
#[derive(sqlx::FromRow)]
struct StoredRow {
    uplink: String,
    state: String,
    body: Option<Vec<u8>>,
    etag: Option<String>,
    age: f64,
}

#[derive(Debug, Default)]
struct Health {
    failures: u32,
    down_until: Option<Instant>,
}

/// The uplinks and what has been fetched from them.
#[derive(Debug)]
pub struct Proxy {
    settings: ProxySettings,
    client: reqwest::Client,
    /// The packuments in memory, and roughly how many bytes they hold.
    entries: RwLock<(HashMap<String, Arc<Entry>>, usize)>,
    health: Mutex<HashMap<String, Health>>,
    /// Names being revalidated in the background (one refresh at a time per name).
    refreshing: Mutex<HashSet<String>>,
    /// Each uplink's signing keys, as last fetched.
    keys: tokio::sync::Mutex<HashMap<String, (Instant, Vec<crate::signing::PublicKey>)>>,
}

/// The largest packument taken from an upstream (the npm registry's largest are tens of MiB).
const MAX_UPSTREAM_PACKUMENT: usize = 128 << 20;
/// The largest audit answer taken from an upstream.
const MAX_UPSTREAM_AUDIT: usize = 64 << 20;

/// The most an uplink's search answer may be (250 results are well under 1 MiB).
const MAX_UPSTREAM_SEARCH: usize = 4 << 20;

/// An upstream's body, read as it arrives and refused past `cap` bytes (whatever its
/// `Content-Length` said: that sizes nothing here).
async fn read_capped(response: reqwest::Response, cap: usize) -> Result<Bytes, String> {
    let mut body = bytes::BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.without_url().to_string())?;
        if body.len() + chunk.len() > cap {
            return Err(format!("the upstream's answer is larger than {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// How long an uplink's signing keys are used before they are fetched again.
const KEYS_MAXAGE: Duration = Duration::from_secs(3600);

impl Proxy {
    pub fn new(settings: ProxySettings) -> Self {
        let client = reqwest::Client::builder()
            .user_agent(concat!("vextrus-registry/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("the HTTP client builds");
        Self {
            settings,
            client,
            entries: RwLock::default(),
            health: Mutex::default(),
            refreshing: Mutex::default(),
            keys: tokio::sync::Mutex::default(),
        }
    }

    /// The uplinks' registry signing keys (`/-/npm/v1/keys`), so that clients verify proxied
    /// packages' upstream signatures against this registry. Fetched at most hourly; an uplink
    /// that cannot be reached contributes what it last answered.
    pub async fn upstream_keys(&self) -> Vec<crate::signing::PublicKey> {
        let mut known = self.keys.lock().await;
        let mut all = Vec::new();
        for uplink in &self.settings.uplinks {
            let fresh = known.get(&uplink.name).is_some_and(|(at, _)| at.elapsed() < KEYS_MAXAGE);
            if !fresh && !self.down(uplink) {
                match self.fetch_keys(uplink).await {
                    Ok(keys) => {
                        known.insert(uplink.name.clone(), (Instant::now(), keys));
                    }
                    Err(why) => tracing::info!(uplink = uplink.name, why, "the uplink's signing keys were not fetched"),
                }
            }
            if let Some((_, keys)) = known.get(&uplink.name) {
                all.extend(keys.iter().cloned());
            }
        }
        all
    }

    async fn fetch_keys(&self, uplink: &Uplink) -> Result<Vec<crate::signing::PublicKey>, String> {
        #[derive(serde::Deserialize)]
        struct Keys {
            keys: Vec<crate::signing::PublicKey>,
        }
        let url = uplink.url.join("-/npm/v1/keys").map_err(|e| e.to_string())?;
        let mut request = self.client.get(url).timeout(uplink.timeout);
        if let Some(auth) = &uplink.auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.map_err(|e| e.without_url().to_string())?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new()); // a registry that signs nothing
        }
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        Ok(response.json::<Keys>().await.map_err(|e| e.without_url().to_string())?.keys)
    }

    /// Forwards a security-audit request (`/-/npm/v1/security/…`, its body as sent, gzip or
    /// not) to the first uplink that answers, and answers what it answered.
    pub async fn audit(
        &self,
        path: &str,
        content_type: Option<&str>,
        content_encoding: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Option<String>, Bytes), ProxyError> {
        let mut unreachable = Vec::new();
        for uplink in &self.settings.uplinks {
            if self.down(uplink) {
                unreachable.push(format!("{} is down (backing off)", uplink.name));
                continue;
            }
            let url =
                uplink.url.join(path.trim_start_matches('/')).map_err(|e| ProxyError::Unavailable(e.to_string()))?;
            let mut request = self.client.post(url).timeout(uplink.timeout).body(body.clone());
            for (name, value) in [("content-type", content_type), ("content-encoding", content_encoding)] {
                if let Some(value) = value {
                    request = request.header(name, value);
                }
            }
            if let Some(auth) = &uplink.auth {
                request = request.header("authorization", auth);
            }
            match request.send().await {
                Ok(response) if !response.status().is_server_error() => {
                    self.answered(uplink);
                    let status = response.status().as_u16();
                    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let body = read_capped(response, MAX_UPSTREAM_AUDIT).await.map_err(ProxyError::Unavailable)?;
                    return Ok((status, kind, body));
                }
                Ok(response) => {
                    let why = format!("answered {}", response.status());
                    self.failed(uplink, &why);
                    unreachable.push(format!("{}: {why}", uplink.name));
                }
                Err(e) => {
                    let why = if e.is_timeout() { "timed out".to_owned() } else { e.without_url().to_string() };
                    self.failed(uplink, &why);
                    unreachable.push(format!("{}: {why}", uplink.name));
                }
            }
        }
        Err(ProxyError::Unavailable(format!(
            "security audits are answered by the upstream registry, which cannot be reached ({})",
            unreachable.join("; ")
        )))
    }

    /// `npm search` at the first uplink that answers: its result objects (at most `size`, and
    /// only of names some uplink may serve) and its total. Nothing when none answers: a search
    /// here still answers with what is hosted here.
    pub async fn search(&self, text: &str, size: i64) -> Option<(Vec<serde_json::Value>, i64)> {
        for uplink in &self.settings.uplinks {
            if self.down(uplink) {
                continue;
            }
            let Ok(mut url) = uplink.url.join("-/v1/search") else { continue };
            url.query_pairs_mut().append_pair("text", text).append_pair("size", &size.to_string());
            let mut request = self.client.get(url).timeout(uplink.timeout);
            if let Some(auth) = &uplink.auth {
                request = request.header("authorization", auth);
            }
            let response = match request.send().await {
                Ok(response) if response.status().is_success() => response,
                Ok(response) => {
                    tracing::info!(uplink = uplink.name, status = %response.status(), "uplink search failed");
                    continue;
                }
                Err(e) => {
                    tracing::info!(uplink = uplink.name, error = %e.without_url(), "uplink search failed");
                    continue;
                }
            };
            let Ok(body) = read_capped(response, MAX_UPSTREAM_SEARCH).await else { continue };
            let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&body) else { continue };
            let objects: Vec<serde_json::Value> = answer["objects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| {
                    o["package"]["name"].as_str().is_some_and(|n| self.settings.uplinks.iter().any(|u| u.serves(n)))
                })
                .take(usize::try_from(size).unwrap_or(0))
                .cloned()
                .collect();
            let total = answer["total"].as_i64().unwrap_or(objects.len() as i64);
            return Some((objects, total));
        }
        None
    }

    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// Whether some uplink may serve `name`.
    pub fn proxies(&self, name: &PackageName) -> bool {
        self.settings.uplinks.iter().any(|u| u.serves(name.as_str()))
    }

    fn uplink(&self, name: &str) -> Option<&Uplink> {
        self.settings.uplinks.iter().find(|u| u.name == name)
    }

    /// The packument of `name`: fresh from memory or PostgreSQL, stale while a background
    /// refresh runs, or fetched now when nothing is cached.
    pub async fn packument(self: &Arc<Self>, db: &Database, name: &PackageName) -> Result<Arc<Entry>, ProxyError> {
        let cached = match self.remembered(name.as_str()) {
            Some(entry) => Some(entry),
            None => self.load(db, name.as_str()).await?,
        };
        let outcome = match &cached {
            Some(entry) if entry.fresh(self.uplink(&entry.uplink)) => "hit",
            Some(entry) if matches!(entry.state, State::Found { .. }) => {
                self.refresh_in_background(db, name, entry.clone());
                metrics::counter!("vextrus_registry_proxy_packuments_total", "outcome" => "stale").increment(1);
                return Ok(entry.clone());
            }
            Some(entry) => {
                // A remembered "missing" or "gone" that has expired: ask again, keep it if asking fails.
                return match self.fetch(db, name, Some(entry)).await {
                    Ok(fetched) => Ok(fetched),
                    Err(ProxyError::Unavailable(_)) => Ok(entry.clone()),
                    Err(e) => Err(e),
                };
            }
            None => "miss",
        };
        metrics::counter!("vextrus_registry_proxy_packuments_total", "outcome" => outcome).increment(1);
        match cached {
            Some(entry) => Ok(entry),
            None => self.fetch(db, name, None).await,
        }
    }

    fn remembered(&self, name: &str) -> Option<Arc<Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).0.get(name).cloned()
    }

    /// Keeps `entry` in memory; past the memory budget the map starts over (what it held
    /// reloads from PostgreSQL, not from the upstream).
    fn remember(&self, name: &str, entry: Arc<Entry>) {
        let mut guard = self.entries.write().unwrap_or_else(|e| e.into_inner());
        let (entries, bytes) = &mut *guard;
        let weight = entry.weight();
        if *bytes + weight > self.settings.memory_bytes {
            entries.clear();
            *bytes = 0;
        }
        if let Some(old) = entries.insert(name.to_owned(), entry) {
            *bytes = bytes.saturating_sub(old.weight());
        }
        *bytes += weight;
    }

    fn cutoff(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.settings.min_release_age.map(|age| chrono::Utc::now() - age)
    }

    /// A found package's entry state, from the upstream's bytes (`None`: not a packument).
    fn found(&self, raw: Bytes) -> Option<State> {
        let doc = parse(&raw, self.cutoff())?;
        let tarballs = doc
            .get("versions")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|versions| versions.values())
            .filter_map(|manifest| manifest.get("dist"))
            .filter_map(|dist| {
                let url = dist.get("tarball")?.as_str()?;
                let file = url.rsplit('/').next()?.to_owned();
                Some((file, (url.to_owned(), Expected::of(dist)?)))
            })
            .collect();
        Some(State::Found { raw, tarballs })
    }

    /// What PostgreSQL has (another instance may have fetched it).
    async fn load(&self, db: &Database, name: &str) -> Result<Option<Arc<Entry>>, ProxyError> {
        let mut tx = db.system().await?;
        let row: Option<StoredRow> = sqlx::query_as(
            "SELECT uplink, state, body, etag, extract(epoch FROM now() - fetched_at)::float8 AS age
               FROM registry.upstream_packuments WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(tx.conn())
        .await
        .map_err(DbError::from)?;
        tx.commit().await?;
        let Some(StoredRow { uplink, state, body, etag, age }) = row else { return Ok(None) };
        let state = match (state.as_str(), body) {
            ("found", Some(raw)) => match self.found(Bytes::from(raw)) {
                Some(state) => state,
                None => return Ok(None),
            },
            ("gone", _) => State::Gone,
            _ => State::Missing,
        };
        let fetched = Instant::now().checked_sub(Duration::from_secs_f64(age.max(0.0))).unwrap_or_else(Instant::now);
        let cutoff = self.cutoff();
        let entry = Arc::new(Entry { uplink, state, etag, fetched, cutoff, rendered: Mutex::default() });
        self.remember(name, entry.clone());
        Ok(Some(entry))
    }

    fn refresh_in_background(self: &Arc<Self>, db: &Database, name: &PackageName, entry: Arc<Entry>) {
        if !self.refreshing.lock().unwrap_or_else(|e| e.into_inner()).insert(name.as_str().to_owned()) {
            return;
        }
        let (proxy, db, name) = (self.clone(), db.clone(), name.clone());
        tokio::spawn(async move {
            if let Err(e) = proxy.fetch(&db, &name, Some(&entry)).await {
                tracing::info!(package = %name, error = %e, "revalidating a proxied packument failed; the cached copy stays");
            }
            proxy.refreshing.lock().unwrap_or_else(|e| e.into_inner()).remove(name.as_str());
        });
    }

    fn down(&self, uplink: &Uplink) -> bool {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        health.get(&uplink.name).and_then(|h| h.down_until).is_some_and(|until| Instant::now() < until)
    }

    fn answered(&self, uplink: &Uplink) {
        self.health.lock().unwrap_or_else(|e| e.into_inner()).remove(&uplink.name);
    }

    fn failed(&self, uplink: &Uplink, why: &str) {
        metrics::counter!("vextrus_registry_uplink_failures_total", "uplink" => uplink.name.clone()).increment(1);
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let entry = health.entry(uplink.name.clone()).or_default();
        entry.failures += 1;
        if entry.failures >= uplink.max_failures {
            tracing::warn!(uplink = uplink.name, failures = entry.failures, why, "uplink is down; backing off");
            entry.down_until = Some(Instant::now() + uplink.fail_timeout);
            entry.failures = 0;
        }
    }

    /// Asks the uplinks that may serve `name`, in order, and remembers the answer.
    async fn fetch(
        &self,
        db: &Database,
        name: &PackageName,
        previous: Option<&Arc<Entry>>,
    ) -> Result<Arc<Entry>, ProxyError> {
        let mut unreachable = Vec::new();
        let mut missing_at = None;
        for uplink in self.settings.uplinks.iter().filter(|u| u.serves(name.as_str())) {
            if self.down(uplink) {
                unreachable.push(format!("{} is down (backing off)", uplink.name));
                continue;
            }
            let url = uplink.url.join(&escaped(name)).map_err(|e| ProxyError::Unavailable(e.to_string()))?;
            let mut request = self.client.get(url).header("accept", "application/json").timeout(uplink.timeout);
            if let Some(auth) = &uplink.auth {
                request = request.header("authorization", auth);
            }
            let same_uplink = previous.filter(|p| p.uplink == uplink.name && matches!(p.state, State::Found { .. }));
            if let Some(etag) = same_uplink.and_then(|p| p.etag.as_deref()) {
                request = request.header("if-none-match", etag);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    let why = if e.is_timeout() { "timed out".to_owned() } else { e.without_url().to_string() };
                    self.failed(uplink, &why);
                    unreachable.push(format!("{}: {why}", uplink.name));
                    continue;
                }
            };
            let status = response.status();
            if status == reqwest::StatusCode::NOT_MODIFIED
                && let Some(previous) = same_uplink
                && let State::Found { raw, .. } = &previous.state
            {
                self.answered(uplink);
                let raw = raw.clone();
                return self.keep(db, name, uplink, raw, previous.etag.clone()).await;
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                self.answered(uplink);
                missing_at.get_or_insert(uplink);
                continue;
            }
            if !status.is_success() {
                let why = format!("answered {status}");
                self.failed(uplink, &why);
                unreachable.push(format!("{}: {why}", uplink.name));
                continue;
            }
            let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let raw = match tokio::time::timeout(uplink.timeout, read_capped(response, MAX_UPSTREAM_PACKUMENT)).await {
                Ok(Ok(raw)) => raw,
                Ok(Err(e)) => {
                    self.failed(uplink, "the body broke off or was too large");
                    unreachable.push(format!("{}: {e}", uplink.name));
                    continue;
                }
                Err(_) => {
                    self.failed(uplink, "timed out");
                    unreachable.push(format!("{}: timed out", uplink.name));
                    continue;
                }
            };
            self.answered(uplink);
            return self.keep(db, name, uplink, raw, etag).await;
        }
        if let Some(uplink) = missing_at {
            // It was there and is not any more: a tombstone, not a stale `latest`.
            let was_found = previous.is_some_and(|p| matches!(p.state, State::Found { .. } | State::Gone));
            let state = if was_found { State::Gone } else { State::Missing };
            return self.store(db, name, uplink, state, None).await;
        }
        if previous.is_none() && unreachable.is_empty() {
            return Err(ProxyError::NotFound);
        }
        Err(ProxyError::Unavailable(format!(
            "{name} is not cached here and the upstream registry cannot be reached ({})",
            unreachable.join("; ")
        )))
    }

    /// A fetched document (or a 304 for the one we had).
    async fn keep(
        &self,
        db: &Database,
        name: &PackageName,
        uplink: &Uplink,
        raw: Bytes,
        etag: Option<String>,
    ) -> Result<Arc<Entry>, ProxyError> {
        let Some(doc) = parse(&raw, None) else {
            self.failed(uplink, "not a packument");
            return Err(ProxyError::BadGateway(format!("the upstream's document for {name} is not a packument")));
        };
        // npm answers an unpublished package with a document whose `time.unpublished` is set.
        let unpublished = doc.pointer("/time/unpublished").is_some()
            && doc.get("versions").and_then(Value::as_object).is_none_or(Map::is_empty);
        drop(doc);
        let state = if unpublished { State::Gone } else { self.found(raw).ok_or(ProxyError::NotFound)? };
        self.store(db, name, uplink, state, etag).await
    }

    async fn store(
        &self,
        db: &Database,
        name: &PackageName,
        uplink: &Uplink,
        state: State,
        etag: Option<String>,
    ) -> Result<Arc<Entry>, ProxyError> {
        let (word, body) = match &state {
            State::Found { raw, .. } => ("found", Some(raw.to_vec())),
            State::Missing => ("missing", None),
            State::Gone => ("gone", None),
        };
        let mut tx = db.system().await?;
        sqlx::query(
            "INSERT INTO registry.upstream_packuments (name, uplink, state, body, etag, fetched_at)
             VALUES ($1, $2, $3, $4, $5, now())
             ON CONFLICT (name) DO UPDATE SET uplink = $2, state = $3, body = $4, etag = $5, fetched_at = now()",
        )
        .bind(name.as_str())
        .bind(&uplink.name)
        .bind(word)
        .bind(body)
        .bind(&etag)
        .execute(tx.conn())
        .await
        .map_err(DbError::from)?;
        tx.commit().await?;
        let entry = Arc::new(Entry {
            uplink: uplink.name.clone(),
            state,
            etag,
            fetched: Instant::now(),
            cutoff: self.cutoff(),
            rendered: Mutex::default(),
        });
        self.remember(name.as_str(), entry.clone());
        Ok(entry)
    }

    /// A proxied tarball: from object storage, or fetched now (streamed into storage while its
    /// integrity is checked, then served from there).
    pub async fn tarball(
        self: &Arc<Self>,
        db: &Database,
        storage: &Storage,
        name: &PackageName,
        file: &str,
    ) -> Result<Object, ProxyError> {
        let key = format!("upstream/{name}/-/{file}");
        if let Some(object) = storage.get(&key).await? {
            metrics::counter!("vextrus_registry_proxy_tarballs_total", "outcome" => "hit").increment(1);
            return Ok(object);
        }
        let entry = self.packument(db, name).await?;
        let State::Found { tarballs, .. } = &entry.state else { return Err(ProxyError::NotFound) };
        // Only tarballs with an integrity to check are listed (and only versions out of quarantine).
        let (url, expected) = tarballs.get(file).ok_or(ProxyError::NotFound)?;
        let uplink = self.uplink(&entry.uplink).ok_or(ProxyError::NotFound)?;
        if self.down(uplink) {
            return Err(ProxyError::Unavailable(format!(
                "{file} is not cached here and the upstream registry is down ({} is backing off)",
                uplink.name
            )));
        }
        metrics::counter!("vextrus_registry_proxy_tarballs_total", "outcome" => "miss").increment(1);
        self.download(storage, uplink, url, &key, expected).await?;
        storage.get(&key).await?.ok_or_else(|| ProxyError::Unavailable("the cached tarball vanished".into()))
    }

    async fn download(
        &self,
        storage: &Storage,
        uplink: &Uplink,
        url: &str,
        key: &str,
        expected: &Expected,
    ) -> Result<(), ProxyError> {
        let unavailable =
            |why: String| ProxyError::Unavailable(format!("the upstream registry cannot be reached: {why}"));
        let url = url::Url::parse(url)
            .map_err(|_| ProxyError::BadGateway(format!("the upstream's tarball URL {url:?} is not a URL")))?;
        let mut request = self.client.get(url.clone());
        // The uplink's credentials go only to the uplink's own host.
        if let Some(auth) = &uplink.auth
            && url.host_str() == uplink.url.host_str()
            && url.port_or_known_default() == uplink.url.port_or_known_default()
        {
            request = request.header("authorization", auth);
        }
        let response = match tokio::time::timeout(uplink.timeout, request.send()).await {
            Ok(Ok(response)) if response.status().is_success() => response,
            Ok(Ok(response)) => {
                let why = format!("the tarball answered {}", response.status());
                if response.status().is_server_error() {
                    self.failed(uplink, &why);
                    return Err(unavailable(why));
                }
                return Err(ProxyError::BadGateway(why));
            }
            Ok(Err(e)) => {
                let why = e.without_url().to_string();
                self.failed(uplink, &why);
                return Err(unavailable(why));
            }
            Err(_) => {
                self.failed(uplink, "timed out");
                return Err(unavailable("timed out".into()));
            }
        };
        let mut upload = storage.upload(key).await?;
        let mut sha512 = Context::new(&SHA512);
        let mut sha1 = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        let mut body = response.bytes_stream();
        loop {
            let chunk = match tokio::time::timeout(uplink.timeout, body.next()).await {
                Ok(Some(Ok(chunk))) => chunk,
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    let _ = upload.abort().await;
                    self.failed(uplink, "the tarball broke off");
                    return Err(unavailable(e.without_url().to_string()));
                }
                Err(_) => {
                    let _ = upload.abort().await;
                    self.failed(uplink, "timed out");
                    return Err(unavailable("the tarball download stalled".into()));
                }
            };
            sha512.update(&chunk);
            sha1.update(&chunk);
            if let Err(e) = upload.write(&chunk).await {
                let _ = upload.abort().await;
                return Err(e.into());
            }
        }
        let matches = match expected {
            Expected::Sha512(digest) => sha512.finish().as_ref() == digest.as_slice(),
            Expected::Sha1(digest) => sha1.finish().as_ref() == digest.as_slice(),
        };
        if !matches {
            let _ = upload.abort().await;
            tracing::error!(key, "an upstream tarball does not match its integrity; not cached");
            return Err(ProxyError::BadGateway(format!("the upstream's {key} does not match its integrity")));
        }
        upload.finish().await?;
        Ok(())
    }
}

/// The upstream document as it will be served: versions published after `cutoff` removed (and
/// tags that pointed at them moved or dropped). `None` when it is not a JSON object.
fn parse(raw: &[u8], cutoff: Option<chrono::DateTime<chrono::Utc>>) -> Option<Value> {
    let mut doc: Value = serde_json::from_slice(raw).ok()?;
    doc.as_object()?;
    if let Some(cutoff) = cutoff {
        quarantine(&mut doc, cutoff);
    }
    Some(doc)
}

/// What a downloaded tarball must hash to: `dist.integrity` when it is SHA-512, else `shasum`.
#[derive(Debug)]
enum Expected {
    Sha512(Vec<u8>),
    Sha1(Vec<u8>),
}

impl Expected {
    fn of(dist: &Value) -> Option<Self> {
        use base64::Engine as _;
        let integrity = dist.get("integrity").and_then(Value::as_str).unwrap_or_default();
        let sha512 = integrity
            .split_whitespace()
            .find_map(|i| i.strip_prefix("sha512-"))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        if let Some(digest) = sha512 {
            return Some(Self::Sha512(digest));
        }
        let shasum = dist.get("shasum").and_then(Value::as_str)?;
        let bytes: Option<Vec<u8>> = (0..shasum.len())
            .step_by(2)
            .map(|i| shasum.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        bytes.filter(|b| b.len() == 20).map(Self::Sha1)
    }
}

/// `@scope/name` as a registry path segment: `@scope%2fname`.
fn escaped(name: &PackageName) -> String {
    name.as_str().replacen('/', "%2f", 1)
}

/// Removes versions published after `cutoff`; `latest` falls back to the newest stable version
/// left, other tags pointing at removed versions go.
fn quarantine(doc: &mut Value, cutoff: chrono::DateTime<chrono::Utc>) {
    let young: Vec<String> = doc
        .get("time")
        .and_then(Value::as_object)
        .map(|time| {
            time.iter()
                .filter(|(k, _)| *k != "created" && *k != "modified" && *k != "unpublished")
                .filter(|(_, t)| {
                    t.as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                        .is_some_and(|t| t.with_timezone(&chrono::Utc) > cutoff)
                })
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    if young.is_empty() {
        return;
    }
    for field in ["versions", "time"] {
        if let Some(Value::Object(map)) = doc.get_mut(field) {
            for version in &young {
                map.remove(version);
            }
        }
    }
    let newest_stable = doc
        .get("versions")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|v| v.keys())
        .filter_map(|v| semver::Version::parse(v).ok())
        .filter(|v| v.pre.is_empty())
        .max();
    if let Some(Value::Object(tags)) = doc.get_mut("dist-tags") {
        tags.retain(|tag, version| tag == "latest" || !version.as_str().is_some_and(|v| young.iter().any(|y| y == v)));
        let latest_young = tags.get("latest").and_then(Value::as_str).is_some_and(|v| young.iter().any(|y| y == v));
        if latest_young {
            match &newest_stable {
                Some(version) => {
                    tags.insert("latest".into(), json!(version.to_string()));
                }
                None => {
                    tags.remove("latest");
                }
            }
        }
    }
}

/// The upstream document with its tarball URLs pointing here; the abbreviated form keeps what
/// installers read.
fn render(doc: &Value, name: &PackageName, base: &str, abbreviated: bool) -> Value {
    let here = |url: &str| {
        let file = url.rsplit('/').next().unwrap_or_default();
        format!("{base}/npm/{name}/-/{file}")
    };
    let mut versions = Map::new();
    for (version, manifest) in doc.get("versions").and_then(Value::as_object).into_iter().flatten() {
        let mut manifest = manifest.clone();
        if let Some(Value::Object(dist)) = manifest.get_mut("dist")
            && let Some(url) = dist.get("tarball").and_then(Value::as_str)
        {
            let local = here(url);
            dist.insert("tarball".into(), json!(local));
        }
        let manifest = if abbreviated { crate::http::abbreviate(&manifest) } else { manifest };
        versions.insert(version.clone(), manifest);
    }
    if abbreviated {
        let modified = doc.pointer("/time/modified").cloned().or_else(|| doc.get("modified").cloned());
        let mut short = Map::new();
        short.insert("name".into(), json!(name.as_str()));
        short.insert("modified".into(), modified.unwrap_or(Value::Null));
        short.insert("dist-tags".into(), doc.get("dist-tags").cloned().unwrap_or_else(|| json!({})));
        short.insert("versions".into(), Value::Object(versions));
        if let Some(time) = doc.get("time") {
            short.insert("time".into(), time.clone());
        }
        return Value::Object(short);
    }
    let mut full = doc.as_object().cloned().unwrap_or_default();
    full.insert("versions".into(), Value::Object(versions));
    full.remove("_rev");
    Value::Object(full)
}

/// A version document (`GET /{name}/{version-or-tag}`) of a proxied package.
pub fn version_doc(doc: &Value, name: &PackageName, base: &str, wanted: &str) -> Option<Value> {
    let version = doc.pointer(&format!("/dist-tags/{}", wanted.replace('~', "~0").replace('/', "~1")));
    let version = version.and_then(Value::as_str).unwrap_or(wanted);
    let manifest = doc.get("versions")?.get(version)?;
    let single = json!({"versions": {version: manifest}});
    render(&single, name, base, false).get("versions")?.get(version).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_verdaccios() {
        assert!(matches_pattern("**", "left-pad"));
        assert!(matches_pattern("**", "@types/node"));
        assert!(matches_pattern("@*/*", "@types/node"));
        assert!(!matches_pattern("@*/*", "left-pad"));
        assert!(matches_pattern("@vextrus/*", "@vextrus/kernel"));
        assert!(!matches_pattern("@vextrus/*", "@vextrusx/kernel"));
        assert!(!matches_pattern("*", "@types/node"), "one star does not cross the slash");
        assert!(matches_pattern("lodash", "lodash"));
        assert!(!matches_pattern("lodash", "lodash.merge"));
        assert!(matches_pattern("lodash*", "lodash.merge"));
    }

    #[test]
    fn quarantine_hides_young_versions_and_moves_latest() {
        let mut doc = json!({
            "dist-tags": {"latest": "2.0.0", "next": "2.1.0-rc.1", "old": "1.0.0"},
            "versions": {"1.0.0": {}, "1.1.0": {}, "2.0.0": {}, "2.1.0-rc.1": {}},
            "time": {"created": "2020-01-01T00:00:00.000Z", "modified": "2026-11-21T00:00:00.000Z",
                     "1.0.0": "2020-01-01T00:00:00.000Z", "1.1.0": "2021-01-01T00:00:00.000Z",
                     "2.0.0": "2026-11-21T00:00:00.000Z", "2.1.0-rc.1": "2026-11-21T01:00:00.000Z"}
        });
        let cutoff = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
        quarantine(&mut doc, cutoff);
        assert_eq!(doc["dist-tags"], json!({"latest": "1.1.0", "old": "1.0.0"}));
        assert_eq!(doc["versions"].as_object().unwrap().keys().collect::<Vec<_>>(), ["1.0.0", "1.1.0"]);
        assert!(doc["time"].get("2.0.0").is_none());
    }

    #[test]
    fn tarball_urls_point_here_and_integrity_is_untouched() {
        let name = PackageName::parse("@types/node").unwrap();
        let doc = json!({
            "name": "@types/node", "_rev": "12-abc", "dist-tags": {"latest": "1.0.0"},
            "time": {"modified": "2026-01-01T00:00:00.000Z", "1.0.0": "2026-01-01T00:00:00.000Z"},
            "versions": {"1.0.0": {"name": "@types/node", "version": "1.0.0", "description": "d",
                "scripts": {"postinstall": "x"},
                "dist": {"integrity": "sha512-abc", "shasum": "00", "signatures": [{"keyid": "k", "sig": "s"}],
                         "tarball": "https://registry.npmjs.org/@types/node/-/node-1.0.0.tgz"}}}
        });
        let full = render(&doc, &name, "http://127.0.0.1:8080", false);
        let dist = &full["versions"]["1.0.0"]["dist"];
        assert_eq!(dist["tarball"], "http://127.0.0.1:8080/npm/@types/node/-/node-1.0.0.tgz");
        assert_eq!(
            (dist["integrity"].as_str(), dist["signatures"][0]["sig"].as_str()),
            (Some("sha512-abc"), Some("s"))
        );
        assert!(full.get("_rev").is_none());
        let short = render(&doc, &name, "http://h", true);
        assert_eq!(short["modified"], "2026-01-01T00:00:00.000Z");
        assert!(short["versions"]["1.0.0"].get("description").is_none());
        assert_eq!(short["versions"]["1.0.0"]["hasInstallScript"], true);
        let by_tag = version_doc(&doc, &name, "http://h", "latest").unwrap();
        assert_eq!(by_tag["dist"]["tarball"], "http://h/npm/@types/node/-/node-1.0.0.tgz");
    }

    #[test]
    fn memory_holds_bytes_not_parsed_documents_and_stays_within_its_budget() {
        let proxy = Proxy::new(ProxySettings { memory_bytes: 10_000, ..Default::default() });
        let packument = |name: &str| {
            let raw = json!({"name": name, "description": "x".repeat(3000), "versions": {"1.0.0": {"dist": {
                "integrity": "sha512-AAAA", "tarball": format!("https://registry.npmjs.org/{name}/-/{name}-1.0.0.tgz")}}}});
            let state = proxy.found(Bytes::from(raw.to_string())).unwrap();
            let entry = Entry {
                uplink: "u".into(),
                state,
                etag: None,
                fetched: Instant::now(),
                cutoff: None,
                rendered: Mutex::default(),
            };
            Arc::new(entry)
        };
        let first = packument("first");
        let State::Found { tarballs, .. } = &first.state else { panic!("found") };
        assert!(tarballs.contains_key("first-1.0.0.tgz"), "tarballs are found without parsing again");
        proxy.remember("first", first);
        assert!(proxy.remembered("first").is_some());
        proxy.remember("second", packument("second"));
        assert!(proxy.remembered("first").is_none(), "over the budget the memory starts over");
        assert!(proxy.remembered("second").is_some());
        let doc = proxy.remembered("second").unwrap().doc().unwrap();
        assert_eq!(doc["name"], "second", "the document is parsed again on demand");
    }

    #[test]
    fn expected_digests_prefer_sha512() {
        let sha512 = Expected::of(&json!({"integrity": "sha512-AAAA", "shasum": "00"}));
        assert!(matches!(sha512, Some(Expected::Sha512(d)) if d == [0, 0, 0]));
        let sha1 = Expected::of(&json!({"shasum": "0123456789abcdef0123456789abcdef01234567"}));
        assert!(matches!(sha1, Some(Expected::Sha1(d)) if d.len() == 20));
        assert!(Expected::of(&json!({"shasum": "xyz"})).is_none());
    }
}
