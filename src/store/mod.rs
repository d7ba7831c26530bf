//! Storage: one trait, [`Store`], that every backend implements, and the
//! plain types that cross it.
//!
//! The daemon talks to storage only through this trait, so SQLite (the
//! embedded default, [`sqlite`]) and PostgreSQL (for several daemons on one
//! database) stay interchangeable. The rules every backend keeps:
//!
//! * a [`CheckRecord`] is written in one transaction: its check row, its
//!   new blobs, its version, its events and the watch's state move
//!   together or not at all; a batch of records may share a transaction
//!   (group commit), each record staying whole;
//! * blobs are content-addressed: writing a blob that exists is a no-op;
//! * times are integer UTC milliseconds.

pub mod api;
pub mod blob;
pub mod outbox;
pub mod sqlite;
mod sqlite_api;
mod sqlite_outbox;

use crate::config::{Retention, StorageConfig};
use crate::detect::EventDraft;
use crate::detect::status::{Condition, PageStatus};
use crate::fetch::{Hop, Validators};
use crate::model::{CheckOutcome, EventKind, Millis, WatchKind};
pub use api::{
    ApiObject, ChannelState, EventFilter, EventRow, ObjectKind, OpsSnapshot, SubscriptionInfo,
    TokenInfo, UnsubscribeTarget,
};
use blob::Blob;
pub use outbox::{Attempt, ChannelDef, Claimed, DeliveryInfo, SubscriptionDef};
use serde::Serialize;
pub use sqlite_outbox::new_message_id;
use std::future::Future;

/// Errors from any backend, with the operation that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("cannot open the database {target}: {source}")]
    Open {
        target: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot update the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error while {op}: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("stored data is damaged ({0}); the database may have been edited by hand")]
    Corrupt(String),
    #[error("{0}")]
    Unsupported(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A watch as the config (or, later, the API) defines it, for syncing.
#[derive(Debug, Clone)]
pub struct WatchDef<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub kind: WatchKind,
    pub tags: &'a [String],
    pub interval_ms: i64,
    pub paused: bool,
}

/// What the scheduler and the check need to know about a watch.
#[derive(Debug, Clone, Default)]
pub struct WatchState {
    pub id: i64,
    pub name: String,
    pub next_due_at: Option<Millis>,
    pub failure_streak: u32,
    pub validators: Validators,
    /// Body hash of the last successful fetch whose text is the last version's.
    pub body_hash: Option<[u8; 32]>,
    /// Rules fingerprint under which `body_hash` was taken.
    pub rules_hash: Option<[u8; 32]>,
    pub last_version: Option<VersionRef>,
    /// The alerted page status and the condition waiting for confirmation.
    pub status: PageStatus,
    pub pending: Option<Condition>,
    /// Set for a watch created by following a listing.
    pub followed: Option<Box<Followed>>,
    /// The last check was a good one: a new version, a 304 or the same body.
    pub last_good: bool,
}

/// Where a followed watch came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    /// The listing watch.
    pub parent_id: i64,
    pub url: String,
    pub created_at: Millis,
}

/// An item of a listing to follow.
#[derive(Debug, Clone)]
pub struct FollowItem {
    pub url: String,
    /// The watch name: unique, derived from the listing and the URL.
    pub name: String,
}

/// The last version of a watch, as far as a check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    pub id: i64,
    pub seq: i64,
    pub text_hash: [u8; 32],
}

/// What [`Store::last_text`] reads.
#[derive(Debug, Clone)]
pub struct LastText {
    pub text: String,
    /// The newest version within the window with the new text, if any.
    pub same_as: Option<i64>,
    /// The plain blob under the last text (its body, or the body that body
    /// was stored against): the next body is stored against it
    /// ([`blob::Blob::compress_against_base`]).
    pub base: Option<blob::Base>,
}

