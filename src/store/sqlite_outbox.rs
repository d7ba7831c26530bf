//! The SQLite side of the alert outbox: syncing channels and
//! subscriptions, the delivery rows written inside a commit, and the
//! worker's claim / finish statements. Kept apart from `sqlite.rs` so the
//! check path there changes by one call.
//!
//! Transactions that read and then write start with `BEGIN IMMEDIATE`: a
//! deferred one would fail at its first write whenever the check writer
//! committed in between (WAL cannot upgrade a stale read snapshot), while
//! an immediate one waits for the write lock (`busy_timeout`) instead.

use super::outbox::{Attempt, ChannelDef, Claimed, DeliveryInfo, SubscriptionDef, digest_str};
use super::sqlite::SqliteStore;
use super::{EventInfo, Result, StoreError};
use crate::config::WatchSelector;
use crate::model::{EventKind, Millis};
use sqlx::{Row, SqliteConnection};
use std::sync::atomic::Ordering;

fn q(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

/// A fresh message id: `prefix` and 24 random hex digits.
pub fn new_message_id(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 25);
    s.push_str(prefix);
    s.push('_');
    for _ in 0..3 {
        s.push_str(&format!("{:08x}", fastrand::u32(..)));
    }
    s
}

/// Writes the delivery rows of the last `n_events` events inserted in this
/// transaction (SQLite gives new rows the ids after the largest one, so
/// they are exactly the `n_events` largest). Matching happens here, in
/// SQL, against the synced subscriptions. Data written by hand that is not
/// JSON must not fail the commit it rides in: `json_valid` guards it.
pub(super) async fn enqueue(tx: &mut SqliteConnection, n_events: usize, now: Millis) -> Result<()> {
    sqlx::query(
        "INSERT INTO deliveries (event_id, subscription_id, channel_id, message_id, digest, created_at, next_attempt_at)
         SELECT e.id, s.id, s.channel_id,
                CASE WHEN s.digest = 'off' THEN 'msg_' || lower(hex(randomblob(12))) END,
                s.digest, ?1,
                CASE s.digest WHEN 'hourly' THEN (?1 / 3600000 + 1) * 3600000
                              WHEN 'daily' THEN (?1 / 86400000 + 1) * 86400000
                              ELSE ?1 END
         FROM events e
         JOIN watches w ON w.id = e.watch_id
         JOIN subscriptions s ON s.active = 1 AND s.unsubscribed_at IS NULL
         JOIN channels c ON c.id = s.channel_id AND c.active = 1 AND c.disabled_at IS NULL
         WHERE e.id > (SELECT MAX(id) FROM events) - ?2
           AND EXISTS (SELECT 1 FROM json_each(s.kinds) k WHERE k.value = e.kind)
           AND (s.boring = 1 OR NOT json_valid(e.data) OR json_extract(e.data, '$.boring') IS NULL)
           AND (e.kind != 'deleted' OR NOT json_valid(e.data) OR json_extract(e.data, '$.incident') IS NULL)
           AND (s.selector = 'all'
                OR (s.selector = 'tag' AND EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(w.tags) THEN w.tags ELSE '[]' END) t WHERE t.value = s.tag))
                OR (s.selector = 'names' AND EXISTS (SELECT 1 FROM json_each(s.names) n WHERE n.value = w.name)))
         ORDER BY e.id, s.id",
    )
    .bind(now)
    .bind(i64::try_from(n_events).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await
    .map_err(q("writing deliveries"))?;
    Ok(())
}

fn in_list(n: usize) -> String {
    let mut s = String::from("(");
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s.push(')');
    s
}

