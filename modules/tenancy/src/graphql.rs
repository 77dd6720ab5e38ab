//! The org-unit tree and districts as GraphQL.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use shouhu_audit::Actor;
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::{principal, request_ctx};
use shouhu_kernel::ids::parse_id;
use shouhu_kernel::paging::{decode_cursor, encode_cursor, page_size};

use crate::entity::{org_unit, tenant};
use crate::{NewOrgUnit, OrgUnitKind, TenancyService};

/// A unit of a district's tree.
#[derive(SimpleObject, Clone)]
#[graphql(name = "OrgUnit", complex)]
pub struct OrgUnitObject {
    pub id: ID,
    pub code: String,
    pub name: String,
    pub kind: OrgUnitKind,
    /// The materialised path of codes from the district down to this unit.
    pub path: String,
    pub depth: i32,
    #[graphql(skip)]
    pub parent_id: Option<uuid::Uuid>,
}

#[ComplexObject]
impl OrgUnitObject {
    /// The kind's Chinese display label.
    async fn kind_label(&self) -> &'static str {
        self.kind.label_zh()
    }

    /// The parent unit, when the caller may see it.
    async fn parent(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<OrgUnitObject>> {
        let Some(parent) = self.parent_id else {
            return Ok(None);
        };
        let who = principal(ctx)?;
        let service = ctx.data::<TenancyService>()?;
        match service.org_unit(who, parent).await {
            Ok(unit) => Ok(Some(unit.into())),
            Err(e) if e.code == shouhu_kernel::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl From<org_unit::Model> for OrgUnitObject {
    fn from(m: org_unit::Model) -> Self {
        OrgUnitObject {
            id: ID(m.id.to_string()),
            code: m.code,
            name: m.name,
            kind: OrgUnitKind::parse(&m.kind).unwrap_or(OrgUnitKind::Other),
            path: m.path,
            depth: m.depth,
            parent_id: m.parent_id,
        }
    }
}

/// A district (tenant), as the platform operator and its own users see it.
#[derive(SimpleObject, Clone)]
#[graphql(name = "Tenant")]
pub struct TenantObject {
    pub id: ID,
    pub code: String,
    pub slug: String,
    pub name: String,
    pub province: Option<String>,
    pub city: Option<String>,
    pub time_zone: String,
    pub created_at: DateTime<Utc>,
}

impl From<tenant::Model> for TenantObject {
    fn from(m: tenant::Model) -> Self {
        TenantObject {
            id: ID(m.id.to_string()),
            code: m.code,
            slug: m.slug,
            name: m.name,
            province: m.province,
            city: m.city,
            time_zone: m.time_zone,
            created_at: ms_to_datetime(m.created_at_ms),
        }
    }
}

#[derive(Default)]
pub struct TenancyQuery;

#[Object]
impl TenancyQuery {
    /// The org units the caller may see (their own unit's subtree), in path
    /// order; `under` narrows to one unit's subtree.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn org_units(
        &self,
        ctx: &Context<'_>,
        under: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, OrgUnitObject, EmptyFields, EmptyFields>> {
        let who = principal(ctx)?;
        let service = ctx.data::<TenancyService>()?;
        let limit = page_size(first)?;
        let under = match under {
            Some(id) => Some(parse_id(&id, "org unit")?),
            None => None,
        };
        let after = match after {
            Some(c) => Some(decode_cursor(&c)?),
            None => None,
        };
        let mut rows = service
            .list_org_units(who, under, after.as_deref(), limit + 1)
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|u| Edge::new(encode_cursor(&u.path), u.into())),
        );
        Ok(conn)
    }

    /// One org unit, if the caller may see it.
    async fn org_unit(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<OrgUnitObject> {
        let who = principal(ctx)?;
        let service = ctx.data::<TenancyService>()?;
        let id = parse_id(&id, "org unit")?;
        Ok(service.org_unit(who, id).await?.into())
    }
}

#[derive(InputObject)]
pub struct CreateOrgUnitInput {
    pub parent_id: ID,
    /// The unit's code, unique in the district (for communities and
    /// villages, their 12-digit statistical code).
    pub code: String,
    pub name: String,
    /// Guessed from the name when omitted (…村 is a village).
    pub kind: Option<OrgUnitKind>,
}

#[derive(Default)]
pub struct TenancyMutation;

#[Object]
impl TenancyMutation {
    /// Adds a street under the district, or a community or village under a
    /// street or town. Needs `orgunit:manage`.
    async fn create_org_unit(
        &self,
        ctx: &Context<'_>,
        input: CreateOrgUnitInput,
    ) -> async_graphql::Result<OrgUnitObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<TenancyService>()?;
        let parent_id = parse_id(&input.parent_id, "parent org unit")?;
        let unit = service
            .create_org_unit(
                who,
                &Actor::of(who, &rc.request_id),
                NewOrgUnit {
                    parent_id,
                    code: input.code,
                    name: input.name,
                    kind: input.kind,
                },
            )
            .await?;
        Ok(unit.into())
    }
}
