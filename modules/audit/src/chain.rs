//! The hash of one entry: SHA-256 over the previous hash and every field,
//! serialised as a JSON array so that no two different entries can produce
//! the same input by shifting text between fields.

use sha2::{Digest, Sha256};

use crate::entity::audit_log;

/// The `prev_hash` of a chain's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub fn entry_hash(e: &audit_log::Model) -> String {
    let canonical = serde_json::json!([
        e.prev_hash,
        e.tenant_id.to_string(),
        e.seq,
        e.at_ms,
        e.request_id,
        e.actor_kind,
        e.actor_id.to_string(),
        e.action,
        e.target_kind,
        e.target_id,
        e.outcome,
        e.detail,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn entry() -> audit_log::Model {
        audit_log::Model {
            tenant_id: Uuid::nil(),
            seq: 1,
            at_ms: 1,
            request_id: "r".into(),
            actor_kind: "user".into(),
            actor_id: Uuid::nil(),
            action: "user.create".into(),
            target_kind: "user".into(),
            target_id: "x".into(),
            outcome: "ok".into(),
            detail: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn every_field_is_covered() {
        let base = entry_hash(&entry());
        let mut e = entry();
        e.outcome = "denied".into();
        assert_ne!(entry_hash(&e), base);
        let mut e = entry();
        e.target_id = "y".into();
        assert_ne!(entry_hash(&e), base);
        // Moving text from one field to the next changes the hash too.
        let mut a = entry();
        a.target_kind = "us".into();
        a.target_id = "erx".into();
        let mut b = entry();
        b.target_kind = "user".into();
        b.target_id = "x".into();
        assert_ne!(entry_hash(&a), entry_hash(&b));
    }
}
