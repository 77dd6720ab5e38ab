//! Sign-in, the caller, users, roles, API keys and districts as GraphQL.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use shouhu_audit::Actor;
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::{principal, request_ctx};
use shouhu_kernel::ids::parse_id;
use shouhu_kernel::paging::{decode_cursor, encode_cursor, page_size};
use shouhu_kernel::ApiError;
use shouhu_policies::{Permission, PermissionSet};
use shouhu_tenancy::{OrgUnitObject, TenancyService, TenantObject};

use crate::entity::{api_key, role, user};
use crate::{IdentityService, NewApiKey, NewRole, NewUser, Onboarding};

#[derive(SimpleObject)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A permission of the catalogue.
#[derive(SimpleObject)]
pub struct PermissionInfo {
    /// `resource:action`, e.g. `minor:read`.
    pub name: String,
    pub label: String,
    pub description: String,
    /// Whether it unlocks personal data (every use is audited).
    pub sensitive: bool,
}

impl From<Permission> for PermissionInfo {
    fn from(p: Permission) -> Self {
        PermissionInfo {
            name: p.as_str().to_owned(),
            label: p.label_zh().to_owned(),
            description: p.description().to_owned(),
            sensitive: p.is_sensitive(),
        }
    }
}

fn names(set: PermissionSet) -> Vec<String> {
    set.iter().map(|p| p.as_str().to_owned()).collect()
}

