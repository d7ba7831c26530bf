//! Alerts: every event a subscription matches reaches its channel, by
//! email or webhook, at least once.
//!
//! * [`payload`]: what an alert says (watch, event, title, diff derived
//!   from the two stored versions) and the webhook envelope (GUIDE §5).
//! * [`webhook`]: formats (standard, slack, discord, ntfy), Standard
//!   Webhooks signing, the POST and what its answer means.
//! * [`email`]: subject, text and HTML parts, the SMTP transport.
//! * [`backoff`]: retry delays with jitter, `Retry-After`, giving up.
//! * `worker`: the outbox worker: claims due messages with a lease, sends
//!   them, records the outcome; one task per channel, so a broken channel
//!   delays only itself.
//!
//! The delivery rows themselves are written by the store, in the same
//! transaction as their event (see `store::outbox`).

pub mod backoff;
pub mod email;
pub mod payload;
pub mod webhook;
mod worker;

pub use worker::{DeliveryReport, Worker, start};

use crate::config::{ChannelSpec, ChannelTarget, Config, SmtpConfig};
use crate::store::outbox::{ChannelDef, SubscriptionDef};
use payload::EventView;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why an attempt did not succeed, and whether to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Temporary: network trouble, 408/429/5xx, SMTP 4xx.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Permanent: other 4xx, SMTP 5xx, a message that cannot be built.
    Permanent { error: String },
    /// 410 Gone: permanent, and the channel is disabled.
    Gone { error: String },
}

impl SendError {
    pub fn message(&self) -> &str {
        match self {
            SendError::Retry { error, .. }
            | SendError::Permanent { error }
            | SendError::Gone { error } => error,
        }
    }
}

/// Why the alert machinery could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    #[error("cannot build the webhook client: {0}")]
    Http(String),
    #[error("cannot set up SMTP: {0}")]
    Smtp(String),
    #[error("no channel named `{0}` in the config")]
    UnknownChannel(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A rendered message, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Rendered {
    Webhook(webhook::WebhookMessage),
    Email(email::EmailMessage),
}

/// The clients that send: one HTTP client, one SMTP pool.
pub struct Senders {
    http: reqwest::Client,
    smtp: Option<(email::Mailer, SmtpConfig)>,
    public_url: Option<String>,
    /// Signs unsubscribe links (set with [`Senders::with_key`]).
    key: Option<[u8; 32]>,
}

impl Senders {
    pub fn new(cfg: &Config) -> Result<Senders, NotifyError> {
        crate::fetch::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(crate::config::defaults::user_agent())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(cfg.notify.timeout.min(Duration::from_secs(10)))
            .timeout(cfg.notify.timeout)
            .no_proxy()
            .build()
            .map_err(|e| NotifyError::Http(e.to_string()))?;
        let needs_smtp = cfg
            .channels
            .iter()
            .any(|c| matches!(c.target, ChannelTarget::Email { .. }));
        let smtp = match (&cfg.smtp, needs_smtp) {
            (Some(s), true) => Some((
                email::mailer(s, cfg.notify.timeout).map_err(NotifyError::Smtp)?,
                s.clone(),
            )),
            _ => None,
        };
        Ok(Senders {
            http,
            smtp,
            public_url: cfg.server.public_url.clone(),
            key: None,
        })
    }

    /// Emails get a signed unsubscribe link (with `[server] public_url`).
    pub fn with_key(mut self, key: [u8; 32]) -> Senders {
        self.key = Some(key);
        self
    }

    /// Renders a message for a channel.
    pub fn render(
        &self,
        channel: &ChannelSpec,
        message_id: &str,
        views: &[EventView],
        now: crate::model::Millis,
    ) -> Rendered {
        match &channel.target {
            ChannelTarget::Webhook { format, .. } => {
                Rendered::Webhook(webhook::render(*format, message_id, views, now))
            }
            ChannelTarget::Email { .. } => {
                let unsubscribe = self.public_url.as_deref().zip(self.key.as_ref());
                Rendered::Email(email::render(views, message_id, unsubscribe))
            }
        }
    }

    /// Sends a rendered message; `Ok` says what accepted it.
    pub async fn send(
        &self,
        channel: &ChannelSpec,
        message_id: &str,
        msg: &Rendered,
    ) -> Result<String, SendError> {
        match (&channel.target, msg) {
            (
                ChannelTarget::Webhook {
                    url,
                    secret,
                    headers,
                    ..
                },
                Rendered::Webhook(m),
            ) => webhook::send(&self.http, url, secret.as_ref(), headers, message_id, m)
                .await
                .map(|status| format!("HTTP {status}")),
            (ChannelTarget::Email { to }, Rendered::Email(m)) => {
                let Some((mailer, smtp)) = &self.smtp else {
                    return Err(SendError::Permanent {
                        error: "no [smtp] section: email channels need one".into(),
                    });
                };
                let message = email::build(m, &smtp.from, to, message_id)?;
                email::send(mailer, message)
                    .await
                    .map(|()| "accepted by the SMTP server".to_string())
            }
            _ => Err(SendError::Permanent {
                error: "the channel's type changed since this message was rendered".into(),
            }),
        }
    }
}

/// The channels of a config, for [`crate::store::Store::sync_notify`].
pub fn channel_defs(cfg: &Config) -> Vec<ChannelDef<'_>> {
    cfg.channels
        .iter()
        .map(|c| {
            let mut h = blake3::Hasher::new();
            let kind = match &c.target {
                ChannelTarget::Email { to } => {
                    for t in to {
                        h.update(t.as_bytes()).update(&[0]);
                    }
                    "email"
                }
                ChannelTarget::Webhook {
                    url,
                    format,
                    headers,
                    ..
                } => {
                    h.update(url.as_str().as_bytes())
                        .update(format!("{format:?}").as_bytes());
                    for (k, v) in headers {
                        h.update(k.as_bytes()).update(&[0]).update(v.as_bytes());
                    }
                    "webhook"
                }
            };
            ChannelDef {
                name: &c.name,
                kind,
                fingerprint: h.finalize().to_hex()[..32].to_string(),
            }
        })
        .collect()
}

/// The subscriptions of a config.
pub fn subscription_defs(cfg: &Config) -> Vec<SubscriptionDef<'_>> {
    cfg.subscriptions
        .iter()
        .map(|s| SubscriptionDef {
            channel: &s.channel,
            watches: &s.watches,
            kinds: &s.kinds,
            digest: s.digest,
            boring: s.boring,
        })
        .collect()
}

/// Sends the sample event through one channel now (no outbox): what
/// `palimpsest notify test` does. `Ok` says what accepted it.
pub async fn send_test(
    cfg: &Config,
    channel: &str,
) -> Result<Result<String, SendError>, NotifyError> {
    let spec = cfg
        .channels
        .iter()
        .find(|c| c.name == channel)
        .ok_or_else(|| NotifyError::UnknownChannel(channel.to_string()))?;
    let senders = Senders::new(cfg)?;
    let id = crate::store::new_message_id("test");
    let msg = senders.render(
        spec,
        &id,
        &[payload::sample_view()],
        crate::model::now_millis(),
    );
    Ok(senders.send(spec, &id, &msg).await)
}