/// A new version, blobs compressed, ready to write.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The version number: the last version's plus one. One check per
    /// watch runs at a time, and `UNIQUE (watch_id, seq)` guards the rule.
    pub seq: i64,
    pub text: Blob,
    pub body: Blob,
    pub title: Option<String>,
    pub http_status: u16,
    pub final_url: String,
    pub media_type: String,
    pub encoding: Option<String>,
    pub rules_hash: [u8; 32],
}

/// Everything one check produced, written atomically.
#[derive(Debug, Clone)]
pub struct CheckRecord {
    pub watch_id: i64,
    pub started_at: Millis,
    pub duration_ms: i64,
    pub outcome: CheckOutcome,
    pub http_status: Option<u16>,
    pub error_class: Option<String>,
    pub error: Option<String>,
    pub bytes: u64,
    /// The URL that answered, when it is not the watch's own (a redirect);
    /// `None` for the watch's own URL, or when nothing answered.
    pub final_url: Option<String>,
    pub redirects: Vec<Hop>,
    pub version: Option<NewVersion>,
    /// The version this check compared with (the events' previous version).
    pub prev_version_id: Option<i64>,
    pub events: Vec<EventDraft>,
    /// Items of a listing with `follow = true`, to become page watches.
    pub follow: Vec<FollowItem>,
    /// The watch's state after this check.
    pub state: StateUpdate,
}

/// Watch columns a check updates.
#[derive(Debug, Clone, Default)]
pub struct StateUpdate {
    pub next_due_at: Millis,
    pub failure_streak: u32,
    /// `None` keeps the stored validators and body hash (a failed check).
    pub seen: Option<Seen>,
    /// Set when the text changed.
    pub changed_at: Option<Millis>,
    pub status: PageStatus,
    pub pending: Option<Condition>,
    /// The check changed nothing the watch row holds but what its check row
    /// says too (time, outcome, HTTP status) and the due time derived from
    /// its start (`timing::next_after_success`): the watch row is not
    /// rewritten. Readers take those from the newest check row when it is
    /// newer than the row (`Store::sync_watches`, `WatchSummary`), and the
    /// newest check row of a watch is never pruned.
    pub touch_only: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub validators: Validators,
    pub body_hash: Option<[u8; 32]>,
    pub rules_hash: [u8; 32],
}

/// What a commit assigned to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The new version's id and number, if the record had one.
    pub version: Option<(i64, i64)>,
}

/// One line of `palimpsest watches`.
#[derive(Debug, Clone, Serialize)]
pub struct WatchSummary {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub kind: String,
    pub tags: Vec<String>,
    pub active: bool,
    pub paused: bool,
    pub status: String,
    pub failure_streak: u32,
    pub versions: i64,
    pub last_check_at: Option<Millis>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_change_at: Option<Millis>,
    pub next_due_at: Option<Millis>,
}

/// A stored version, without its text.
#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub id: i64,
    pub watch_id: i64,
    pub seq: i64,
    pub created_at: Millis,
    #[serde(serialize_with = "ser_hex")]
    pub text_hash: [u8; 32],
    #[serde(serialize_with = "ser_hex")]
    pub body_hash: [u8; 32],
    pub title: Option<String>,
    pub http_status: u16,
    pub final_url: String,
    pub media_type: String,
    pub encoding: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct EventInfo {
    pub id: i64,
    pub watch_id: i64,
    pub kind: EventKind,
    pub created_at: Millis,
    pub version_seq: Option<i64>,
    pub prev_version_seq: Option<i64>,
    pub data: serde_json::Value,
}

/// One check row.
#[derive(Debug, Clone, Serialize)]
pub struct CheckInfo {
    pub id: i64,
    pub started_at: Millis,
    pub duration_ms: i64,
    pub outcome: String,
    pub http_status: Option<u16>,
    pub error_class: Option<String>,
    pub error: Option<String>,
    pub bytes: i64,
    pub final_url: Option<String>,
    pub redirects: Vec<Hop>,
}

/// Sizes, for tests, benchmarks and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub watches: i64,
    pub checks: i64,
    pub versions: i64,
    pub events: i64,
    pub blobs: i64,
}

fn ser_hex<S: serde::Serializer>(h: &[u8; 32], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&blob::hex(h))
}

