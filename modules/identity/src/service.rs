//! Sign-in, authentication of each request, users, roles, API keys and
//! onboarding.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use shouhu_audit::{Actor, AuditEntry, AuditService};
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::db::is_unique_violation;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ActorKind, ApiError, Db, ErrorCode, Principal, ScopedTx, TenantId};
use shouhu_policies::{
    is_builtin_role_name, validate_custom_role_name, Permission, PermissionSet, PolicyEngine,
    BUILTIN_ROLES, PLATFORM_DOMAIN,
};
use shouhu_tenancy::entity::{org_unit, tenant};
use shouhu_tenancy::{DivisionSource, NewTenant, TenancyService};
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::cache::PrincipalCache;
use crate::entity::{
    api_key, operator, operator_session, role, role_permission, server_key, session, user,
    user_role,
};
use crate::password;
use crate::token::{self, Claims, Keys};
use crate::IdentityError;

/// Failed sign-ins counted within this window lock the account …
pub const LOCKOUT_WINDOW_MS: i64 = 15 * 60_000;
/// … once there are this many …
pub const LOCKOUT_THRESHOLD: i32 = 5;
/// … for this long.
pub const LOCKOUT_MS: i64 = 15 * 60_000;

#[derive(Clone, Debug)]
pub struct IdentityConfig {
    /// How long a sign-in token lives.
    pub token_ttl_ms: i64,
    /// The token-signing secret; `None` to use (and on first start create)
    /// the one stored in the database.
    pub token_secret: Option<String>,
    /// Division files for onboarding, when the operator has them.
    pub divisions: Option<std::path::PathBuf>,
    /// How long an authenticated caller is remembered (see `cache.rs`);
    /// 0 turns the cache off.
    pub principal_cache_ms: i64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            token_ttl_ms: 8 * 3_600_000,
            token_secret: None,
            divisions: None,
            principal_cache_ms: 2_000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct LoginResult {
    pub token: String,
    pub expires_at_ms: i64,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    /// The org unit's id; the district root when `None`.
    pub org_unit_id: Option<Uuid>,
    pub roles: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct NewRole {
    pub name: String,
    pub label: String,
    pub permissions: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub name: String,
    pub role: String,
    pub org_unit_id: Option<Uuid>,
    pub expires_at_ms: Option<i64>,
}

/// A district to onboard.
#[derive(Clone, Debug)]
pub struct Onboarding {
    pub code: String,
    pub slug: Option<String>,
    pub name: Option<String>,
    /// The first district admin: (username, display name, password).
    pub admin: Option<(String, String, String)>,
}

/// The services identity works with, and the policy engine it keeps in step.
#[derive(Clone)]
pub struct IdentityService {
    db: Db,
    audit: AuditService,
    tenancy: TenancyService,
    clock: SharedClock,
    keys: Keys,
    config: IdentityConfig,
    engine: Arc<RwLock<PolicyEngine>>,
    /// The policy version of each district the engine holds.
    loaded: Arc<Mutex<HashMap<TenantId, i64>>>,
    cache: PrincipalCache,
}

fn check_username(name: &str) -> Result<(), IdentityError> {
    let ok = (2..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    ok.then_some(()).ok_or(IdentityError::BadUsername)
}

/// At least 10 characters; at most 256, since every sign-in hashes the
/// whole of it.
fn check_password(password: &str) -> Result<(), IdentityError> {
    (10..=256)
        .contains(&password.chars().count())
        .then_some(())
        .ok_or(IdentityError::WeakPassword)
}

/// Refuses the passwords a guesser tries first, whatever their length:
/// only whitespace, one character repeated, a run of consecutive digits
/// (`1234567890`, `9876543210`) or the username itself.
fn check_password_guessable(password: &str, username: &str) -> Result<(), IdentityError> {
    let chars: Vec<char> = password.chars().collect();
    let blank = chars.iter().all(|c| c.is_whitespace());
    let repeated = chars.windows(2).all(|w| w[0] == w[1]);
    let digits: Vec<i32> = chars
        .iter()
        .map_while(|c| c.to_digit(10).map(|d| d as i32))
        .collect();
    let run = digits.len() == chars.len()
        // Up (…8901…) or down (…1098…), wrapping round from 9 to 0.
        && [1, 9]
            .into_iter()
            .any(|step| digits.windows(2).all(|w| (w[1] - w[0]).rem_euclid(10) == step));
    let is_username = password.trim().eq_ignore_ascii_case(username);
    if blank || repeated || run || is_username {
        Err(IdentityError::GuessablePassword)
    } else {
        Ok(())
    }
}

/// The grant rule: a caller hands on only permissions they hold, so that
/// `role:manage` or `user:manage` cannot be turned into more access than
/// the caller has. Names the first permission not held, for `field`.
fn require_held(
    who: &Principal,
    perms: impl IntoIterator<Item = Permission>,
    field: &str,
) -> Result<(), ApiError> {
    match perms.into_iter().find(|p| !who.has(*p)) {
        None => Ok(()),
        Some(p) => Err(ApiError {
            field: Some(field.to_owned()),
            permission: Some(p.as_str()),
            ..ApiError::new(
                ErrorCode::Forbidden,
                format!("you cannot grant {p}, which you do not hold"),
            )
        }),
    }
}

/// The lockout state after one more failed sign-in.
pub(crate) fn after_failure(
    count: i32,
    window_start: Option<i64>,
    now: i64,
) -> (i32, Option<i64>, Option<i64>) {
    let (count, start) = match window_start {
        Some(start) if now - start < LOCKOUT_WINDOW_MS => (count + 1, start),
        _ => (1, now),
    };
    if count >= LOCKOUT_THRESHOLD {
        (0, None, Some(now + LOCKOUT_MS))
    } else {
        (count, Some(start), None)
    }
}

impl IdentityService {
    /// Builds the service, loading (or creating) the signing key and every
    /// district's policies.
    pub async fn new(
        db: Db,
        audit: AuditService,
        tenancy: TenancyService,
        clock: SharedClock,
        config: IdentityConfig,
    ) -> Result<Self, ApiError> {
        let secret = match &config.token_secret {
            Some(s) if s.len() >= 32 => s.clone(),
            Some(_) => {
                return Err(ApiError::bad_input(
                    "SHOUHU_TOKEN_SECRET",
                    "the token secret needs at least 32 characters",
                ))
            }
            None => Self::stored_secret(&db, clock.now_ms()).await?,
        };
        let engine = PolicyEngine::new().await.map_err(ApiError::internal)?;
        let principal_cache_ms = config.principal_cache_ms;
        let service = IdentityService {
            db,
            audit,
            tenancy,
            clock,
            keys: Keys::from_secret(secret.as_bytes())
                .ok_or_else(|| ApiError::internal("unusable token secret"))?,
            config,
            engine: Arc::new(RwLock::new(engine)),
            loaded: Arc::new(Mutex::new(HashMap::new())),
            cache: PrincipalCache::new(principal_cache_ms),
        };
        for tenant in service.tenancy.all_tenant_ids().await? {
            service.reload_policies(tenant).await?;
        }
        Ok(service)
    }

    async fn stored_secret(db: &Db, now: i64) -> Result<String, ApiError> {
        const NAME: &str = "token-signing";
        if let Some(row) = server_key::Entity::find_by_id(NAME).one(db.raw()).await? {
            return Ok(row.secret);
        }
        let row = server_key::ActiveModel {
            name: Set(NAME.to_owned()),
            secret: Set(token::random_secret(48)),
            created_at_ms: Set(now),
        };
        // Two processes starting together may race; the loser reads the
        // winner's secret.
        let _ = server_key::Entity::insert(row).exec(db.raw()).await;
        server_key::Entity::find_by_id(NAME)
            .one(db.raw())
            .await?
            .map(|r| r.secret)
            .ok_or_else(|| ApiError::internal("token secret missing"))
    }

    pub(crate) fn tenancy(&self) -> &TenancyService {
        &self.tenancy
    }

    pub(crate) fn audit(&self) -> &AuditService {
        &self.audit
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn token_ttl_ms(&self) -> i64 {
        self.config.token_ttl_ms
    }

    pub fn engine(&self) -> &Arc<RwLock<PolicyEngine>> {
        &self.engine
    }

    pub fn divisions(&self) -> Option<DivisionSource> {
        self.config.divisions.clone().map(DivisionSource::new)
    }

    /// (Re)loads one district's custom roles into the engine.
    pub async fn reload_policies(&self, tenant: TenantId) -> Result<(), ApiError> {
        let version = self
            .tenancy
            .tenant(tenant)
            .await?
            .map(|t| t.policy_version)
            .unwrap_or(0);
        let tx = self.db.read(tenant).await?;
        let roles = tx
            .select::<role::Entity>()
            .filter(role::Column::Builtin.eq(false))
            .all(tx.conn())
            .await?;
        let grants = tx
            .select::<role_permission::Entity>()
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        let custom: Vec<(String, Vec<Permission>)> = roles
            .iter()
            .map(|r| {
                let perms = grants
                    .iter()
                    .filter(|g| g.role_id == r.id)
                    .filter_map(|g| g.permission.parse().ok())
                    .collect();
                (r.name.clone(), perms)
            })
            .collect();
        self.engine
            .write()
            .await
            .load_tenant(&tenant.to_string(), &custom)
            .await
            .map_err(ApiError::internal)?;
        self.loaded
            .lock()
            .map_err(|_| ApiError::internal("policy version lock poisoned"))?
            .insert(tenant, version);
        Ok(())
    }

    async fn ensure_current(&self, tenant: TenantId, version: i64) -> Result<(), ApiError> {
        let have = self
            .loaded
            .lock()
            .map_err(|_| ApiError::internal("policy version lock poisoned"))?
            .get(&tenant)
            .copied();
        if have != Some(version) {
            self.reload_policies(tenant).await?;
        }
        Ok(())
    }

    /// Revokes the caller's session: the token stops working at once.
    pub async fn logout(&self, who: &Principal, request_id: &str) -> Result<(), ApiError> {
        let Some(sid) = who.session_id else {
            return Err(ApiError::bad_input(
                "token",
                "API keys are revoked with revokeApiKey, not signed out",
            ));
        };
        let now = self.clock.now_ms();
        let tx = self.db.write(who.tenant).await?;
        if who.is_operator() {
            operator_session::Entity::update_many()
                .col_expr(operator_session::Column::RevokedAtMs, Expr::value(now))
                .filter(operator_session::Column::Id.eq(sid))
                .exec(tx.conn())
                .await?;
        } else {
            tx.update::<session::Entity>()
                .col_expr(session::Column::RevokedAtMs, Expr::value(now))
                .filter(session::Column::Id.eq(sid))
                .exec(tx.conn())
                .await?;
        }
        self.audit
            .append(
                &tx,
                &Actor::of(who, request_id),
                AuditEntry::ok("auth.logout", "session", sid),
            )
            .await?;
        tx.commit().await?;
        self.cache.evict_session(sid);
        Ok(())
    }

    // ---- authenticating a request ------------------------------------------

    /// Turns the credential of a request (a sign-in token or an API key)
    /// into the caller, with their current roles and permissions.
    pub async fn authenticate(&self, credential: &str) -> Result<Arc<Principal>, ApiError> {
        let now = self.clock.now_ms();
        if let Some(hit) = self.cache.get(credential, now) {
            return Ok(hit);
        }
        let (principal, expires_ms) = self.authenticate_uncached(credential, now).await?;
        let principal = Arc::new(principal);
        self.cache
            .put(credential, principal.clone(), now, expires_ms);
        Ok(principal)
    }

    /// The caller and the instant their credential stops being valid.
    async fn authenticate_uncached(
        &self,
        credential: &str,
        now: i64,
    ) -> Result<(Principal, i64), ApiError> {
        if credential.starts_with("shk_") {
            return self.authenticate_api_key(credential, now).await;
        }
        let claims = self
            .keys
            .verify(credential, now / 1000)
            .ok_or(IdentityError::BadToken)?;
        let expires_ms = claims.exp * 1000;
        if claims.kind == "operator" {
            return Ok((self.authenticate_operator(&claims, now).await?, expires_ms));
        }
        let tenant_id = TenantId(claims.tid);
        let tenant = self
            .tenancy
            .tenant(tenant_id)
            .await?
            .ok_or(IdentityError::BadToken)?;
        let tx = self.db.read(tenant_id).await?;
        let live = tx
            .select::<session::Entity>()
            .filter(session::Column::Id.eq(claims.sid))
            .filter(session::Column::UserId.eq(claims.sub))
            .filter(session::Column::RevokedAtMs.is_null())
            .filter(session::Column::ExpiresAtMs.gt(now))
            .one(tx.conn())
            .await?;
        if live.is_none() {
            return Err(IdentityError::BadToken.into());
        }
        let account = tx
            .select::<user::Entity>()
            .filter(user::Column::Id.eq(claims.sub))
            .filter(user::Column::Active.eq(true))
            .one(tx.conn())
            .await?
            .ok_or(IdentityError::BadToken)?;
        let roles = self.role_names_in(&tx, account.id).await?;
        let unit = self
            .tenancy
            .unit_in(&tx, account.org_unit_id)
            .await?
            .ok_or_else(|| ApiError::internal("user without an org unit"))?;
        tx.commit().await?;
        let principal = self
            .principal_for(
                &tenant,
                ActorKind::User,
                account.id,
                Some(unit),
                roles,
                Some(claims.sid),
            )
            .await?;
        Ok((principal, expires_ms))
    }

    async fn principal_for(
        &self,
        tenant: &tenant::Model,
        kind: ActorKind,
        actor_id: Uuid,
        unit: Option<org_unit::Model>,
        roles: Vec<String>,
        session_id: Option<Uuid>,
    ) -> Result<Principal, ApiError> {
        let tenant_id = TenantId(tenant.id);
        self.ensure_current(tenant_id, tenant.policy_version)
            .await?;
        let permissions = self
            .engine
            .read()
            .await
            .permissions(&tenant_id.to_string(), &roles);
        Ok(Principal {
            tenant: tenant_id,
            actor_kind: kind,
            actor_id,
            org_unit_id: unit.as_ref().map(|u| u.id),
            org_unit_path: unit.map(|u| u.path),
            roles,
            permissions,
            session_id,
        })
    }

    async fn authenticate_operator(
        &self,
        claims: &Claims,
        now: i64,
    ) -> Result<Principal, ApiError> {
        let live = operator_session::Entity::find_by_id(claims.sid)
            .filter(operator_session::Column::OperatorId.eq(claims.sub))
            .filter(operator_session::Column::RevokedAtMs.is_null())
            .filter(operator_session::Column::ExpiresAtMs.gt(now))
            .one(self.db.raw())
            .await?;
        if live.is_none() {
            return Err(IdentityError::BadToken.into());
        }
        let roles = vec!["platform_operator".to_owned()];
        let permissions = self
            .engine
            .read()
            .await
            .permissions(PLATFORM_DOMAIN, &roles);
        Ok(Principal {
            tenant: TenantId::PLATFORM,
            actor_kind: ActorKind::Operator,
            actor_id: claims.sub,
            org_unit_id: None,
            org_unit_path: None,
            roles,
            permissions,
            session_id: Some(claims.sid),
        })
    }

    async fn authenticate_api_key(
        &self,
        raw: &str,
        now: i64,
    ) -> Result<(Principal, i64), ApiError> {
        let (tid, key_id, secret) = token::parse_api_key(raw).ok_or(IdentityError::BadToken)?;
        let tenant_id = TenantId(tid);
        let tenant = self
            .tenancy
            .tenant(tenant_id)
            .await?
            .ok_or(IdentityError::BadToken)?;
        let tx = self.db.read(tenant_id).await?;
        let key = tx
            .select::<api_key::Entity>()
            .filter(api_key::Column::Id.eq(key_id))
            .filter(api_key::Column::RevokedAtMs.is_null())
            .one(tx.conn())
            .await?
            .filter(|k| k.expires_at_ms.is_none_or(|e| e > now))
            .filter(|k| k.secret_hash == token::sha256_hex(secret))
            .ok_or(IdentityError::BadToken)?;
        let role = tx
            .select::<role::Entity>()
            .filter(role::Column::Id.eq(key.role_id))
            .one(tx.conn())
            .await?
            .ok_or(IdentityError::BadToken)?;
        let unit = self.tenancy.unit_in(&tx, key.org_unit_id).await?;
        tx.commit().await?;
        let principal = self
            .principal_for(
                &tenant,
                ActorKind::ApiKey,
                key.id,
                unit,
                vec![role.name],
                None,
            )
            .await?;
        Ok((principal, key.expires_at_ms.unwrap_or(i64::MAX)))
    }

    async fn role_names_in(&self, tx: &ScopedTx, user_id: Uuid) -> Result<Vec<String>, ApiError> {
        let role_ids = Query::select()
            .column(user_role::Column::RoleId)
            .from(user_role::Entity)
            .and_where(user_role::Column::TenantId.eq(tx.tenant().as_uuid()))
            .and_where(user_role::Column::UserId.eq(user_id))
            .to_owned();
        let names: Vec<String> = tx
            .select::<role::Entity>()
            .filter(role::Column::Id.in_subquery(role_ids))
            .select_only()
            .column(role::Column::Name)
            .order_by_asc(role::Column::Name)
            .into_tuple()
            .all(tx.conn())
            .await?;
        Ok(names)
    }

    /// The principal a plugin's input query runs as: the role a district
    /// admin granted the plugin, with that role's permissions (and so its
    /// masking) in the plugin's own district, scoped to the whole district.
    /// Audited reads made with it name the plugin as the actor.
    pub async fn plugin_principal(
        &self,
        tenant: TenantId,
        plugin_id: Uuid,
        role: &str,
    ) -> Result<Principal, ApiError> {
        let tenant = self
            .tenancy
            .tenant(tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        self.principal_for(
            &tenant,
            ActorKind::Plugin,
            plugin_id,
            None,
            vec![role.to_owned()],
            None,
        )
        .await
    }

    // ---- users -------------------------------------------------------------

    /// The org unit of an active user of the transaction's district, without a
    /// scope check: for other modules (casework) that assign a user they were
    /// given and check the caller's scope on the unit themselves.
    pub async fn active_user_unit_in(
        &self,
        tx: &ScopedTx,
        id: Uuid,
    ) -> Result<Option<Uuid>, ApiError> {
        Ok(tx
            .select::<user::Entity>()
            .filter(user::Column::Id.eq(id))
            .filter(user::Column::Active.eq(true))
            .one(tx.conn())
            .await?
            .map(|u| u.org_unit_id))
    }

    /// Creates a user of the caller's district. Needs `user:manage`.
    pub async fn create_user(
        &self,
        who: &Principal,
        actor: &Actor,
        new: NewUser,
    ) -> Result<user::Model, ApiError> {
        who.require(Permission::UserManage)?;
        let roles = new.roles.clone();
        let tx = self.db.write(who.tenant).await?;
        let created = self.create_user_in(&tx, Some(who), new).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("user.create", "user", created.id).with_detail(
                    serde_json::json!({ "username": created.username, "roles": roles }),
                ),
            )
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Creates a user inside the caller's transaction; with `who`, the org
    /// unit must lie in the caller's scope.
    pub async fn create_user_in(
        &self,
        tx: &ScopedTx,
        who: Option<&Principal>,
        new: NewUser,
    ) -> Result<user::Model, IdentityError> {
        check_username(&new.username)?;
        check_password(&new.password)?;
        check_password_guessable(&new.password, &new.username)?;
        let display_name = new.display_name.trim().to_owned();
        if display_name.is_empty() || display_name.chars().count() > 100 {
            return Err(ApiError::bad_input("input.displayName", "1-100 characters").into());
        }
        if new.roles.is_empty() {
            return Err(IdentityError::NoRoles);
        }
        let unit = match new.org_unit_id {
            Some(id) => self.tenancy.unit_in(tx, id).await?,
            None => Some(self.tenancy.root_in(tx).await?),
        };
        let unit = unit
            .filter(|u| who.is_none_or(|w| shouhu_tenancy::in_scope(w, &u.path)))
            .ok_or_else(|| ApiError::not_found("org unit"))?;
        let mut role_ids = Vec::new();
        let mut names = new.roles.clone();
        names.sort();
        names.dedup();
        for name in &names {
            let found = tx
                .select::<role::Entity>()
                .filter(role::Column::Name.eq(name.as_str()))
                .one(tx.conn())
                .await?
                .ok_or_else(|| IdentityError::UnknownRole(name.clone()))?;
            role_ids.push(found.id);
        }
        if let Some(w) = who {
            self.require_assignable(w, &names, "input.roles").await?;
        }
        let hash = password::hash(new.password).await?;
        let id = new_id();
        let row = user::ActiveModel {
            tenant_id: Set(tx.tenant().as_uuid()),
            id: Set(id),
            username: Set(new.username.clone()),
            display_name: Set(display_name),
            password_hash: Set(hash),
            org_unit_id: Set(unit.id),
            active: Set(true),
            failed_count: Set(0),
            failed_window_start_ms: Set(None),
            locked_until_ms: Set(None),
            created_at_ms: Set(self.clock.now_ms()),
        };
        let taken = tx
            .select::<user::Entity>()
            .filter(user::Column::Username.eq(new.username.as_str()))
            .one(tx.conn())
            .await?
            .is_some();
        if taken {
            return Err(IdentityError::UsernameTaken(new.username));
        }
        let created = tx.insert(row).await?;
        for role_id in role_ids {
            tx.insert(user_role::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                user_id: Set(id),
                role_id: Set(role_id),
            })
            .await?;
        }
        Ok(created)
    }

    /// The grant rule for assigning roles (to a user or an API key): staff
    /// narrower than the district assign only roles whose every permission
    /// they hold. District-wide admins may assign any role, built-ins
    /// included, since staffing the protection centre is their job; the
    /// assignment is audited with the roles.
    pub(crate) async fn require_assignable(
        &self,
        who: &Principal,
        roles: &[String],
        field: &str,
    ) -> Result<(), ApiError> {
        if who.is_district_wide() {
            return Ok(());
        }
        let granted = self
            .engine
            .read()
            .await
            .permissions(&who.tenant.to_string(), roles);
        require_held(who, granted.iter(), field)
    }

    /// Disables a user: sign-in is refused and every session is revoked in
    /// the same transaction, so an issued token stops working; this process
    /// forgets the cached caller at once, others within the cache's
    /// lifetime. Needs `user:manage`, and the same grant rule as creating
    /// the user would.
    pub async fn disable_user(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), ApiError> {
        who.require(Permission::UserManage)?;
        let now = self.clock.now_ms();
        let tx = self.db.write(who.tenant).await?;
        let target = tx
            .select::<user::Entity>()
            .filter(user::Column::Id.eq(id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        // Outside the caller's subtree is "not found", as for reads.
        self.tenancy
            .unit_in(&tx, target.org_unit_id)
            .await?
            .filter(|u| shouhu_tenancy::in_scope(who, &u.path))
            .ok_or_else(|| ApiError::not_found("user"))?;
        let roles = self.role_names_in(&tx, id).await?;
        self.require_assignable(who, &roles, "id").await?;
        tx.update::<user::Entity>()
            .col_expr(user::Column::Active, Expr::value(false))
            .filter(user::Column::Id.eq(id))
            .exec(tx.conn())
            .await?;
        tx.update::<session::Entity>()
            .col_expr(session::Column::RevokedAtMs, Expr::value(now))
            .filter(session::Column::UserId.eq(id))
            .filter(session::Column::RevokedAtMs.is_null())
            .exec(tx.conn())
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("user.disable", "user", id)
                    .with_detail(serde_json::json!({ "username": target.username })),
            )
            .await?;
        tx.commit().await?;
        self.cache.evict_actor(id);
        Ok(())
    }

    /// Replaces a user's roles, under the grant rule of `createUser` for both
    /// the roles taken away and those given; audited with both lists, and
    /// the cached caller is forgotten so the change applies on the next
    /// request. Needs `user:manage` over the user's unit.
    pub async fn set_user_roles(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
        roles: Vec<String>,
    ) -> Result<Vec<String>, ApiError> {
        who.require(Permission::UserManage)?;
        let mut names = roles;
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Err(ApiError::bad_input(
                "roles",
                "a user needs at least one role",
            ));
        }
        let tx = self.db.write(who.tenant).await?;
        let target = tx
            .select::<user::Entity>()
            .filter(user::Column::Id.eq(id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        self.tenancy
            .unit_in(&tx, target.org_unit_id)
            .await?
            .filter(|u| shouhu_tenancy::in_scope(who, &u.path))
            .ok_or_else(|| ApiError::not_found("user"))?;
        let before = self.role_names_in(&tx, id).await?;
        let mut role_ids = Vec::new();
        for name in &names {
            let found = tx
                .select::<role::Entity>()
                .filter(role::Column::Name.eq(name.as_str()))
                .one(tx.conn())
                .await?
                .ok_or_else(|| ApiError::bad_input("roles", format!("no role {name}")))?;
            role_ids.push(found.id);
        }
        self.require_assignable(who, &before, "id").await?;
        self.require_assignable(who, &names, "roles").await?;
        tx.delete::<user_role::Entity>(user_role::Column::UserId.eq(id))
            .exec(tx.conn())
            .await?;
        for role_id in role_ids {
            tx.insert(user_role::ActiveModel {
                tenant_id: Set(tx.tenant().as_uuid()),
                user_id: Set(id),
                role_id: Set(role_id),
            })
            .await?;
        }
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("user.set_roles", "user", id)
                    .with_detail(serde_json::json!({ "before": before, "roles": names })),
            )
            .await?;
        tx.commit().await?;
        self.cache.evict_actor(id);
        Ok(names)
    }

    /// Users the caller may see (those of units in the caller's scope).
    pub async fn list_users(
        &self,
        who: &Principal,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<(user::Model, Vec<String>)>, ApiError> {
        who.require(Permission::UserRead)?;
        let tx = self.db.read(who.tenant).await?;
        let mut query = tx
            .select::<user::Entity>()
            .order_by_asc(user::Column::Username)
            .limit(limit);
        if let Some(scope) = who.scope_path() {
            let units = shouhu_tenancy::subtree_ids(who.tenant, scope);
            query = query.filter(user::Column::OrgUnitId.in_subquery(units));
        }
        if let Some(after) = after {
            query = query.filter(user::Column::Username.gt(after));
        }
        let users = query.all(tx.conn()).await?;
        let mut out = Vec::with_capacity(users.len());
        for u in users {
            let roles = self.role_names_in(&tx, u.id).await?;
            out.push((u, roles));
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The caller's own user row, with the org unit.
    pub async fn me(
        &self,
        who: &Principal,
    ) -> Result<Option<(user::Model, Option<org_unit::Model>)>, ApiError> {
        if who.actor_kind != ActorKind::User {
            return Ok(None);
        }
        let tx = self.db.read(who.tenant).await?;
        let found = tx
            .select::<user::Entity>()
            .filter(user::Column::Id.eq(who.actor_id))
            .one(tx.conn())
            .await?;
        let out = match found {
            Some(u) => {
                let unit = self.tenancy.unit_in(&tx, u.org_unit_id).await?;
                Some((u, unit))
            }
            None => None,
        };
        tx.commit().await?;
        Ok(out)
    }

    // ---- roles ---------------------------------------------------------------

    /// The district's roles, with each one's permissions as casbin grants
    /// them.
    pub async fn list_roles(
        &self,
        who: &Principal,
    ) -> Result<Vec<(role::Model, PermissionSet)>, ApiError> {
        who.require(Permission::RoleRead)?;
        let tx = self.db.read(who.tenant).await?;
        let roles = tx
            .select::<role::Entity>()
            .order_by_asc(role::Column::Name)
            .all(tx.conn())
            .await?;
        tx.commit().await?;
        let engine = self.engine.read().await;
        let domain = who.tenant.to_string();
        Ok(roles
            .into_iter()
            .map(|r| {
                let perms = engine.permissions(&domain, std::slice::from_ref(&r.name));
                (r, perms)
            })
            .collect())
    }

    /// Creates a custom role from the permission catalogue; it takes effect
    /// at once, on every server process, with no restart. Needs
    /// `role:manage`.
    pub async fn create_role(
        &self,
        who: &Principal,
        actor: &Actor,
        new: NewRole,
    ) -> Result<(role::Model, PermissionSet), ApiError> {
        // A street's staff would otherwise mint roles for the whole district.
        who.require_district_wide(Permission::RoleManage)?;
        validate_custom_role_name(&new.name).map_err(IdentityError::from)?;
        let label = new.label.trim().to_owned();
        if label.is_empty() || label.chars().count() > 100 {
            return Err(ApiError::bad_input("input.label", "1-100 characters"));
        }
        let mut perms = Vec::new();
        for raw in &new.permissions {
            let p: Permission = raw.parse().map_err(IdentityError::from)?;
            if p.is_platform() {
                return Err(ApiError::bad_input(
                    "input.permissions",
                    format!("{raw} belongs to the platform and cannot be granted in a district"),
                ));
            }
            if !perms.contains(&p) {
                perms.push(p);
            }
        }
        if perms.is_empty() {
            return Err(ApiError::bad_input(
                "input.permissions",
                "a role needs at least one permission",
            ));
        }
        require_held(who, perms.iter().copied(), "input.permissions")?;
        let tx = self.db.write(who.tenant).await?;
        let exists = tx
            .select::<role::Entity>()
            .filter(role::Column::Name.eq(new.name.as_str()))
            .one(tx.conn())
            .await?
            .is_some();
        if exists {
            return Err(ApiError::conflict(
                "input.name",
                format!("the role {} exists in this district", new.name),
            ));
        }
        let id = new_id();
        let created = tx
            .insert(role::ActiveModel {
                tenant_id: Set(who.tenant.as_uuid()),
                id: Set(id),
                name: Set(new.name.clone()),
                label: Set(label),
                builtin: Set(false),
                created_at_ms: Set(self.clock.now_ms()),
            })
            .await?;
        for p in &perms {
            tx.insert(role_permission::ActiveModel {
                tenant_id: Set(who.tenant.as_uuid()),
                role_id: Set(id),
                permission: Set(p.as_str().to_owned()),
            })
            .await?;
        }
        let version = self.tenancy.bump_policy_version(&tx).await?;
        let names: Vec<&str> = perms.iter().map(|p| p.as_str()).collect();
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("role.create", "role", id)
                    .with_detail(serde_json::json!({ "name": new.name, "permissions": names })),
            )
            .await?;
        tx.commit().await?;
        {
            let mut engine = self.engine.write().await;
            engine
                .set_custom_role(&who.tenant.to_string(), &new.name, &perms)
                .await
                .map_err(ApiError::internal)?;
        }
        if let Ok(mut loaded) = self.loaded.lock() {
            // Another process may have bumped the version in between; the
            // next request then reloads, which is harmless.
            loaded.insert(who.tenant, version);
        }
        Ok((created, perms.into_iter().collect()))
    }

    /// Deletes a custom role that no user and no API key holds; built-in
    /// roles stay. Needs `role:manage` district-wide, like creating one.
    pub async fn delete_role(
        &self,
        who: &Principal,
        actor: &Actor,
        name: &str,
    ) -> Result<(), ApiError> {
        who.require_district_wide(Permission::RoleManage)?;
        if is_builtin_role_name(name) {
            return Err(ApiError::bad_input(
                "name",
                "built-in roles cannot be deleted",
            ));
        }
        let tx = self.db.write(who.tenant).await?;
        let found = tx
            .select::<role::Entity>()
            .filter(role::Column::Name.eq(name))
            .filter(role::Column::Builtin.eq(false))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("role"))?;
        let users = tx
            .select::<user_role::Entity>()
            .filter(user_role::Column::RoleId.eq(found.id))
            .one(tx.conn())
            .await?;
        // A revoked key still names its role; only live keys hold it.
        let keys = tx
            .select::<api_key::Entity>()
            .filter(api_key::Column::RoleId.eq(found.id))
            .filter(api_key::Column::RevokedAtMs.is_null())
            .one(tx.conn())
            .await?;
        if users.is_some() || keys.is_some() {
            return Err(ApiError::conflict(
                "name",
                format!("the role {name} is still assigned"),
            ));
        }
        tx.delete::<role_permission::Entity>(role_permission::Column::RoleId.eq(found.id))
            .exec(tx.conn())
            .await?;
        tx.delete::<role::Entity>(role::Column::Id.eq(found.id))
            .exec(tx.conn())
            .await?;
        let version = self.tenancy.bump_policy_version(&tx).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("role.delete", "role", found.id)
                    .with_detail(serde_json::json!({ "name": name })),
            )
            .await?;
        tx.commit().await?;
        self.engine
            .write()
            .await
            .remove_custom_role(&who.tenant.to_string(), name)
            .await
            .map_err(ApiError::internal)?;
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(who.tenant, version);
        }
        Ok(())
    }

    // ---- API keys ------------------------------------------------------------

    /// Creates an API key; the returned secret is shown this once and
    /// stored only as a hash. Needs `apikey:manage`.
    pub async fn create_api_key(
        &self,
        who: &Principal,
        actor: &Actor,
        new: NewApiKey,
    ) -> Result<(api_key::Model, String), ApiError> {
        who.require_district_wide(Permission::ApikeyManage)?;
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::bad_input("input.name", "1-100 characters"));
        }
        let now = self.clock.now_ms();
        if new.expires_at_ms.is_some_and(|e| e <= now) {
            return Err(ApiError::bad_input(
                "input.expiresAt",
                "must lie in the future",
            ));
        }
        let tx = self.db.write(who.tenant).await?;
        let role = tx
            .select::<role::Entity>()
            .filter(role::Column::Name.eq(new.role.as_str()))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::bad_input("input.role", format!("no role {}", new.role)))?;
        self.require_assignable(who, std::slice::from_ref(&role.name), "input.role")
            .await?;
        let unit = match new.org_unit_id {
            Some(id) => self.tenancy.unit_in(&tx, id).await?,
            None => Some(self.tenancy.root_in(&tx).await?),
        }
        .filter(|u| shouhu_tenancy::in_scope(who, &u.path))
        .ok_or_else(|| ApiError::not_found("org unit"))?;
        let id = new_id();
        let secret = token::random_secret(32);
        let created = tx
            .insert(api_key::ActiveModel {
                tenant_id: Set(who.tenant.as_uuid()),
                id: Set(id),
                name: Set(name),
                secret_hash: Set(token::sha256_hex(&secret)),
                role_id: Set(role.id),
                org_unit_id: Set(unit.id),
                created_by: Set(Some(who.actor_id)),
                created_at_ms: Set(now),
                expires_at_ms: Set(new.expires_at_ms),
                revoked_at_ms: Set(None),
            })
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("apikey.create", "api_key", id)
                    .with_detail(serde_json::json!({ "role": role.name })),
            )
            .await?;
        tx.commit().await?;
        let raw = token::format_api_key(who.tenant.as_uuid(), id, &secret);
        Ok((created, raw))
    }