impl SqliteStore {
    pub(super) async fn outbox_sync(
        &self,
        channels: &[ChannelDef<'_>],
        subscriptions: &[SubscriptionDef<'_>],
    ) -> Result<()> {
        let mut tx = self
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(q("starting the channel sync"))?;
        let existing = sqlx::query("SELECT id, name, fingerprint, active FROM channels")
            .fetch_all(&mut *tx)
            .await
            .map_err(q("listing channels"))?;
        let mut wanted = std::collections::HashSet::new();
        for c in channels {
            wanted.insert(c.name);
            sqlx::query(
                "INSERT INTO channels (name, kind, fingerprint, active) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT(name) DO UPDATE SET kind = ?2, active = 1,
                   disabled_at = CASE WHEN channels.fingerprint = ?3 THEN channels.disabled_at END,
                   disabled_reason = CASE WHEN channels.fingerprint = ?3 THEN channels.disabled_reason END,
                   fingerprint = ?3",
            )
            .bind(c.name)
            .bind(c.kind)
            .bind(&c.fingerprint)
            .execute(&mut *tx)
            .await
            .map_err(q("syncing channels"))?;
        }
        for row in &existing {
            let name: String = row.try_get("name").map_err(q("listing channels"))?;
            let active: bool = row.try_get("active").map_err(q("listing channels"))?;
            if active && !wanted.contains(name.as_str()) {
                let id: i64 = row.try_get("id").map_err(q("listing channels"))?;
                sqlx::query("UPDATE channels SET active = 0 WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("deactivating a channel"))?;
                sqlx::query(
                    "UPDATE deliveries SET status = 'failed', claimed_at = NULL, owner = NULL,
                     last_error = 'the channel `' || ? || '` was removed from the config'
                     WHERE channel_id = ? AND status = 'pending'",
                )
                .bind(&name)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(q("failing deliveries of a removed channel"))?;
            }
        }
        sqlx::query("UPDATE subscriptions SET active = 0")
            .execute(&mut *tx)
            .await
            .map_err(q("syncing subscriptions"))?;
        for s in subscriptions {
            let (selector, tag, names) = match s.watches {
                WatchSelector::All => ("all", None, "[]".to_string()),
                WatchSelector::Tag(t) => ("tag", Some(t.as_str()), "[]".to_string()),
                WatchSelector::Names(n) => (
                    "names",
                    None,
                    serde_json::to_string(n).unwrap_or_else(|_| "[]".into()),
                ),
            };
            let kinds: Vec<&str> = s.kinds.iter().map(|k| k.as_str()).collect();
            sqlx::query(
                "INSERT INTO subscriptions (channel_id, selector, tag, names, kinds, digest, fingerprint, boring, active)
                 SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1 FROM channels WHERE name = ?1
                 ON CONFLICT(fingerprint) DO UPDATE SET active = 1, channel_id = excluded.channel_id",
            )
            .bind(s.channel)
            .bind(selector)
            .bind(tag)
            .bind(names)
            .bind(serde_json::to_string(&kinds).unwrap_or_else(|_| "[]".into()))
            .bind(digest_str(s.digest))
            .bind(s.fingerprint())
            .bind(s.boring)
            .execute(&mut *tx)
            .await
            .map_err(q("syncing subscriptions"))?;
        }
        tx.commit()
            .await
            .map_err(q("committing the channel sync"))?;
        self.notify
            .store(!subscriptions.is_empty(), Ordering::Release);
        Ok(())
    }

    pub(super) async fn outbox_claim(
        &self,
        owner: &str,
        now: Millis,
        lease_ms: i64,
        per_channel: usize,
        limit: usize,
        skip_channels: &[String],
    ) -> Result<Vec<Claimed>> {
        let mut tx = self
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(q("starting a claim"))?;
        // Digests whose window has ended become one message per subscription.
        let due_digests: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT subscription_id FROM deliveries
             WHERE status = 'pending' AND message_id IS NULL AND next_attempt_at <= ?",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(q("gathering digests"))?;
        for sub in due_digests {
            sqlx::query(
                "UPDATE deliveries SET message_id = ? WHERE subscription_id = ? AND status = 'pending'
                 AND message_id IS NULL AND next_attempt_at <= ?",
            )
            .bind(new_message_id("dgst"))
            .bind(sub)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(q("gathering digests"))?;
        }
        let skip = if skip_channels.is_empty() {
            String::new()
        } else {
            format!("AND c.name NOT IN {}", in_list(skip_channels.len()))
        };
        let sql = format!(
            "SELECT message_id FROM (
               SELECT d.message_id, MIN(d.next_attempt_at) AS due, MIN(d.id) AS first,
                      ROW_NUMBER() OVER (PARTITION BY d.channel_id ORDER BY MIN(d.next_attempt_at), MIN(d.id)) AS rn
               FROM deliveries d JOIN channels c ON c.id = d.channel_id AND c.active = 1 {skip}
               WHERE d.status = 'pending' AND d.message_id IS NOT NULL AND d.next_attempt_at <= ?
                 AND (d.claimed_at IS NULL OR d.claimed_at <= ?)
               GROUP BY d.message_id
             ) WHERE rn <= ? ORDER BY due, first LIMIT ?"
        );
        // Dynamic lists: not worth a slot in the statement cache.
        let mut pick = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).persistent(false);
        for name in skip_channels {
            pick = pick.bind(name);
        }
        let ids: Vec<String> = pick
            .bind(now)
            .bind(now.saturating_sub(lease_ms))
            .bind(i64::try_from(per_channel).unwrap_or(i64::MAX))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(q("choosing deliveries"))?;
        if ids.is_empty() {
            tx.commit().await.map_err(q("committing a claim"))?;
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE deliveries SET claimed_at = ?, owner = ? WHERE status = 'pending' AND message_id IN {}",
            in_list(ids.len())
        );
        let mut upd = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now)
            .bind(owner);
        for id in &ids {
            upd = upd.bind(id);
        }
        upd.execute(&mut *tx)
            .await
            .map_err(q("claiming deliveries"))?;
        let sql = format!(
            "SELECT d.message_id, d.subscription_id, d.digest, d.attempts, d.created_at, d.payload, c.name AS channel,
                    e.id AS eid, e.watch_id, e.kind, e.created_at AS ecreated, e.data, v.seq AS vseq, p.seq AS pseq
             FROM deliveries d JOIN channels c ON c.id = d.channel_id
             JOIN events e ON e.id = d.event_id
             LEFT JOIN versions v ON v.id = e.version_id LEFT JOIN versions p ON p.id = e.prev_version_id
             WHERE d.status = 'pending' AND d.message_id IN {} ORDER BY d.message_id, e.id",
            in_list(ids.len())
        );
        let mut sel = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
        for id in &ids {
            sel = sel.bind(id);
        }
        let rows = sel
            .fetch_all(&mut *tx)
            .await
            .map_err(q("reading claimed deliveries"))?;
        tx.commit().await.map_err(q("committing a claim"))?;
        let mut out: Vec<Claimed> = Vec::with_capacity(ids.len());
        for row in rows {
            let e = || q("reading claimed deliveries");
            let message_id: String = row.try_get("message_id").map_err(e())?;
            let kind: String = row.try_get("kind").map_err(e())?;
            let data: String = row.try_get("data").map_err(e())?;
            let event = EventInfo {
                id: row.try_get("eid").map_err(e())?,
                watch_id: row.try_get("watch_id").map_err(e())?,
                kind: EventKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown event kind `{kind}`")))?,
                created_at: row.try_get("ecreated").map_err(e())?,
                version_seq: row.try_get("vseq").map_err(e())?,
                prev_version_seq: row.try_get("pseq").map_err(e())?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            };
            let attempts: i64 = row.try_get("attempts").map_err(e())?;
            let created_at: Millis = row.try_get("created_at").map_err(e())?;
            let payload: Option<String> = row.try_get("payload").map_err(e())?;
            match out.last_mut() {
                Some(m) if m.message_id == message_id => {
                    m.events.push(event);
                    m.attempts = m.attempts.max(u32::try_from(attempts).unwrap_or(0));
                    m.created_at = m.created_at.min(created_at);
                    if m.payload.is_none() {
                        m.payload = payload;
                    }
                }
                _ => out.push(Claimed {
                    message_id,
                    channel: row.try_get("channel").map_err(e())?,
                    subscription_id: row.try_get("subscription_id").map_err(e())?,
                    digest: row.try_get("digest").map_err(e())?,
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    created_at,
                    payload,
                    events: vec![event],
                }),
            }
        }
        Ok(out)
    }

