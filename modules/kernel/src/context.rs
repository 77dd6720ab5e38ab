//! Who is calling. A [`Principal`] is built only from a verified token or API
//! key (never from a header the caller controls) and is passed to every
//! service call; services decide with it, resolvers only forward it.

use std::sync::Arc;

use shouhu_policies::{Permission, PermissionSet};
use uuid::Uuid;

use crate::{ApiError, TenantId};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ActorKind {
    User,
    ApiKey,
    Operator,
    /// The server itself (the CLI, onboarding, the demo).
    System,
    Anonymous,
    /// A plugin's input query, run as the role a district admin granted it.
    Plugin,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "api_key",
            ActorKind::Operator => "operator",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
            ActorKind::Plugin => "plugin",
        }
    }
}

/// An authenticated caller in one tenant (or the platform scope).
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant: TenantId,
    pub actor_kind: ActorKind,
    pub actor_id: Uuid,
    /// The org unit the caller belongs to, and its materialised path: the
    /// subtree under it is what the caller may see.
    pub org_unit_id: Option<Uuid>,
    pub org_unit_path: Option<String>,
    pub roles: Vec<String>,
    pub permissions: PermissionSet,
    /// The sign-in session, for sign-out.
    pub session_id: Option<Uuid>,
}

impl Principal {
    /// The server acting on its own behalf in one tenant, with every
    /// permission: for the CLI and onboarding, never for a request.
    pub fn system(tenant: TenantId) -> Self {
        Principal {
            tenant,
            actor_kind: ActorKind::System,
            actor_id: Uuid::nil(),
            org_unit_id: None,
            org_unit_path: None,
            roles: vec!["system".into()],
            permissions: Permission::ALL.iter().copied().collect(),
            session_id: None,
        }
    }

    pub fn has(&self, perm: Permission) -> bool {
        self.permissions.contains(perm)
    }

    /// Refuses with FORBIDDEN, naming the missing permission.
    pub fn require(&self, perm: Permission) -> Result<(), ApiError> {
        if self.has(perm) {
            Ok(())
        } else {
            Err(ApiError::forbidden(perm.as_str()))
        }
    }

    /// The path prefix that bounds what the caller sees. A caller without an
    /// org unit (an API key of the whole district, the system) sees the
    /// whole tenant; `None` means "no bound".
    pub fn scope_path(&self) -> Option<&str> {
        self.org_unit_path.as_deref()
    }

    /// Whether the caller's scope is the whole district (their unit is the
    /// district itself, `/320506/`, or they have no unit bound).
    pub fn is_district_wide(&self) -> bool {
        self.scope_path()
            .is_none_or(|path| path.matches('/').count() <= 2)
    }

    /// Refuses callers whose scope is narrower than the district, for
    /// records that belong to the district as a whole (its audit log, its
    /// API keys).
    pub fn require_district_wide(&self, perm: Permission) -> Result<(), ApiError> {
        self.require(perm)?;
        if self.is_district_wide() {
            Ok(())
        } else {
            Err(ApiError {
                permission: Some(perm.as_str()),
                ..ApiError::new(
                    crate::ErrorCode::Forbidden,
                    format!("{} is only for staff of the whole district", perm.as_str()),
                )
            })
        }
    }

    pub fn is_operator(&self) -> bool {
        self.actor_kind == ActorKind::Operator
    }
}

/// What the HTTP layer hands to GraphQL for one request.
#[derive(Clone, Debug)]
pub struct RequestCtx {
    pub request_id: String,
    pub principal: Option<Arc<Principal>>,
    /// Set when the caller presented credentials that did not verify, so
    /// that the error says so instead of a generic "sign in first".
    pub auth_error: Option<ApiError>,
}

impl RequestCtx {
    pub fn anonymous(request_id: impl Into<String>) -> Self {
        RequestCtx {
            request_id: request_id.into(),
            principal: None,
            auth_error: None,
        }
    }

    /// The caller, or UNAUTHENTICATED.
    pub fn principal(&self) -> Result<&Arc<Principal>, ApiError> {
        match (&self.principal, &self.auth_error) {
            (Some(p), _) => Ok(p),
            (None, Some(err)) => Err(err.clone()),
            (None, None) => Err(ApiError::unauthenticated("sign in first")),
        }
    }
}

/// Reads the request context from a GraphQL resolver's context.
pub fn request_ctx<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a RequestCtx, ApiError> {
    ctx.data::<RequestCtx>()
        .map_err(|_| ApiError::internal("request context missing"))
}

/// Reads the authenticated caller from a GraphQL resolver's context.
pub fn principal<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Arc<Principal>, ApiError> {
    request_ctx(ctx)?.principal()
}

/// The client's network address as the HTTP layer saw it, handed to
/// GraphQL as request data for per-address limits (the public report form).
/// It identifies no one and is never logged with personal data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub String);
