//! The subscription that tells a street's officers of a new emergency
//! report (and the centre of escalations) as it happens. It carries ids
//! only; the inbox query holds the same notices for clients without a
//! WebSocket.

use async_graphql::{Context, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, Stream, StreamExt};
use shouhu_kernel::context::principal;
use shouhu_policies::Permission;
use tokio::sync::broadcast::error::RecvError;

use super::at;
use crate::CaseworkService;

/// A notice as it arrives.
#[derive(SimpleObject, Clone)]
pub struct ReportNotice {
    /// `emergency_report` or `escalation`.
    pub kind: String,
    pub report_id: ID,
    pub at: DateTime<Utc>,
}

#[derive(Default)]
pub struct CaseworkSubscription;

#[Subscription]
impl CaseworkSubscription {
    /// Notices for the caller's units, from now on. Needs `report:read`.
    async fn report_notices(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = ReportNotice>> {
        let who = principal(ctx)?.clone();
        who.require(Permission::ReportRead)?;
        let rx = ctx.data::<CaseworkService>()?.subscribe();
        // The same rule as the inbox: notices for units in the caller's
        // subtree, in the caller's district only.
        let scope = if who.is_district_wide() {
            None
        } else {
            who.scope_path().map(str::to_owned)
        };
        Ok(stream::unfold(rx, |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(n) => return Some((n, rx)),
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |n| {
            let mine = n.tenant == who.tenant
                && scope.as_deref().is_none_or(|s| n.unit_path.starts_with(s));
            async move { mine }
        })
        .map(|n| ReportNotice {
            kind: n.kind.to_owned(),
            report_id: ID(n.report_id.to_string()),
            at: at(n.at_ms),
        }))
    }
}
