//! Guardians and households as GraphQL: each change names the minor's
//! version it was made against and says why, like `updateMinor`.

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use shouhu_audit::Actor;
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::{principal, request_ctx};
use shouhu_kernel::ids::parse_id;

use super::{to_object, GuardianInputObject, Minor};
use crate::model::{GuardianSituation, Relationship};
use crate::service::{GuardianInput, GuardianPatch, HouseholdView};
use crate::RegistryService;

/// Siblings living together, in one community or village.
#[derive(SimpleObject)]
pub struct Household {
    pub id: ID,
    pub org_unit_id: ID,
    /// Withheld (null) without `minor:sensitive`.
    pub address: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The members the caller may see, youngest last.
    pub members: Vec<Minor>,
}

/// The fields of a guardian to change; those left out stay as they are.
#[derive(InputObject, Default)]
pub struct GuardianPatchInput {
    pub name: Option<String>,
    pub relationship: Option<Relationship>,
    /// An empty string clears the phone.
    pub phone: Option<String>,
    pub situation: Option<GuardianSituation>,
}

fn household_object(view: HouseholdView, service: &RegistryService, open: bool) -> Household {
    let today = service.today();
    Household {
        id: ID(view.row.id.to_string()),
        org_unit_id: ID(view.row.org_unit_id.to_string()),
        address: if open { view.row.address } else { None },
        created_at: ms_to_datetime(view.row.created_at_ms),
        members: view
            .members
            .into_iter()
            .map(|m| to_object(m, today))
            .collect(),
    }
}

#[derive(Default)]
pub struct HouseholdQuery;

#[Object]
impl HouseholdQuery {
    /// A household and those of its members the caller may see. Needs
    /// `minor:read`; NOT_FOUND outside the caller's scope.
    async fn household(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Household> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let id = parse_id(&id, "household")?;
        let view = service
            .household(who, &Actor::of(who, &rc.request_id), id)
            .await?;
        let open = who.has(shouhu_policies::Permission::MinorSensitive);
        Ok(household_object(view, service, open))
    }
}

#[derive(Default)]
pub struct HouseholdMutation;

#[Object]
impl HouseholdMutation {
    /// Adds a guardian to a minor. `version` is the minor's, as read.
    async fn add_guardian(
        &self,
        ctx: &Context<'_>,
        minor_id: ID,
        version: i64,
        guardian: GuardianInputObject,
        reason: String,
    ) -> async_graphql::Result<Minor> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let minor_id = parse_id(&minor_id, "minor")?;
        let input = GuardianInput {
            name: guardian.name,
            relationship: guardian.relationship,
            phone: guardian.phone,
            situation: guardian.situation,
        };
        let view = service
            .add_guardian(
                who,
                &Actor::of(who, &rc.request_id),
                minor_id,
                version,
                input,
                &reason,
            )
            .await?;
        Ok(to_object(view, service.today()))
    }

    /// Changes a guardian of a minor (situation, phone…). `version` is the
    /// minor's, as read.
    async fn update_guardian(
        &self,
        ctx: &Context<'_>,
        minor_id: ID,
        guardian_id: ID,
        version: i64,
        patch: GuardianPatchInput,
        reason: String,
    ) -> async_graphql::Result<Minor> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let minor_id = parse_id(&minor_id, "minor")?;
        let guardian_id = parse_id(&guardian_id, "guardian")?;
        let patch = GuardianPatch {
            name: patch.name,
            relationship: patch.relationship,
            phone: patch.phone,
            situation: patch.situation,
        };
        let view = service
            .update_guardian(
                who,
                &Actor::of(who, &rc.request_id),
                minor_id,
                guardian_id,
                version,
                patch,
                &reason,
            )
            .await?;
        Ok(to_object(view, service.today()))
    }

    /// Removes a guardian from a minor; the history keeps who it was.
    async fn remove_guardian(
        &self,
        ctx: &Context<'_>,
        minor_id: ID,
        guardian_id: ID,
        version: i64,
        reason: String,
    ) -> async_graphql::Result<Minor> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let minor_id = parse_id(&minor_id, "minor")?;
        let guardian_id = parse_id(&guardian_id, "guardian")?;
        let view = service
            .remove_guardian(
                who,
                &Actor::of(who, &rc.request_id),
                minor_id,
                guardian_id,
                version,
                &reason,
            )
            .await?;
        Ok(to_object(view, service.today()))
    }

    /// Opens a household in a community or village. Needs `minor:write`.
    async fn create_household(
        &self,
        ctx: &Context<'_>,
        org_unit_id: ID,
        address: Option<String>,
    ) -> async_graphql::Result<Household> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let unit = parse_id(&org_unit_id, "org unit")?;
        let view = service
            .create_household(who, &Actor::of(who, &rc.request_id), unit, address)
            .await?;
        let open = who.has(shouhu_policies::Permission::MinorSensitive);
        Ok(household_object(view, service, open))
    }

    /// Puts a minor into a household, or takes it out with
    /// `householdId: null`. `version` is the minor's, as read.
    async fn set_household(
        &self,
        ctx: &Context<'_>,
        minor_id: ID,
        version: i64,
        household_id: Option<ID>,
        reason: String,
    ) -> async_graphql::Result<Minor> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<RegistryService>()?;
        let minor_id = parse_id(&minor_id, "minor")?;
        let household = household_id
            .map(|h| parse_id(&h, "household"))
            .transpose()?;
        let view = service
            .set_household(
                who,
                &Actor::of(who, &rc.request_id),
                minor_id,
                version,
                household,
                &reason,
            )
            .await?;
        Ok(to_object(view, service.today()))
    }
}