#[derive(SimpleObject)]
#[graphql(name = "User")]
pub struct UserObject {
    pub id: ID,
    pub username: String,
    pub display_name: String,
    pub org_unit_id: ID,
    pub active: bool,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl UserObject {
    fn new(u: user::Model, roles: Vec<String>) -> Self {
        UserObject {
            id: ID(u.id.to_string()),
            username: u.username,
            display_name: u.display_name,
            org_unit_id: ID(u.org_unit_id.to_string()),
            active: u.active,
            roles,
            created_at: ms_to_datetime(u.created_at_ms),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Role")]
pub struct RoleObject {
    pub id: ID,
    pub name: String,
    pub label: String,
    pub builtin: bool,
    pub permissions: Vec<String>,
}

impl RoleObject {
    fn new(r: role::Model, perms: PermissionSet) -> Self {
        RoleObject {
            id: ID(r.id.to_string()),
            name: r.name,
            label: r.label,
            builtin: r.builtin,
            permissions: names(perms),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "ApiKey")]
pub struct ApiKeyObject {
    pub id: ID,
    pub name: String,
    pub role: String,
    pub org_unit_id: ID,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyObject {
    fn new(k: api_key::Model, role: String) -> Self {
        ApiKeyObject {
            id: ID(k.id.to_string()),
            name: k.name,
            role,
            org_unit_id: ID(k.org_unit_id.to_string()),
            created_at: ms_to_datetime(k.created_at_ms),
            expires_at: k.expires_at_ms.map(ms_to_datetime),
            revoked_at: k.revoked_at_ms.map(ms_to_datetime),
        }
    }
}

#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    pub api_key: ApiKeyObject,
    /// The key itself. It is shown this once; only its hash is kept.
    /// Send as `Authorization: Bearer <key>`.
    pub secret: String,
}

/// The caller.
#[derive(SimpleObject)]
pub struct Me {
    /// "user", "api_key" or "operator".
    pub kind: String,
    pub id: ID,
    pub user: Option<UserObject>,
    /// The district; none for the platform operator.
    pub tenant: Option<TenantObject>,
    pub org_unit: Option<OrgUnitObject>,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
}

#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// Who is calling: user, district, org unit, roles and permissions.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let who = principal(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        let tenancy = ctx.data::<TenancyService>()?;
        let tenant = if who.tenant.is_platform() {
            None
        } else {
            tenancy.tenant(who.tenant).await?.map(TenantObject::from)
        };
        let (user, org_unit) = match identity.me(who).await? {
            Some((u, unit)) => (
                Some(UserObject::new(u, who.roles.clone())),
                unit.map(OrgUnitObject::from),
            ),
            None => (None, None),
        };
        Ok(Me {
            kind: who.actor_kind.as_str().to_owned(),
            id: ID(who.actor_id.to_string()),
            user,
            tenant,
            org_unit,
            roles: who.roles.clone(),
            permissions: names(who.permissions),
        })
    }

    /// The permission catalogue custom roles are made from.
    async fn permission_catalogue(&self) -> Vec<PermissionInfo> {
        Permission::ALL
            .iter()
            .filter(|p| !p.is_platform())
            .map(|p| PermissionInfo::from(*p))
            .collect()
    }

    /// Users of the caller's district within the caller's scope. Needs
    /// `user:read`.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, UserObject, EmptyFields, EmptyFields>> {
        let who = principal(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        let limit = page_size(first)?;
        let after = after.map(|c| decode_cursor(&c)).transpose()?;
        let mut rows = identity
            .list_users(who, after.as_deref(), limit + 1)
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges
            .extend(rows.into_iter().map(|(u, roles)| {
                Edge::new(encode_cursor(&u.username), UserObject::new(u, roles))
            }));
        Ok(conn)
    }

    /// The district's roles and what each grants. Needs `role:read`.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RoleObject>> {
        let who = principal(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        Ok(identity
            .list_roles(who)
            .await?
            .into_iter()
            .map(|(r, p)| RoleObject::new(r, p))
            .collect())
    }

    /// The district's API keys. Needs `apikey:manage`.
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKeyObject>> {
        let who = principal(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        Ok(identity
            .list_api_keys(who)
            .await?
            .into_iter()
            .map(|(k, r)| ApiKeyObject::new(k, r))
            .collect())
    }

    /// Every district. Platform operator only (`tenant:read`).
    async fn tenants(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<TenantObject>> {
        let who = principal(ctx)?;
        let tenancy = ctx.data::<TenancyService>()?;
        Ok(tenancy
            .list_tenants(who)
            .await?
            .into_iter()
            .map(TenantObject::from)
            .collect())
    }
}

#[derive(InputObject)]
pub struct CreateUserInput {
    /// 2-64 characters of a-z, 0-9, '.', '_' and '-'; unique in the
    /// district.
    pub username: String,
    pub display_name: String,
    /// At least 10 characters.
    pub password: String,
    /// The user's org unit; the district itself when omitted.
    pub org_unit_id: Option<ID>,
    /// Role names, e.g. `street_officer`.
    pub roles: Vec<String>,
}

#[derive(InputObject)]
pub struct CreateRoleInput {
    /// `[a-z][a-z0-9_]{1,39}`, not a built-in role's name.
    pub name: String,
    pub label: String,
    /// Permission names from `permissionCatalogue`.
    pub permissions: Vec<String>,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub name: String,
    /// The role the key acts with.
    pub role: String,
    /// The org unit that bounds what the key sees; the district when
    /// omitted.
    pub org_unit_id: Option<ID>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct TenantAdminInput {
    pub username: String,
    pub display_name: String,
    pub password: String,
}

#[derive(InputObject)]
pub struct CreateTenantInput {
    /// The district's 6-digit statistical division code.
    pub code: String,
    /// The name users sign in with; `d<code>` when omitted.
    pub slug: Option<String>,
    /// Required when the server has no division files.
    pub name: Option<String>,
    /// The first district admin.
    pub admin: Option<TenantAdminInput>,
}

#[derive(Default)]
pub struct IdentityMutation;

fn optional_id(id: Option<ID>, what: &str) -> Result<Option<uuid::Uuid>, ApiError> {
    id.map(|id| parse_id(&id, what)).transpose()
}

#[Object]
impl IdentityMutation {
    /// Signs in. `tenant` is the district's slug (`platform` for platform
    /// operators). Five failures within 15 minutes lock the account for 15
    /// minutes.
    async fn login(
        &self,
        ctx: &Context<'_>,
        tenant: String,
        username: String,
        password: String,
    ) -> async_graphql::Result<LoginPayload> {
        let rc = request_ctx(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        let out = identity
            .login(&tenant, &username, &password, &rc.request_id)
            .await?;
        Ok(LoginPayload {
            token: out.token,
            expires_at: ms_to_datetime(out.expires_at_ms),
        })
    }

    /// Signs out: the token stops working at once.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        ctx.data::<IdentityService>()?
            .logout(who, &rc.request_id)
            .await?;
        Ok(true)
    }

    /// Creates a user. Needs `user:manage`.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> async_graphql::Result<UserObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        let roles = input.roles.clone();
        let created = identity
            .create_user(
                who,
                &Actor::of(who, &rc.request_id),
                NewUser {
                    username: input.username,
                    display_name: input.display_name,
                    password: input.password,
                    org_unit_id: optional_id(input.org_unit_id, "org unit")?,
                    roles: input.roles,
                },
            )
            .await?;
        Ok(UserObject::new(created, roles))
    }

    /// Creates a custom role from the permission catalogue; it takes effect
    /// at once. Needs `role:manage`.
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        input: CreateRoleInput,
    ) -> async_graphql::Result<RoleObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        let (r, perms) = identity
            .create_role(
                who,
                &Actor::of(who, &rc.request_id),
                NewRole {
                    name: input.name,
                    label: input.label,
                    permissions: input.permissions,
                },
            )
            .await?;
        Ok(RoleObject::new(r, perms))
    }

    /// Creates an API key for a service account or partner system. The
    /// secret is returned once. Needs `apikey:manage`.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<CreateApiKeyPayload> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        let role = input.role.clone();
        let (key, secret) = identity
            .create_api_key(
                who,
                &Actor::of(who, &rc.request_id),
                NewApiKey {
                    name: input.name,
                    role: input.role,
                    org_unit_id: optional_id(input.org_unit_id, "org unit")?,
                    expires_at_ms: input.expires_at.map(|t| t.timestamp_millis()),
                },
            )
            .await?;
        Ok(CreateApiKeyPayload {
            api_key: ApiKeyObject::new(key, role),
            secret,
        })
    }

    /// Revokes an API key. Needs `apikey:manage`.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let id = parse_id(&id, "API key")?;
        ctx.data::<IdentityService>()?
            .revoke_api_key(who, &Actor::of(who, &rc.request_id), id)
            .await?;
        Ok(true)
    }

    /// Disables a user: sign-in is refused and their sessions end at once.
    /// Needs `user:manage` over the user's unit.
    async fn disable_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let id = parse_id(&id, "user")?;
        ctx.data::<IdentityService>()?
            .disable_user(who, &Actor::of(who, &rc.request_id), id)
            .await?;
        Ok(true)
    }

