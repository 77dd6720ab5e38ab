//! Appending to, reading and verifying the audit chains.

use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::{ActorKind, ApiError, Backend, Db, Principal, ScopedTx, TenantId};
use shouhu_policies::Permission;
use uuid::Uuid;

use crate::chain::{entry_hash, GENESIS};
use crate::entity::{audit_head, audit_log};

/// Who acted, in which request.
#[derive(Clone, Debug)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Uuid,
    pub request_id: String,
}

impl Actor {
    /// The signed-in caller of a GraphQL request, or UNAUTHENTICATED.
    pub fn of_request(ctx: &async_graphql::Context<'_>) -> Result<Actor, ApiError> {
        let rc = shouhu_kernel::context::request_ctx(ctx)?;
        Ok(Actor::of(rc.principal()?, &rc.request_id))
    }

    pub fn of(principal: &Principal, request_id: &str) -> Actor {
        Actor {
            kind: principal.actor_kind,
            id: principal.actor_id,
            request_id: request_id.to_owned(),
        }
    }

    pub fn anonymous(request_id: &str) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            id: Uuid::nil(),
            request_id: request_id.to_owned(),
        }
    }

    pub fn system(request_id: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            id: Uuid::nil(),
            request_id: request_id.to_owned(),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Denied,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// What happened. `detail` must not hold a child's personal data.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub outcome: Outcome,
    pub detail: Value,
}

impl AuditEntry {
    pub fn ok(action: &str, target_kind: &str, target_id: impl ToString) -> AuditEntry {
        AuditEntry {
            action: action.to_owned(),
            target_kind: target_kind.to_owned(),
            target_id: target_id.to_string(),
            outcome: Outcome::Ok,
            detail: Value::Object(Default::default()),
        }
    }

    pub fn with_outcome(mut self, outcome: Outcome) -> AuditEntry {
        self.outcome = outcome;
        self
    }

    pub fn with_detail(mut self, detail: Value) -> AuditEntry {
        self.detail = detail;
        self
    }
}

/// One break found by [`AuditService::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainProblem {
    pub tenant: TenantId,
    pub seq: i64,
    pub problem: String,
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub chains: usize,
    pub entries: u64,
    pub problems: Vec<ChainProblem>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Clone)]
pub struct AuditService {
    db: Db,
    clock: SharedClock,
}

const VERIFY_BATCH: u64 = 1_000;

impl AuditService {
    pub fn new(db: Db, clock: SharedClock) -> Self {
        AuditService { db, clock }
    }

