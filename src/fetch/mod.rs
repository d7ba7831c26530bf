//! The HTTP client: one [`Fetcher`] per daemon, shared by every check.
//!
//! What it guarantees for every request:
//! * only `http`/`https`, only addresses the [`policy`] allows, checked on
//!   the addresses actually dialled and on every redirect hop;
//! * connect, read and total timeouts, and a body cap counted after
//!   decompression (a gzip bomb stops at the cap);
//! * redirects followed by hand, up to a limit, with the chain recorded;
//! * conditional GET with the validators of the last stored version;
//! * a global concurrency limit and per-host politeness ([`hosts`]);
//! * no proxy from the environment, a User-Agent naming palimpsest.
//!
//! Decoding to text is [`charset`]'s job, done by the caller on the bytes
//! returned here, so that a body whose bytes did not change is never decoded.

pub mod charset;
pub mod hosts;
pub mod policy;

use crate::config::FetchConfig;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Validators from the last stored version, sent as a conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// One redirect hop: the URL that answered and its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub url: String,
    pub status: u16,
}

/// A response, any status, with its body read (up to the cap).
#[derive(Debug, Clone)]
pub struct Fetched {
    pub status: u16,
    /// The URL that gave the final answer.
    pub final_url: url::Url,
    /// Every redirect that led there, in order.
    pub redirects: Vec<Hop>,
    /// Media type, lower case, without parameters (`text/html`).
    pub media_type: String,
    /// The `charset` parameter of `Content-Type`, if any.
    pub charset: Option<String>,
    pub validators: Validators,
    /// Decompressed body; empty for a 304.
    pub body: Bytes,
}

impl Fetched {
    pub fn not_modified(&self) -> bool {
        self.status == 304
    }
}

/// Why a fetch gave no response. The variants are the error classes
/// recorded in check rows; [`FetchError::class`] names them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("{0}")]
    Refused(#[from] policy::Refused),
    #[error("`{0}` cannot be fetched: only http and https URLs are")]
    Scheme(String),
    #[error("DNS: {0}")]
    Dns(String),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("timed out after {0:?} (the [fetch] `timeout`)")]
    Timeout(Duration),
    #[error("no data for {0:?} (the [fetch] `read_timeout`)")]
    ReadTimeout(Duration),
    #[error("the body is larger than {limit} bytes after decompression (the [fetch] `max_body`)")]
    TooLarge { limit: u64 },
    #[error("more than {limit} redirects (last: {last})")]
    TooManyRedirects { limit: usize, last: String },
    #[error("redirect from {from} with an unusable Location header")]
    BadRedirect { from: String },
    #[error("HTTP: {0}")]
    Http(String),
}

impl FetchError {
    /// A short stable name for the check row and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            FetchError::Refused(_) => "refused",
            FetchError::Scheme(_) => "scheme",
            FetchError::Dns(_) => "dns",
            FetchError::Connect(_) => "connect",
            FetchError::Tls(_) => "tls",
            FetchError::Timeout(_) | FetchError::ReadTimeout(_) => "timeout",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::TooManyRedirects { .. } | FetchError::BadRedirect { .. } => "redirect",
            FetchError::Http(_) => "http",
        }
    }
}

/// The shared client.
pub struct Fetcher {
    client: reqwest::Client,
    cfg: FetchConfig,
    global: Semaphore,
    hosts: hosts::HostLimiter,
}