    /// Replaces a user's roles, under the same grant rule as `createUser`.
    /// Returns the roles now held.
    async fn set_user_roles(
        &self,
        ctx: &Context<'_>,
        id: ID,
        roles: Vec<String>,
    ) -> async_graphql::Result<Vec<String>> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let id = parse_id(&id, "user")?;
        Ok(ctx
            .data::<IdentityService>()?
            .set_user_roles(who, &Actor::of(who, &rc.request_id), id, roles)
            .await?)
    }

    /// Deletes a custom role no one holds (CONFLICT while assigned).
    /// Needs `role:manage` district-wide.
    async fn delete_role(&self, ctx: &Context<'_>, name: String) -> async_graphql::Result<bool> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        ctx.data::<IdentityService>()?
            .delete_role(who, &Actor::of(who, &rc.request_id), &name)
            .await?;
        Ok(true)
    }

    /// Onboards a district. Platform operator only (`tenant:manage`).
    async fn create_tenant(
        &self,
        ctx: &Context<'_>,
        input: CreateTenantInput,
    ) -> async_graphql::Result<TenantObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let identity = ctx.data::<IdentityService>()?;
        let divisions = identity.divisions();
        let created = identity
            .onboard(
                who,
                &Actor::of(who, &rc.request_id),
                Onboarding {
                    code: input.code,
                    slug: input.slug,
                    name: input.name,
                    admin: input
                        .admin
                        .map(|a| (a.username, a.display_name, a.password)),
                },
                divisions.as_ref(),
            )
            .await?;
        Ok(created.into())
    }
}