    /// Appends an entry to the chain of the transaction's tenant, inside
    /// that transaction: the entry exists exactly when the change does.
    pub async fn append(
        &self,
        tx: &ScopedTx,
        actor: &Actor,
        entry: AuditEntry,
    ) -> Result<(), ApiError> {
        // Every chain has a head row from its first append on; creating it
        // with "insert unless present" lets two first appends race safely,
        // and the row lock below then orders them.
        let ensure_head = Query::insert()
            .into_table(audit_head::Entity)
            .columns([
                audit_head::Column::TenantId,
                audit_head::Column::Seq,
                audit_head::Column::Hash,
            ])
            .values_panic([tx.tenant().as_uuid().into(), 0_i64.into(), GENESIS.into()])
            .on_conflict(
                OnConflict::column(audit_head::Column::TenantId)
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        let backend = tx.conn().get_database_backend();
        tx.conn().execute(backend.build(&ensure_head)).await?;
        let mut head_query = tx.select::<audit_head::Entity>();
        if tx.backend() == Backend::Postgres {
            // Serialises appends to one chain across server processes. On
            // SQLite the writers' lock already does.
            head_query = head_query.lock_exclusive();
        }
        let head = head_query.one(tx.conn()).await?;
        let head = head.ok_or_else(|| ApiError::internal("audit head missing"))?;
        let (seq, prev_hash) = (head.seq + 1, head.hash.clone());
        let mut row = audit_log::Model {
            tenant_id: tx.tenant().as_uuid(),
            seq,
            at_ms: self.clock.now_ms(),
            request_id: truncate(&actor.request_id, 64),
            actor_kind: actor.kind.as_str().to_owned(),
            actor_id: actor.id,
            action: entry.action,
            target_kind: entry.target_kind,
            target_id: truncate(&entry.target_id, 64),
            outcome: entry.outcome.as_str().to_owned(),
            detail: entry.detail.to_string(),
            prev_hash,
            hash: String::new(),
        };
        row.hash = entry_hash(&row);
        let hash = row.hash.clone();
        let active: audit_log::ActiveModel = row.into();
        tx.insert(active).await?;
        tx.update::<audit_head::Entity>()
            .col_expr(audit_head::Column::Seq, Expr::value(seq))
            .col_expr(audit_head::Column::Hash, Expr::value(hash))
            .exec(tx.conn())
            .await?;
        Ok(())
    }

    /// Appends in a transaction of its own: for events whose action failed
    /// or was refused (a failed sign-in, a permission denial), which must be
    /// recorded although nothing else is written.
    pub async fn append_now(
        &self,
        tenant: TenantId,
        actor: &Actor,
        entry: AuditEntry,
    ) -> Result<(), ApiError> {
        let tx = self.db.write(tenant).await?;
        self.append(&tx, actor, entry).await?;
        tx.commit().await
    }

    /// A page of the caller's tenant's log, newest first.
    pub async fn list(
        &self,
        principal: &Principal,
        action: Option<&str>,
        before_seq: Option<i64>,
        limit: u64,
    ) -> Result<Vec<audit_log::Model>, ApiError> {
        principal.require_district_wide(Permission::AuditRead)?;
        let tx = self.db.read(principal.tenant).await?;
        let mut query = tx
            .select::<audit_log::Entity>()
            .order_by_desc(audit_log::Column::Seq)
            .limit(limit);
        if let Some(action) = action {
            query = query.filter(audit_log::Column::Action.eq(action));
        }
        if let Some(seq) = before_seq {
            query = query.filter(audit_log::Column::Seq.lt(seq));
        }
        let rows = query.all(tx.conn()).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Walks every chain of the given tenants (the platform chain is always
    /// included) and reports each break.
    pub async fn verify(&self, tenants: &[TenantId]) -> Result<VerifyReport, ApiError> {
        let mut report = VerifyReport::default();
        let mut scopes = vec![TenantId::PLATFORM];
        scopes.extend(tenants.iter().copied().filter(|t| !t.is_platform()));
        for tenant in scopes {
            self.verify_chain(tenant, &mut report).await?;
        }
        Ok(report)
    }

    async fn verify_chain(
        &self,
        tenant: TenantId,
        report: &mut VerifyReport,
    ) -> Result<(), ApiError> {
        let tx = self.db.read(tenant).await?;
        let head = tx.select::<audit_head::Entity>().one(tx.conn()).await?;
        let mut expected_seq = 1_i64;
        let mut prev = GENESIS.to_owned();
        let mut problem = |seq: i64, text: String| {
            report.problems.push(ChainProblem {
                tenant,
                seq,
                problem: text,
            })
        };
        loop {
            let batch = tx
                .select::<audit_log::Entity>()
                .filter(audit_log::Column::Seq.gte(expected_seq))
                .order_by_asc(audit_log::Column::Seq)
                .limit(VERIFY_BATCH)
                .all(tx.conn())
                .await?;
            if batch.is_empty() {
                break;
            }
            for row in &batch {
                if row.seq != expected_seq {
                    problem(
                        expected_seq,
                        format!("entries {expected_seq} to {} are missing", row.seq - 1),
                    );
                }
                if row.prev_hash != prev {
                    problem(row.seq, "does not follow the entry before it".into());
                }
                if entry_hash(row) != row.hash {
                    problem(row.seq, "was altered after it was written".into());
                }
                prev = row.hash.clone();
                expected_seq = row.seq + 1;
                report.entries += 1;
            }
        }
        let last = expected_seq - 1;
        match head {
            Some(h) if h.seq != last || h.hash != prev => problem(
                last + 1,
                format!("the chain ends at {last} but its head records {}", h.seq),
            ),
            None if last > 0 => problem(last, "the chain's head record is missing".into()),
            _ => {}
        }
        if last > 0 || tenant.is_platform() {
            report.chains += 1;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}
