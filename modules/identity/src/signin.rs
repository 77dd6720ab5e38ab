//! Signing in, for district users and platform operators alike: the two
//! live in different tables, but the rules are one (argon2id, the same
//! answer for an unknown account and a wrong password, a lock-out after
//! five failures in fifteen minutes, every attempt audited), so they run
//! through one flow here.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use shouhu_audit::{Actor, AuditEntry, Outcome};
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ActorKind, ApiError, Backend, ScopedTx, TenantId};
use uuid::Uuid;

use crate::entity::{operator, operator_session, session, user};
use crate::password;
use crate::service::{after_failure, IdentityService, LoginResult};
use crate::token::Claims;
use crate::IdentityError;

/// Where an account lives.
#[derive(Copy, Clone, Debug)]
enum Realm {
    District(TenantId),
    Platform,
}

impl Realm {
    fn scope(self) -> TenantId {
        match self {
            Realm::District(t) => t,
            Realm::Platform => TenantId::PLATFORM,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Realm::District(_) => "auth.login",
            Realm::Platform => "auth.operator_login",
        }
    }

    fn account_kind(self) -> &'static str {
        match self {
            Realm::District(_) => "user",
            Realm::Platform => "operator",
        }
    }

    fn actor_kind(self) -> ActorKind {
        match self {
            Realm::District(_) => ActorKind::User,
            Realm::Platform => ActorKind::Operator,
        }
    }
}

/// The sign-in columns both account tables have.
struct Account {
    id: Uuid,
    password_hash: String,
    active: bool,
    failed_count: i32,
    failed_window_start_ms: Option<i64>,
    locked_until_ms: Option<i64>,
}

impl Account {
    fn locked_at(&self, now: i64) -> bool {
        self.locked_until_ms.is_some_and(|until| until > now)
    }
}

impl From<user::Model> for Account {
    fn from(u: user::Model) -> Self {
        Account {
            id: u.id,
            password_hash: u.password_hash,
            active: u.active,
            failed_count: u.failed_count,
            failed_window_start_ms: u.failed_window_start_ms,
            locked_until_ms: u.locked_until_ms,
        }
    }
}

impl From<operator::Model> for Account {
    fn from(o: operator::Model) -> Self {
        Account {
            id: o.id,
            password_hash: o.password_hash,
            active: true,
            failed_count: o.failed_count,
            failed_window_start_ms: o.failed_window_start_ms,
            locked_until_ms: o.locked_until_ms,
        }
    }
}

/// The lock-out columns after an attempt.
struct LockoutState {
    count: i32,
    window_start: Option<i64>,
    locked_until: Option<i64>,
}

impl IdentityService {
    /// Signs in to a district (or, with the slug `platform`, as a platform
    /// operator). Every attempt is audited.
    pub async fn login(
        &self,
        tenant_slug: &str,
        username: &str,
        password: &str,
        request_id: &str,
    ) -> Result<LoginResult, ApiError> {
        let realm = if tenant_slug == "platform" {
            Realm::Platform
        } else {
            match self.tenancy().tenant_by_slug(tenant_slug).await? {
                Some(t) => Realm::District(TenantId(t.id)),
                None => {
                    // Spend the same time as a real attempt.
                    let _ = password::verify(password.to_owned(), None).await;
                    return Err(IdentityError::BadCredentials.into());
                }
            }
        };
        self.sign_in(realm, username, password, request_id).await
    }

    async fn sign_in(
        &self,
        realm: Realm,
        username: &str,
        password: &str,
        request_id: &str,
    ) -> Result<LoginResult, ApiError> {
        let actor = Actor::anonymous(request_id);
        let now = self.now_ms();
        // The typed username is not kept: people type passwords into that
        // field.
        let failed = |reason: &str, target: String| {
            AuditEntry::ok(realm.action(), realm.account_kind(), target)
                .with_outcome(Outcome::Failed)
                .with_detail(serde_json::json!({ "reason": reason }))
        };
        let Some(found) = self
            .find_account(realm, username)
            .await?
            .filter(|a| a.active)
        else {
            let _ = password::verify(password.to_owned(), None).await;
            self.audit()
                .append_now(
                    realm.scope(),
                    &actor,
                    failed("unknown account", "unknown".into()),
                )
                .await?;
            return Err(IdentityError::BadCredentials.into());
        };
        if found.locked_at(now) {
            let _ = password::verify(password.to_owned(), None).await;
            self.audit()
                .append_now(
                    realm.scope(),
                    &actor,
                    failed("locked", found.id.to_string()),
                )
                .await?;
            return Err(IdentityError::Locked.into());
        }
        // The slow check runs outside any transaction, so that it holds no
        // lock (on SQLite, the one writers' lock).
        let ok = password::verify(password.to_owned(), Some(found.password_hash.clone())).await?;
        let tx = self.db().write(realm.scope()).await?;
        // Re-read under the lock: concurrent failures must all count, and
        // attempts in flight when the account locked must not get through,
        // not even with the right password.
        let current = self
            .lock_account(&tx, realm, found.id)
            .await?
            .ok_or(IdentityError::BadCredentials)?;
        if current.locked_at(now) {
            self.audit()
                .append(&tx, &actor, failed("locked", current.id.to_string()))
                .await?;
            tx.commit().await?;
            return Err(IdentityError::Locked.into());
        }
        if !ok {
            let (count, window_start, locked_until) =
                after_failure(current.failed_count, current.failed_window_start_ms, now);
            let state = LockoutState {
                count,
                window_start,
                locked_until,
            };
            self.save_lockout(&tx, realm, current.id, &state).await?;
            let reason = if locked_until.is_some() {
                "wrong password; account locked"
            } else {
                "wrong password"
            };
            self.audit()
                .append(&tx, &actor, failed(reason, current.id.to_string()))
                .await?;
            tx.commit().await?;
            return Err(if locked_until.is_some() {
                IdentityError::Locked
            } else {
                IdentityError::BadCredentials
            }
            .into());
        }
        let cleared = LockoutState {
            count: 0,
            window_start: None,
            locked_until: None,
        };
        self.save_lockout(&tx, realm, current.id, &cleared).await?;
        let expires = now + self.token_ttl_ms();
        let session_id = self
            .open_session(&tx, realm, current.id, now, expires)
            .await?;
        let actor = Actor {
            kind: realm.actor_kind(),
            id: current.id,
            request_id: request_id.to_owned(),
        };
        self.audit()
            .append(
                &tx,
                &actor,
                AuditEntry::ok(realm.action(), "session", session_id),
            )
            .await?;
        tx.commit().await?;
        let claims = Claims {
            sub: current.id,
            tid: realm.scope().as_uuid(),
            sid: session_id,
            kind: realm.account_kind().to_owned(),
            iat: now / 1000,
            exp: expires / 1000,
        };
        let token = self
            .keys()
            .sign(&claims)
            .ok_or_else(|| ApiError::internal("token signing failed"))?;
        Ok(LoginResult {
            token,
            expires_at_ms: expires,
        })
    }