    /// The district's API keys (never their secrets).
    pub async fn list_api_keys(
        &self,
        who: &Principal,
    ) -> Result<Vec<(api_key::Model, String)>, ApiError> {
        who.require_district_wide(Permission::ApikeyManage)?;
        let tx = self.db.read(who.tenant).await?;
        let keys = tx
            .select::<api_key::Entity>()
            .order_by_asc(api_key::Column::CreatedAtMs)
            .all(tx.conn())
            .await?;
        let roles = tx.select::<role::Entity>().all(tx.conn()).await?;
        tx.commit().await?;
        Ok(keys
            .into_iter()
            .map(|k| {
                let role = roles
                    .iter()
                    .find(|r| r.id == k.role_id)
                    .map(|r| r.name.clone())
                    .unwrap_or_default();
                (k, role)
            })
            .collect())
    }

    /// Revokes an API key of the caller's district.
    pub async fn revoke_api_key(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), ApiError> {
        who.require_district_wide(Permission::ApikeyManage)?;
        let tx = self.db.write(who.tenant).await?;
        let done = tx
            .update::<api_key::Entity>()
            .col_expr(
                api_key::Column::RevokedAtMs,
                Expr::value(self.clock.now_ms()),
            )
            .filter(api_key::Column::Id.eq(id))
            .filter(api_key::Column::RevokedAtMs.is_null())
            .exec(tx.conn())
            .await?;
        if done.rows_affected == 0 {
            return Err(ApiError::not_found("API key"));
        }
        self.audit
            .append(&tx, actor, AuditEntry::ok("apikey.revoke", "api_key", id))
            .await?;
        tx.commit().await?;
        self.cache.evict_actor(id);
        Ok(())
    }