    pub(super) async fn outbox_fix_payload(
        &self,
        message_id: &str,
        payload: &str,
    ) -> Result<String> {
        let mut tx = self
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(q("storing a payload"))?;
        sqlx::query("UPDATE deliveries SET payload = ? WHERE message_id = ? AND payload IS NULL")
            .bind(payload)
            .bind(message_id)
            .execute(&mut *tx)
            .await
            .map_err(q("storing a payload"))?;
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT payload FROM deliveries WHERE message_id = ? AND payload IS NOT NULL LIMIT 1",
        )
        .bind(message_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q("storing a payload"))?;
        tx.commit().await.map_err(q("storing a payload"))?;
        Ok(stored.unwrap_or_else(|| payload.to_string()))
    }

    pub(super) async fn outbox_finish(
        &self,
        message_id: &str,
        owner: &str,
        now: Millis,
        attempt: &Attempt,
    ) -> Result<()> {
        let pool = self.pool();
        match attempt {
            // Delivered wins whoever holds the claim: the receiver has it.
            Attempt::Delivered => sqlx::query(
                "UPDATE deliveries SET status = 'delivered', delivered_at = ?1, last_attempt_at = ?1,
                 attempts = attempts + 1, last_error = NULL, claimed_at = NULL, owner = NULL
                 WHERE message_id = ?2 AND status = 'pending'",
            )
            .bind(now)
            .bind(message_id)
            .execute(pool)
            .await
            .map(|_| ()),
            Attempt::Retry { at, error } => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(q("recording a retry"))?;
                let done = sqlx::query(
                    "UPDATE deliveries SET last_attempt_at = ?1, attempts = attempts + 1, last_error = ?2,
                     next_attempt_at = ?3, claimed_at = NULL, owner = NULL
                     WHERE message_id = ?4 AND status = 'pending' AND owner = ?5",
                )
                .bind(now)
                .bind(error)
                .bind(at)
                .bind(message_id)
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map_err(q("recording a retry"))?;
                if done.rows_affected() > 0 {
                    // The channel is failing: its other waiting messages wait
                    // with it instead of each costing a timeout now.
                    sqlx::query(
                        "UPDATE deliveries SET next_attempt_at = ?1
                         WHERE channel_id = (SELECT channel_id FROM deliveries WHERE message_id = ?2 LIMIT 1)
                           AND status = 'pending' AND claimed_at IS NULL AND message_id IS NOT NULL
                           AND message_id <> ?2 AND next_attempt_at < ?1",
                    )
                    .bind(at)
                    .bind(message_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("recording a retry"))?;
                }
                tx.commit().await.map(|_| ())
            }
            Attempt::Released { at } => sqlx::query(
                "UPDATE deliveries SET next_attempt_at = MAX(next_attempt_at, ?1), claimed_at = NULL, owner = NULL
                 WHERE message_id = ?2 AND status = 'pending' AND owner = ?3",
            )
            .bind(at)
            .bind(message_id)
            .bind(owner)
            .execute(pool)
            .await
            .map(|_| ()),
            Attempt::Failed {
                error,
                disable_channel,
            } => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(q("recording a failure"))?;
                sqlx::query(
                    "UPDATE deliveries SET status = 'failed', last_attempt_at = ?1, attempts = attempts + 1,
                     last_error = ?2, claimed_at = NULL, owner = NULL
                     WHERE message_id = ?3 AND status = 'pending' AND owner = ?4",
                )
                .bind(now)
                .bind(error)
                .bind(message_id)
                .bind(owner)
                .execute(&mut *tx)
                .await
                .map_err(q("recording a failure"))?;
                if *disable_channel {
                    let channel: Option<i64> = sqlx::query_scalar(
                        "SELECT channel_id FROM deliveries WHERE message_id = ? LIMIT 1",
                    )
                    .bind(message_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(q("disabling a channel"))?;
                    if let Some(channel) = channel {
                        sqlx::query(
                            "UPDATE channels SET disabled_at = ?, disabled_reason = ? WHERE id = ?",
                        )
                        .bind(now)
                        .bind(error)
                        .bind(channel)
                        .execute(&mut *tx)
                        .await
                        .map_err(q("disabling a channel"))?;
                        sqlx::query(
                            "UPDATE deliveries SET status = 'failed', claimed_at = NULL, owner = NULL,
                             last_error = 'channel disabled: ' || ?
                             WHERE channel_id = ? AND status = 'pending'",
                        )
                        .bind(error)
                        .bind(channel)
                        .execute(&mut *tx)
                        .await
                        .map_err(q("disabling a channel"))?;
                    }
                }
                tx.commit().await.map(|_| ())
            }
        }
        .map_err(q("recording a delivery attempt"))
    }

    pub(super) async fn outbox_next(&self, now: Millis, lease_ms: i64) -> Result<Option<Millis>> {
        sqlx::query_scalar(
            "SELECT MIN(CASE WHEN d.claimed_at IS NOT NULL AND d.claimed_at > ?1 - ?2
                             THEN MAX(d.claimed_at + ?2, d.next_attempt_at) ELSE d.next_attempt_at END)
             FROM deliveries d JOIN channels c ON c.id = d.channel_id AND c.active = 1
             WHERE d.status = 'pending'",
        )
        .bind(now)
        .bind(lease_ms)
        .fetch_one(self.pool())
        .await
        .map_err(q("finding the next delivery"))
    }

    pub(super) async fn outbox_list(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<DeliveryInfo>> {
        let rows = sqlx::query(
            "SELECT d.id, d.message_id, c.name AS channel, w.name AS watch, e.id AS event_id, e.kind, d.digest,
                    d.status, d.attempts, d.created_at, d.next_attempt_at, d.last_attempt_at, d.last_error, d.delivered_at
             FROM deliveries d JOIN channels c ON c.id = d.channel_id
             JOIN events e ON e.id = d.event_id JOIN watches w ON w.id = e.watch_id
             WHERE ?1 IS NULL OR d.status = ?1
             ORDER BY d.id DESC LIMIT ?2",
        )
        .bind(status)
        .bind(limit)
        .fetch_all(self.pool())
        .await
        .map_err(q("listing deliveries"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let e = || q("reading a delivery");
            let attempts: i64 = row.try_get("attempts").map_err(e())?;
            out.push(DeliveryInfo {
                id: row.try_get("id").map_err(e())?,
                message_id: row.try_get("message_id").map_err(e())?,
                channel: row.try_get("channel").map_err(e())?,
                watch: row.try_get("watch").map_err(e())?,
                event_id: row.try_get("event_id").map_err(e())?,
                event_kind: row.try_get("kind").map_err(e())?,
                digest: row.try_get("digest").map_err(e())?,
                status: row.try_get("status").map_err(e())?,
                attempts: u32::try_from(attempts).unwrap_or(0),
                created_at: row.try_get("created_at").map_err(e())?,
                next_attempt_at: row.try_get("next_attempt_at").map_err(e())?,
                last_attempt_at: row.try_get("last_attempt_at").map_err(e())?,
                last_error: row.try_get("last_error").map_err(e())?,
                delivered_at: row.try_get("delivered_at").map_err(e())?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Digest;
    use crate::detect::EventDraft;
    use crate::model::{CheckOutcome, WatchKind};
    use crate::store::{CheckRecord, StateUpdate, Store, WatchDef};

    fn record(watch_id: i64, kind: EventKind) -> CheckRecord {
        CheckRecord {
            watch_id,
            started_at: 1_000,
            duration_ms: 1,
            outcome: CheckOutcome::Unchanged,
            http_status: Some(200),
            error_class: None,
            error: None,
            bytes: 0,
            final_url: None,
            redirects: Vec::new(),
            version: None,
            prev_version_id: None,
            events: vec![EventDraft {
                kind,
                data: serde_json::json!({}),
            }],
            follow: Vec::new(),
            state: StateUpdate::default(),
        }
    }

    /// The SQL matching agrees with the rules of the config: `*`, names,
    /// `tag:NAME`, kinds (default all but first_seen and reverted), boring edits.
    #[tokio::test]
    async fn subscriptions_match_in_the_commit() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = SqliteStore::open(&dir.path().join("t.db"))
            .await
            .expect("open");
        let tags_a = vec!["x".to_string()];
        let tags_b = vec!["y".to_string(), "x-not".to_string()];
        let defs = [
            WatchDef {
                name: "a",
                url: "http://a.example/",
                kind: WatchKind::Page,
                tags: &tags_a,
                interval_ms: 1000,
                paused: false,
            },
            WatchDef {
                name: "b",
                url: "http://b.example/",
                kind: WatchKind::Page,
                tags: &tags_b,
                interval_ms: 1000,
                paused: false,
            },
        ];
        let states = store.sync_watches(&defs).await.expect("sync");
        let (a, b) = (states[0].id, states[1].id);
        // Nothing configured: a commit with events writes no delivery.
        store
            .commit(&[record(a, EventKind::Edited)])
            .await
            .expect("commit");
        assert!(store.deliveries(None, 10).await.expect("list").is_empty());

        let all = WatchSelector::All;
        let tag = WatchSelector::Tag("x".into());
        let names = WatchSelector::Names(vec!["b".into()]);
        let default_kinds = crate::config::defaults::subscription_kinds();
        let firsts = [EventKind::FirstSeen];
        let channels = [
            ChannelDef {
                name: "c",
                kind: "webhook",
                fingerprint: "f".into(),
            },
            ChannelDef {
                name: "d",
                kind: "email",
                fingerprint: "g".into(),
            },
        ];
        let subs = [
            SubscriptionDef {
                channel: "c",
                watches: &tag,
                kinds: &default_kinds,
                digest: Digest::Off,
                boring: false,
            },
            SubscriptionDef {
                channel: "c",
                watches: &names,
                kinds: &default_kinds,
                digest: Digest::Hourly,
                boring: false,
            },
            SubscriptionDef {
                channel: "d",
                watches: &all,
                kinds: &firsts,
                digest: Digest::Off,
                boring: false,
            },
        ];
        store
            .sync_notify(&channels, &subs, Default::default())
            .await
            .expect("sync notify");
        let mut boring = record(a, EventKind::Edited);
        boring.events[0].data = serde_json::json!({"boring": "punctuation"});
        store
            .commit(&[
                record(a, EventKind::Edited),
                record(b, EventKind::Edited),
                record(b, EventKind::FirstSeen),
                boring,
                record(a, EventKind::Reverted),
            ])
            .await
            .expect("commit");
        let mut got: Vec<(String, String, String, bool)> = store
            .deliveries(None, 10)
            .await
            .expect("list")
            .into_iter()
            .map(|d| (d.channel, d.watch, d.event_kind, d.message_id.is_some()))
            .collect();
        got.sort();
        let want = vec![
            ("c".to_string(), "a".to_string(), "edited".to_string(), true),
            ("c".into(), "b".into(), "edited".into(), false), // a digest: no id yet
            ("d".into(), "b".into(), "first_seen".into(), true),
        ];
        assert_eq!(got, want);

        // Claim: one message per claim while leased; finish; list.
        let t = crate::model::now_millis() + 1_000;
        let claimed = store
            .claim_deliveries("w1", t, 60_000, 8, 10, &[])
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 2, "the digest is not due: {claimed:?}");
        let again = store
            .claim_deliveries("w2", t + 1, 60_000, 8, 10, &[])
            .await
            .expect("claim");
        assert!(again.is_empty(), "leased");
        let later = store
            .claim_deliveries("w2", t + 70_000, 60_000, 8, 10, &["d".to_string()])
            .await
            .expect("claim");
        assert_eq!(later.len(), 1, "c's lease expired; d is skipped");
        assert_eq!(later[0].channel, "c");
        let id = later[0].message_id.clone();
        assert_eq!(store.fix_payload(&id, "one").await.expect("fix"), "one");
        assert_eq!(store.fix_payload(&id, "two").await.expect("fix"), "one");
        // The old owner's retry is ignored; the new owner's success counts.
        store
            .finish_delivery(
                &id,
                "w1",
                t + 70_001,
                &Attempt::Retry {
                    at: 0,
                    error: "x".into(),
                },
            )
            .await
            .expect("finish");
        store
            .finish_delivery(&id, "w2", t + 70_002, &Attempt::Delivered)
            .await
            .expect("finish");
        let delivered = store.deliveries(Some("delivered"), 10).await.expect("list");
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].attempts, 1);
    }

    #[test]
    fn subscription_identity_is_stable() {
        let k = [EventKind::Edited];
        let all = WatchSelector::All;
        let s = |d| SubscriptionDef {
            channel: "c",
            watches: &all,
            kinds: &k,
            digest: d,
            boring: false,
        };
        assert_eq!(s(Digest::Off).fingerprint(), s(Digest::Off).fingerprint());
        assert_ne!(s(Digest::Off).fingerprint(), s(Digest::Daily).fingerprint());
    }
}