    async fn find_account(
        &self,
        realm: Realm,
        username: &str,
    ) -> Result<Option<Account>, ApiError> {
        Ok(match realm {
            Realm::District(tenant) => {
                let tx = self.db().read(tenant).await?;
                let found = tx
                    .select::<user::Entity>()
                    .filter(user::Column::Username.eq(username))
                    .one(tx.conn())
                    .await?;
                tx.commit().await?;
                found.map(Account::from)
            }
            Realm::Platform => operator::Entity::find()
                .filter(operator::Column::Username.eq(username))
                .one(self.db().raw())
                .await?
                .map(Account::from),
        })
    }

    /// The account, read again with a row lock on PostgreSQL (on SQLite the
    /// writers' lock already serialises this).
    async fn lock_account(
        &self,
        tx: &ScopedTx,
        realm: Realm,
        id: Uuid,
    ) -> Result<Option<Account>, ApiError> {
        let lock = tx.backend() == Backend::Postgres;
        Ok(match realm {
            Realm::District(_) => {
                let mut query = tx.select::<user::Entity>().filter(user::Column::Id.eq(id));
                if lock {
                    query = query.lock_exclusive();
                }
                query.one(tx.conn()).await?.map(Account::from)
            }
            Realm::Platform => {
                let mut query = operator::Entity::find_by_id(id);
                if lock {
                    query = query.lock_exclusive();
                }
                query.one(tx.conn()).await?.map(Account::from)
            }
        })
    }

    async fn save_lockout(
        &self,
        tx: &ScopedTx,
        realm: Realm,
        id: Uuid,
        state: &LockoutState,
    ) -> Result<(), ApiError> {
        match realm {
            Realm::District(_) => {
                tx.update::<user::Entity>()
                    .col_expr(user::Column::FailedCount, Expr::value(state.count))
                    .col_expr(
                        user::Column::FailedWindowStartMs,
                        Expr::value(state.window_start),
                    )
                    .col_expr(user::Column::LockedUntilMs, Expr::value(state.locked_until))
                    .filter(user::Column::Id.eq(id))
                    .exec(tx.conn())
                    .await?;
            }
            Realm::Platform => {
                operator::Entity::update_many()
                    .col_expr(operator::Column::FailedCount, Expr::value(state.count))
                    .col_expr(
                        operator::Column::FailedWindowStartMs,
                        Expr::value(state.window_start),
                    )
                    .col_expr(
                        operator::Column::LockedUntilMs,
                        Expr::value(state.locked_until),
                    )
                    .filter(operator::Column::Id.eq(id))
                    .exec(tx.conn())
                    .await?;
            }
        }
        Ok(())
    }

    async fn open_session(
        &self,
        tx: &ScopedTx,
        realm: Realm,
        account: Uuid,
        now: i64,
        expires: i64,
    ) -> Result<Uuid, ApiError> {
        let id = new_id();
        match realm {
            Realm::District(tenant) => {
                tx.insert(session::ActiveModel {
                    tenant_id: Set(tenant.as_uuid()),
                    id: Set(id),
                    user_id: Set(account),
                    created_at_ms: Set(now),
                    expires_at_ms: Set(expires),
                    revoked_at_ms: Set(None),
                })
                .await?;
            }
            Realm::Platform => {
                operator_session::Entity::insert(operator_session::ActiveModel {
                    id: Set(id),
                    operator_id: Set(account),
                    created_at_ms: Set(now),
                    expires_at_ms: Set(expires),
                    revoked_at_ms: Set(None),
                })
                .exec(tx.conn())
                .await?;
            }
        }
        Ok(id)
    }
}