    // ---- platform --------------------------------------------------------------

    /// Creates a platform operator (from the CLI).
    pub async fn create_operator(&self, username: &str, password: &str) -> Result<Uuid, ApiError> {
        check_username(username).map_err(ApiError::from)?;
        check_password(password).map_err(ApiError::from)?;
        check_password_guessable(password, username).map_err(ApiError::from)?;
        let hash = password::hash(password.to_owned()).await?;
        let id = new_id();
        let tx = self.db.write(TenantId::PLATFORM).await?;
        let inserted = operator::Entity::insert(operator::ActiveModel {
            id: Set(id),
            username: Set(username.to_owned()),
            password_hash: Set(hash),
            failed_count: Set(0),
            failed_window_start_ms: Set(None),
            locked_until_ms: Set(None),
            created_at_ms: Set(self.clock.now_ms()),
        })
        .exec(tx.conn())
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(ApiError::conflict(
                    "username",
                    format!("the operator {username} exists"),
                ))
            }
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        self.audit
            .append(
                &tx,
                &Actor::system("cli"),
                AuditEntry::ok("operator.create", "operator", id),
            )
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Onboards a district: the tenant, its streets and towns (from the
    /// division files when configured), its built-in roles and, when given,
    /// its first admin; all in one transaction. Needs `tenant:manage`.
    pub async fn onboard(
        &self,
        who: &Principal,
        actor: &Actor,
        input: Onboarding,
        divisions: Option<&DivisionSource>,
    ) -> Result<tenant::Model, ApiError> {
        who.require(Permission::TenantManage)?;
        let new = match divisions {
            Some(source) => {
                let d = source.district(&input.code).map_err(ApiError::from)?;
                NewTenant {
                    slug: input.slug.unwrap_or_else(|| format!("d{}", d.code)),
                    code: d.code,
                    name: input.name.unwrap_or(d.name),
                    province: d.province,
                    city: d.city,
                    streets: d.streets,
                }
            }
            None => {
                shouhu_tenancy::divisions::check_county_code(&input.code)
                    .map_err(ApiError::from)?;
                NewTenant {
                    slug: input.slug.unwrap_or_else(|| format!("d{}", input.code)),
                    name: input
                        .name
                        .ok_or(shouhu_tenancy::TenancyError::NameRequired)
                        .map_err(ApiError::from)?,
                    code: input.code,
                    province: None,
                    city: None,
                    streets: Vec::new(),
                }
            }
        };
        let mut tx = self.db.write(TenantId::PLATFORM).await?;
        let created = self
            .tenancy
            .create_tenant_in(&mut tx, new)
            .await
            .map_err(ApiError::from)?;
        let now = self.clock.now_ms();
        for builtin in BUILTIN_ROLES.iter().filter(|r| !r.platform) {
            tx.insert(role::ActiveModel {
                tenant_id: Set(created.id),
                id: Set(new_id()),
                name: Set(builtin.name.to_owned()),
                label: Set(builtin.label_zh.to_owned()),
                builtin: Set(true),
                created_at_ms: Set(now),
            })
            .await?;
        }
        if let Some((username, display_name, password)) = input.admin {
            self.create_user_in(
                &tx,
                None,
                NewUser {
                    username,
                    display_name,
                    password,
                    org_unit_id: None,
                    roles: vec!["district_admin".into()],
                },
            )
            .await?;
        }
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("tenant.onboard", "tenant", created.id)
                    .with_detail(serde_json::json!({ "code": created.code })),
            )
            .await?;
        tx.switch_tenant(TenantId::PLATFORM).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("tenant.create", "tenant", created.id)
                    .with_detail(serde_json::json!({ "code": created.code, "slug": created.slug })),
            )
            .await?;
        tx.commit().await?;
        self.reload_policies(TenantId(created.id)).await?;
        Ok(created)
    }

    /// Whether `name` is a role of the catalogue's built-ins.
    pub fn is_builtin(name: &str) -> bool {
        is_builtin_role_name(name)
    }

    /// Runs one statement that counts rows of a tenant table *without* a
    /// tenant filter, in a transaction scoped to `tenant`. Only for the
    /// isolation tests that prove row-level security holds on PostgreSQL.
    pub async fn count_users_unfiltered(&self, tenant: TenantId) -> Result<i64, ApiError> {
        let tx = self.db.read(tenant).await?;
        let row = tx
            .conn()
            .query_one(Statement::from_string(
                tx.conn().get_database_backend(),
                "SELECT COUNT(*) AS n FROM users",
            ))
            .await?
            .ok_or_else(|| ApiError::internal("count returned no row"))?;
        let n: i64 = row.try_get("", "n")?;
        tx.commit().await?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_within_the_window_lock() {
        let mut state = (0, None, None);
        let mut now = 1_000_000;
        for _ in 0..4 {
            state = after_failure(state.0, state.1, now);
            assert!(state.2.is_none());
            now += 60_000;
        }
        let locked = after_failure(state.0, state.1, now);
        assert_eq!(locked.2, Some(now + LOCKOUT_MS));
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let mut state = (0, None, None);
        let mut now = 0;
        for _ in 0..4 {
            state = after_failure(state.0, state.1, now);
            now += 60_000;
        }
        // The fifth comes 16 minutes after the first: a new window.
        let state = after_failure(state.0, state.1, 16 * 60_000);
        assert_eq!(state.0, 1);
        assert!(state.2.is_none());
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert!(check_username("changqiao.officer").is_ok());
        assert!(check_username("A").is_err());
        assert!(check_username("张三").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pw").is_ok());
        for bad in [
            "          ",
            "aaaaaaaaaaaa",
            "1234567890",
            "0987654321",
            "8901234567",
            "zhang.wei.01",
        ] {
            assert!(
                check_password_guessable(bad, "zhang.wei.01").is_err(),
                "{bad:?}"
            );
        }
        assert!(check_password_guessable("1234567891", "zhang.wei.01").is_ok());
        assert!(check_password_guessable("a long password", "zhang.wei.01").is_ok());
    }
}