/// The storage interface. Every method is one round of work on the
/// database; none holds a transaction open across an `await` of the caller.
pub trait Store: Send + Sync + 'static {
    /// Makes the config's watches the active config watches: inserts new
    /// names, updates changed ones, deactivates the rest (keeping their
    /// history). Returns the state of every active watch.
    fn sync_watches(
        &self,
        defs: &[WatchDef<'_>],
    ) -> impl Future<Output = Result<Vec<WatchState>>> + Send;

    /// Writes records, all in one transaction (group commit).
    fn commit(
        &self,
        records: &[CheckRecord],
    ) -> impl Future<Output = Result<Vec<Committed>>> + Send;

    /// The raw content of a blob.
    fn blob(&self, hash: &[u8; 32]) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Finds a watch by name, or by id when `key` is a number.
    fn find_watch(&self, key: &str) -> impl Future<Output = Result<Option<WatchSummary>>> + Send;

    fn watch_summaries(&self) -> impl Future<Output = Result<Vec<WatchSummary>>> + Send;

    /// Versions of a watch, newest first.
    fn versions(
        &self,
        watch_id: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<VersionInfo>>> + Send;

    fn version(
        &self,
        watch_id: i64,
        seq: i64,
    ) -> impl Future<Output = Result<Option<VersionInfo>>> + Send;

    /// Creates a page watch for every item that no active watch has yet
    /// (at most `max` per listing) and returns the new watches' states.
    /// Idempotent: following the same items again creates nothing.
    fn follow(
        &self,
        parent_id: i64,
        items: &[FollowItem],
        tags: &[String],
        interval_ms: i64,
        max: usize,
        now: Millis,
    ) -> impl Future<Output = Result<Vec<WatchState>>> + Send;

    /// The text of a watch's last version (its hash `last_text`) and, in
    /// the same round, the newest version made at or after `since` whose
    /// text is `new_text` (an A → B → A flip-flop), as its number; also the
    /// plain body the next body may be stored against.
    fn last_text(
        &self,
        watch_id: i64,
        last_text: &[u8; 32],
        new_text: &[u8; 32],
        since: Millis,
    ) -> impl Future<Output = Result<LastText>> + Send;

    /// Events of a watch, newest first.
    fn events(
        &self,
        watch_id: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<EventInfo>>> + Send;

    /// Check rows of a watch, newest first.
    fn checks(
        &self,
        watch_id: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<CheckInfo>>> + Send;

    /// Removes versions outside `retention` (never the newest) and the
    /// blobs nothing refers to any more. Returns the versions removed.
    fn apply_retention(
        &self,
        watch_id: i64,
        retention: Retention,
        now: Millis,
    ) -> impl Future<Output = Result<u64>> + Send;

    fn counts(&self) -> impl Future<Output = Result<Counts>> + Send;

    /// Removes check rows that started before `before`. Returns how many.
    fn prune_checks(&self, before: Millis) -> impl Future<Output = Result<u64>> + Send;

    // ---- alerts: the outbox (see `outbox` for the rules) ----

    /// Makes the config's channels and subscriptions the active ones. From
    /// then on, [`Store::commit`] writes one delivery row per event and
    /// matching subscription in the same transaction as the event.
    fn sync_notify(
        &self,
        channels: &[ChannelDef<'_>],
        subscriptions: &[SubscriptionDef<'_>],
        incident: outbox::IncidentRule,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Claims due messages for `owner` (a lease until `now + lease_ms`):
    /// at most `per_channel` per channel and `limit` in all. Digest rows
    /// whose window has ended are first gathered into one message per
    /// subscription. Channels in `skip_channels` (busy ones) are left alone.
    fn claim_deliveries(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        per_channel: usize,
        limit: usize,
        skip_channels: &[String],
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send;

    /// Stores the rendered payload of a message unless one is stored
    /// already; returns the stored one (so every attempt sends the same bytes).
    fn fix_payload(
        &self,
        message_id: &str,
        payload: &str,
    ) -> impl Future<Output = Result<String>> + Send;

    /// Records the result of an attempt at a message claimed by `owner`.
    fn finish_delivery(
        &self,
        message_id: &str,
        owner: &str,
        now: Millis,
        attempt: &Attempt,
    ) -> impl Future<Output = Result<()>> + Send;

    /// When the next pending message becomes claimable (due, and not under
    /// another worker's live lease), if any.
    fn next_delivery_at(
        &self,
        now: Millis,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Option<Millis>>> + Send;

    /// Delivery rows, newest first, optionally of one status.
    fn deliveries(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DeliveryInfo>>> + Send;

    // ---- the HTTP API (see `api`) ----

    /// Every watch, channel and subscription made through the API.
    fn api_objects(&self) -> impl Future<Output = Result<Vec<ApiObject>>> + Send;

    /// Creates or replaces an object made through the API.
    fn put_api_object(
        &self,
        obj: &ApiObject,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes an object made through the API; `false` if there was none.
    fn delete_api_object(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Stores a new token's hash; `None` if the name is taken.
    fn create_token(
        &self,
        name: &str,
        hash: &[u8; 32],
        read_only: bool,
        now: Millis,
    ) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// The token with this hash, noting its use.
    fn token_by_hash(
        &self,
        hash: &[u8; 32],
        now: Millis,
    ) -> impl Future<Output = Result<Option<TokenInfo>>> + Send;

    fn tokens(&self) -> impl Future<Output = Result<Vec<TokenInfo>>> + Send;

    /// Deletes a token by name; `false` if there was none.
    fn revoke_token(&self, name: &str) -> impl Future<Output = Result<bool>> + Send;

    /// The server's secret key (session cookies, unsubscribe links),
    /// created on first use and the same for every daemon on the database.
    fn server_key(&self) -> impl Future<Output = Result<[u8; 32]>> + Send;

    /// Events of every watch, filtered, newest first.
    fn list_events(
        &self,
        filter: &EventFilter,
    ) -> impl Future<Output = Result<Vec<EventRow>>> + Send;

    /// Makes a failed delivery (its whole message) pending and due now;
    /// `false` if it is not a failed delivery.
    fn retry_delivery(&self, id: i64, now: Millis) -> impl Future<Output = Result<bool>> + Send;

    /// The active subscriptions as stored.
    fn subscriptions(&self) -> impl Future<Output = Result<Vec<SubscriptionInfo>>> + Send;

    /// The stored state of the active channels.
    fn channel_states(&self) -> impl Future<Output = Result<Vec<ChannelState>>> + Send;

    /// The subscription a message was sent for (its unsubscribe link).
    fn unsubscribe_target(
        &self,
        message_id: &str,
    ) -> impl Future<Output = Result<Option<UnsubscribeTarget>>> + Send;

    /// Unsubscribes a subscription (idempotent) and fails its pending deliveries.
    fn unsubscribe(
        &self,
        subscription_id: i64,
        now: Millis,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Figures for `/metrics`.
    fn ops_snapshot(&self) -> impl Future<Output = Result<OpsSnapshot>> + Send;
}

/// Opens the configured backend.
pub async fn open(cfg: &StorageConfig) -> Result<sqlite::SqliteStore> {
    match cfg {
        StorageConfig::Sqlite { path } => sqlite::SqliteStore::open(path).await,
        StorageConfig::Postgres { .. } => Err(StoreError::Unsupported(
            "PostgreSQL storage is not built yet: use `path = \"palimpsest.db\"` under [storage] for SQLite".into(),
        )),
    }
}

/// The text of a version, decoded.
pub async fn version_text<S: Store>(store: &S, text_hash: &[u8; 32]) -> Result<String> {
    match store.blob(text_hash).await? {
        Some(bytes) => String::from_utf8(bytes)
            .map_err(|_| StoreError::Corrupt("a version text is not UTF-8".into())),
        None => Err(StoreError::Corrupt(format!(
            "missing text blob {}",
            blob::hex(text_hash)
        ))),
    }
}
