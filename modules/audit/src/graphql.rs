//! The audit log as GraphQL: district admins read their tenant's entries.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::{principal, request_ctx};
use shouhu_kernel::paging::{decode_cursor, encode_cursor, page_size};
use shouhu_kernel::ApiError;

use crate::entity::audit_log;
use crate::AuditService;

/// One audit entry, as a district admin sees it.
#[derive(SimpleObject)]
#[graphql(name = "AuditEntry")]
pub struct AuditEntryObject {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub actor_kind: String,
    pub actor_id: ID,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub outcome: String,
    /// JSON text with the action's non-personal particulars.
    pub detail: String,
}

impl From<audit_log::Model> for AuditEntryObject {
    fn from(m: audit_log::Model) -> Self {
        AuditEntryObject {
            seq: m.seq,
            at: ms_to_datetime(m.at_ms),
            request_id: m.request_id,
            actor_kind: m.actor_kind,
            actor_id: ID(m.actor_id.to_string()),
            action: m.action,
            target_kind: m.target_kind,
            target_id: m.target_id,
            outcome: m.outcome,
            detail: m.detail,
        }
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The caller's district's audit log, newest first. Needs `audit:read`.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        action: Option<String>,
    ) -> async_graphql::Result<Connection<String, AuditEntryObject, EmptyFields, EmptyFields>> {
        let _ = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<AuditService>()?;
        let limit = page_size(first)?;
        let before = match after {
            Some(c) => Some(
                decode_cursor(&c)?
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_input("after", "not a cursor of this list"))?,
            ),
            None => None,
        };
        let mut rows = service
            .list(who, action.as_deref(), before, limit + 1)
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut conn = Connection::new(before.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(encode_cursor(&r.seq.to_string()), r.into())),
        );
        Ok(conn)
    }
}