impl Fetcher {
    pub fn new(cfg: &FetchConfig) -> Result<Fetcher, FetchError> {
        install_crypto_provider();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(
                "text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8",
            ),
        );
        let client = reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .timeout(cfg.timeout)
            .dns_resolver(policy::PolicyResolver::shared(
                cfg.allow_private_networks,
                cfg.allow_hosts.clone(),
            ))
            .no_proxy()
            .pool_max_idle_per_host(cfg.per_host.clamp(1, 256))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| FetchError::Http(describe(&e)))?;
        Ok(Fetcher {
            client,
            cfg: cfg.clone(),
            global: Semaphore::new(cfg.concurrency.max(1)),
            hosts: hosts::HostLimiter::new(cfg.per_host, cfg.per_host_delay),
        })
    }

    /// Fetches `url`, following redirects, within the total timeout.
    pub async fn fetch(
        &self,
        url: &url::Url,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let _global = self
            .global
            .acquire()
            .await
            .map_err(|_| FetchError::Http("shutting down".into()))?;
        match tokio::time::timeout(self.cfg.timeout, self.fetch_inner(url, validators)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout(self.cfg.timeout)),
        }
    }

    async fn fetch_inner(
        &self,
        url: &url::Url,
        validators: &Validators,
    ) -> Result<Fetched, FetchError> {
        let mut current = url.clone();
        let mut redirects = Vec::new();
        loop {
            if !matches!(current.scheme(), "http" | "https") {
                return Err(FetchError::Scheme(current.to_string()));
            }
            policy::check_url(
                &current,
                self.cfg.allow_private_networks,
                &self.cfg.allow_hosts,
            )?;
            let host = current.host_str().unwrap_or_default().to_string();
            let _slot = self.hosts.acquire(&host).await;
            let mut req = self.client.get(current.clone());
            // Validators belong to the URL they came from: only on the first hop.
            if redirects.is_empty() {
                if let Some(etag) = validators
                    .etag
                    .as_deref()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    req = req.header(header::IF_NONE_MATCH, etag);
                }
                if let Some(lm) = validators
                    .last_modified
                    .as_deref()
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    req = req.header(header::IF_MODIFIED_SINCE, lm);
                }
            }
            let resp = req.send().await.map_err(|e| classify(&e, &self.cfg))?;
            let status = resp.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = resp
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| current.join(l.trim()).ok());
                let Some(next) = location else {
                    return Err(FetchError::BadRedirect {
                        from: current.to_string(),
                    });
                };
                redirects.push(Hop {
                    url: current.to_string(),
                    status,
                });
                if redirects.len() > self.cfg.max_redirects {
                    return Err(FetchError::TooManyRedirects {
                        limit: self.cfg.max_redirects,
                        last: next.to_string(),
                    });
                }
                current = next;
                continue;
            }
            let headers = resp.headers().clone();
            let (media_type, charset) = content_type(&headers);
            let validators = Validators {
                etag: header_string(&headers, header::ETAG),
                last_modified: header_string(&headers, header::LAST_MODIFIED),
            };
            let body = if status == 304 {
                Bytes::new()
            } else {
                read_capped(resp, self.cfg.max_body, &self.cfg).await?
            };
            return Ok(Fetched {
                status,
                final_url: current,
                redirects,
                media_type,
                charset,
                validators,
                body,
            });
        }
    }
}

/// Reads the body, decompressed, stopping as soon as it passes `limit`.
async fn read_capped(
    resp: reqwest::Response,
    limit: u64,
    cfg: &FetchConfig,
) -> Result<Bytes, FetchError> {
    let compressed = resp.headers().contains_key(header::CONTENT_ENCODING);
    if let Some(len) = resp.content_length()
        && !compressed
        && len > limit
    {
        return Err(FetchError::TooLarge { limit });
    }
    let initial = resp.content_length().unwrap_or(16 * 1024).min(limit) as usize;
    let mut buf = BytesMut::with_capacity(initial);
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| classify(&e, cfg))?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(FetchError::TooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `text/html; charset=EUC-KR` → (`text/html`, `EUC-KR`).
fn content_type(headers: &HeaderMap) -> (String, Option<String>) {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return (String::new(), None);
    };
    let mut parts = ct.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).to_string())
    });
    (media, charset.filter(|c| !c.is_empty()))
}

/// Turns a reqwest error into plain words and a class.
fn classify(e: &reqwest::Error, cfg: &FetchConfig) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<policy::Refused>() {
            return FetchError::Refused(r.clone());
        }
        if let Some(d) = s.downcast_ref::<policy::DnsFailure>() {
            return FetchError::Dns(d.to_string());
        }
        if s.downcast_ref::<rustls::Error>().is_some() {
            return FetchError::Tls(s.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        // reqwest reports both the total and the read timeout as timeouts.
        let text = describe(e);
        if text.contains("read") {
            return FetchError::ReadTimeout(cfg.read_timeout);
        }
        return FetchError::Timeout(cfg.timeout);
    }
    if e.is_connect() {
        return FetchError::Connect(describe(e));
    }
    FetchError::Http(describe(e))
}

/// The error and its causes on one line, without the URL's query string.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// rustls needs one process-wide crypto provider; ring is the one we build.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
