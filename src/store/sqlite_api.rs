//! The SQLite side of [`super::api`]: API objects, tokens, the server key
//! and the API's filtered reads.

use super::api::{
    ApiObject, ChannelState, EventFilter, EventRow, ObjectKind, OpsSnapshot, SubscriptionInfo,
    TokenInfo, UnsubscribeTarget,
};
use super::sqlite::SqliteStore;
use super::{Result, StoreError};
use crate::model::Millis;
use sqlx::Row;

fn q(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

impl SqliteStore {
    pub(super) async fn api_objects_impl(&self) -> Result<Vec<ApiObject>> {
        let rows = sqlx::query("SELECT kind, name, body FROM api_objects ORDER BY id")
            .fetch_all(self.pool())
            .await
            .map_err(q("reading objects made through the API"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let e = || q("reading objects made through the API");
            let kind: String = row.try_get("kind").map_err(e())?;
            out.push(ApiObject {
                kind: ObjectKind::parse(&kind).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown API object kind `{kind}`"))
                })?,
                name: row.try_get("name").map_err(e())?,
                body: row.try_get("body").map_err(e())?,
            });
        }
        Ok(out)
    }

    pub(super) async fn put_api_object_impl(&self, obj: &ApiObject, now: Millis) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_objects (kind, name, body, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT(kind, name) DO UPDATE SET body = ?3, updated_at = ?4",
        )
        .bind(obj.kind.as_str())
        .bind(&obj.name)
        .bind(&obj.body)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(q("saving an object made through the API"))?;
        Ok(())
    }

    pub(super) async fn delete_api_object_impl(
        &self,
        kind: ObjectKind,
        name: &str,
    ) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_objects WHERE kind = ? AND name = ?")
            .bind(kind.as_str())
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(q("deleting an object made through the API"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn create_token_impl(
        &self,
        name: &str,
        hash: &[u8; 32],
        read_only: bool,
        now: Millis,
    ) -> Result<Option<i64>> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO tokens (name, hash, read_only, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(&hash[..])
        .bind(read_only)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(q("creating a token"))?;
        Ok(id)
    }

    pub(super) async fn token_by_hash_impl(
        &self,
        hash: &[u8; 32],
        now: Millis,
    ) -> Result<Option<TokenInfo>> {
        // `last_used_at` is written at most once a minute per token.
        let row = sqlx::query(
            "UPDATE tokens SET last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ?2 - 60000
                                                   THEN ?2 ELSE last_used_at END
             WHERE hash = ?1 RETURNING id, name, read_only, created_at, last_used_at",
        )
        .bind(&hash[..])
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(q("checking a token"))?;
        row.map(|r| token_row(&r)).transpose()
    }

    pub(super) async fn tokens_impl(&self) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT id, name, read_only, created_at, last_used_at FROM tokens ORDER BY name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("listing tokens"))?;
        rows.iter().map(token_row).collect()
    }

    pub(super) async fn revoke_token_impl(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE name = ?")
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(q("revoking a token"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn server_key_impl(&self) -> Result<[u8; 32]> {
        // 256 bits from the operating system's generator; the first daemon
        // to need a key writes it, every later one reads that one.
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|e| StoreError::Unsupported(format!("cannot draw random bytes: {e}")))?;
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('server_key', ?)")
            .bind(&fresh[..])
            .execute(self.pool())
            .await
            .map_err(q("creating the server key"))?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'server_key'")
            .fetch_one(self.pool())
            .await
            .map_err(q("reading the server key"))?;
        <[u8; 32]>::try_from(stored.as_slice())
            .map_err(|_| StoreError::Corrupt("the server key is not 32 bytes".into()))
    }

    pub(super) async fn list_events_impl(&self, f: &EventFilter) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(
            "SELECT e.id, e.watch_id, e.kind, e.created_at, e.data, v.seq AS vseq, p.seq AS pseq,
                    w.name AS wname, w.url AS wurl
             FROM events e JOIN watches w ON w.id = e.watch_id
             LEFT JOIN versions v ON v.id = e.version_id LEFT JOIN versions p ON p.id = e.prev_version_id
             WHERE (?1 IS NULL OR e.watch_id = ?1)
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(w.tags) t WHERE t.value = ?2))
               AND (?3 IS NULL OR e.kind = ?3)
               AND (?4 IS NULL OR e.created_at >= ?4)
               AND (?5 IS NULL OR e.id < ?5)
             ORDER BY e.id DESC LIMIT ?6",
        )
        .bind(f.watch_id)
        .bind(f.tag.as_deref())
        .bind(f.kind.as_deref())
        .bind(f.since)
        .bind(f.before)
        .bind(f.limit)
        .fetch_all(self.pool())
        .await
        .map_err(q("listing events"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let e = || q("reading an event");
            out.push(EventRow {
                event: super::sqlite::event_of(&row)?,
                watch: row.try_get("wname").map_err(e())?,
                url: row.try_get("wurl").map_err(e())?,
            });
        }
        Ok(out)
    }

    pub(super) async fn retry_delivery_impl(&self, id: i64, now: Millis) -> Result<bool> {
        // The whole message is retried (a digest is several rows), now,
        // with its rendered payload kept: the receiver sees the same bytes.
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2, claimed_at = NULL, owner = NULL
             WHERE status = 'failed'
               AND (id = ?1 OR (message_id IS NOT NULL
                                AND message_id = (SELECT message_id FROM deliveries WHERE id = ?1)))",
        )
        .bind(id)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(q("retrying a delivery"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(super) async fn subscriptions_impl(&self) -> Result<Vec<SubscriptionInfo>> {
        let rows = sqlx::query(
            "SELECT s.id, c.name AS channel, s.selector, s.tag, s.names, s.kinds, s.digest, s.boring,
                    s.fingerprint, s.unsubscribed_at
             FROM subscriptions s JOIN channels c ON c.id = s.channel_id
             WHERE s.active = 1 ORDER BY s.id",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("listing subscriptions"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let e = || q("reading a subscription");
            let names: String = row.try_get("names").map_err(e())?;
            let kinds: String = row.try_get("kinds").map_err(e())?;
            out.push(SubscriptionInfo {
                id: row.try_get("id").map_err(e())?,
                channel: row.try_get("channel").map_err(e())?,
                selector: row.try_get("selector").map_err(e())?,
                tag: row.try_get("tag").map_err(e())?,
                names: json_list(&names),
                kinds: json_list(&kinds),
                digest: row.try_get("digest").map_err(e())?,
                boring: row.try_get("boring").map_err(e())?,
                fingerprint: row.try_get("fingerprint").map_err(e())?,
                unsubscribed_at: row.try_get("unsubscribed_at").map_err(e())?,
            });
        }
        Ok(out)
    }

    pub(super) async fn channel_states_impl(&self) -> Result<Vec<ChannelState>> {
        let rows = sqlx::query(
            "SELECT name, disabled_at, disabled_reason FROM channels WHERE active = 1 ORDER BY name",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("listing channels"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let e = || q("reading a channel");
            out.push(ChannelState {
                name: row.try_get("name").map_err(e())?,
                disabled_at: row.try_get("disabled_at").map_err(e())?,
                disabled_reason: row.try_get("disabled_reason").map_err(e())?,
            });
        }
        Ok(out)
    }

    pub(super) async fn unsubscribe_target_impl(
        &self,
        message_id: &str,
    ) -> Result<Option<UnsubscribeTarget>> {
        let row = sqlx::query(
            "SELECT s.id, c.name, s.unsubscribed_at FROM deliveries d
             JOIN subscriptions s ON s.id = d.subscription_id JOIN channels c ON c.id = s.channel_id
             WHERE d.message_id = ? LIMIT 1",
        )
        .bind(message_id)
        .fetch_optional(self.pool())
        .await
        .map_err(q("finding an unsubscribe link"))?;
        let Some(row) = row else { return Ok(None) };
        let e = || q("reading an unsubscribe link");
        let at: Option<Millis> = row.try_get(2).map_err(e())?;
        Ok(Some(UnsubscribeTarget {
            subscription_id: row.try_get(0).map_err(e())?,
            channel: row.try_get(1).map_err(e())?,
            unsubscribed: at.is_some(),
        }))
    }

    pub(super) async fn unsubscribe_impl(&self, subscription_id: i64, now: Millis) -> Result<()> {
        let mut tx = self
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(q("unsubscribing"))?;
        sqlx::query(
            "UPDATE subscriptions SET unsubscribed_at = COALESCE(unsubscribed_at, ?) WHERE id = ?",
        )
        .bind(now)
        .bind(subscription_id)
        .execute(&mut *tx)
        .await
        .map_err(q("unsubscribing"))?;
        // Alerts already queued for it are not sent either.
        sqlx::query(
            "UPDATE deliveries SET status = 'failed', claimed_at = NULL, owner = NULL,
             last_error = 'unsubscribed by its recipient'
             WHERE subscription_id = ? AND status = 'pending'",
        )
        .bind(subscription_id)
        .execute(&mut *tx)
        .await
        .map_err(q("unsubscribing"))?;
        tx.commit().await.map_err(q("unsubscribing"))
    }

    pub(super) async fn ops_snapshot_impl(&self) -> Result<OpsSnapshot> {
        let rows = sqlx::query(
            "SELECT CASE WHEN paused = 1 THEN 'paused' ELSE status END AS s, COUNT(*) AS n
             FROM watches WHERE active = 1 GROUP BY s ORDER BY s",
        )
        .fetch_all(self.pool())
        .await
        .map_err(q("counting watches by status"))?;
        let mut snap = OpsSnapshot::default();
        for row in rows {
            let e = || q("counting watches by status");
            snap.watches_by_status.push((
                row.try_get("s").map_err(e())?,
                row.try_get("n").map_err(e())?,
            ));
        }
        snap.oldest_pending_delivery =
            sqlx::query_scalar("SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'")
                .fetch_one(self.pool())
                .await
                .map_err(q("finding the oldest pending delivery"))?;
        Ok(snap)
    }
}

fn token_row(r: &sqlx::sqlite::SqliteRow) -> Result<TokenInfo> {
    let e = || q("reading a token");
    Ok(TokenInfo {
        id: r.try_get("id").map_err(e())?,
        name: r.try_get("name").map_err(e())?,
        read_only: r.try_get("read_only").map_err(e())?,
        created_at: r.try_get("created_at").map_err(e())?,
        last_used_at: r.try_get("last_used_at").map_err(e())?,
    })
}
