//! A short-lived cache of authenticated callers, so that a burst of
//! requests with one token does not look the session, user, roles and org
//! unit up again for each of them.
//!
//! What this trades: a change made through *another* server process (a
//! sign-out, a revoked API key, a role taken away) reaches this process
//! within the cache's lifetime at most (two seconds by default). Changes
//! made through this process evict the entries they affect at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use shouhu_kernel::Principal;
use uuid::Uuid;

/// Beyond this many entries the cache starts over rather than grow.
const MAX_ENTRIES: usize = 50_000;

/// A caller and the instant (ms) until which they may be served from here.
type Entry = (Arc<Principal>, i64);

#[derive(Clone, Default)]
pub struct PrincipalCache {
    ttl_ms: i64,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl PrincipalCache {
    pub fn new(ttl_ms: i64) -> Self {
        PrincipalCache {
            ttl_ms,
            entries: Arc::default(),
        }
    }

    pub fn get(&self, credential: &str, now_ms: i64) -> Option<Arc<Principal>> {
        if self.ttl_ms <= 0 {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        entries
            .get(credential)
            .filter(|(_, until)| *until > now_ms)
            .map(|(p, _)| p.clone())
    }

    /// Keeps a caller until `now + ttl`, or the credential's own expiry if
    /// that comes first.
    pub fn put(&self, credential: &str, principal: Arc<Principal>, now_ms: i64, expires_ms: i64) {
        if self.ttl_ms <= 0 {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            let until = (now_ms + self.ttl_ms).min(expires_ms);
            entries.insert(credential.to_owned(), (principal, until));
        }
    }

    /// Forgets every entry of one actor (a user or an API key).
    pub fn evict_actor(&self, actor_id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (p, _)| p.actor_id != actor_id);
        }
    }

    /// Forgets one sign-in session.
    pub fn evict_session(&self, session_id: Uuid) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (p, _)| p.session_id != Some(session_id));
        }
    }
}
