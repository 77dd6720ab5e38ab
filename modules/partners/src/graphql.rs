//! The caring-family pool, matching and placement as GraphQL. Resolvers
//! parse ids and paging arguments and forward the caller to the service,
//! which decides; the nested fields (a family's vetting history, a
//! placement's family) call the service again, so each is authorised and
//! scoped on its own path.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, NaiveDate, Utc};
use shouhu_audit::Actor;
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::principal;
use shouhu_kernel::ids::parse_id;
use shouhu_kernel::paging::{decode_cursor, encode_cursor, page_size};
use shouhu_kernel::ApiError;
use uuid::Uuid;

use crate::entity::{caring_family, family_placement, family_vetting};
use crate::model::{split_codes, FamilySex, VettingStatus};
use crate::service::{FamilyFilter, FamilyInput, FamilyPatch, MatchOutcome, RankedFamily};
use crate::PartnersService;

fn uuid_of(raw: &ID, what: &str) -> Result<Uuid, ApiError> {
    parse_id(raw, what)
}

/// A household of the reserve pool. Its name, address and phone are
/// personal data: only callers with `family:read` whose scope holds the
/// family's unit reach it at all.
pub struct CaringFamily(pub caring_family::Model);

#[Object]
impl CaringFamily {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The household's display name (usually the contact person).
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn org_unit_id(&self) -> ID {
        ID(self.0.org_unit_id.to_string())
    }
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    /// How many children the family can take at once.
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }
    async fn age_min(&self) -> i32 {
        self.0.age_min
    }
    async fn age_max(&self) -> i32 {
        self.0.age_max
    }
    async fn sexes(&self) -> Vec<FamilySex> {
        split_codes(&self.0.sexes)
            .iter()
            .filter_map(|s| FamilySex::parse(s))
            .collect()
    }
    async fn skills(&self) -> Vec<String> {
        split_codes(&self.0.skills)
    }
    async fn languages(&self) -> Vec<String> {
        split_codes(&self.0.languages)
    }
    async fn vetting_status(&self) -> Option<VettingStatus> {
        VettingStatus::parse(&self.0.vetting_status)
    }
    /// The vetting status in Chinese (已申请, 已审查…).
    async fn vetting_status_label(&self) -> Option<&'static str> {
        VettingStatus::parse(&self.0.vetting_status).map(VettingStatus::label_zh)
    }
    async fn available(&self) -> bool {
        self.0.available
    }
    /// Give it back to `updateCaringFamily`; a stale one is a CONFLICT.
    async fn version(&self) -> i64 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        ms_to_datetime(self.0.created_at_ms)
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        ms_to_datetime(self.0.updated_at_ms)
    }
    /// Every change of vetting status, oldest first.
    async fn vetting_history(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<VettingChange>> {
        let who = principal(ctx)?;
        let rows = ctx
            .data::<PartnersService>()?
            .vetting_history(who, self.0.id)
            .await?;
        Ok(rows.into_iter().map(VettingChange::from).collect())
    }
}

/// One change of a family's vetting status.
#[derive(SimpleObject)]
pub struct VettingChange {
    /// None for the status the family was registered with.
    pub before: Option<VettingStatus>,
    pub after: Option<VettingStatus>,
    pub actor_kind: String,
    pub actor_id: ID,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl From<family_vetting::Model> for VettingChange {
    fn from(r: family_vetting::Model) -> Self {
        VettingChange {
            before: r.before_status.as_deref().and_then(VettingStatus::parse),
            after: VettingStatus::parse(&r.after_status),
            actor_kind: r.actor_kind,
            actor_id: ID(r.actor_id.to_string()),
            reason: r.reason,
            at: ms_to_datetime(r.at_ms),
        }
    }
}

/// The plugin that produced a match.
#[derive(SimpleObject)]
pub struct MatchPlugin {
    pub slug: String,
    pub version: String,
}

/// One family of a match.
#[derive(SimpleObject)]
pub struct RankedCaringFamily {
    pub family: CaringFamily,
    /// The family's place in the plugin's answer, from 1.
    pub rank: i32,
    /// 0-100, higher is a better fit.
    pub score: f64,
    pub explanation: String,
}

impl From<RankedFamily> for RankedCaringFamily {
    fn from(r: RankedFamily) -> Self {
        RankedCaringFamily {
            family: CaringFamily(r.family),
            rank: r.rank,
            score: r.score,
            explanation: r.explanation,
        }
    }
}

/// The answer of `matchFamilies`: the call to quote to `placeWithFamily`,
/// the plugin that answered, and the ranking, best first.
#[derive(SimpleObject)]
pub struct MatchResult {
    pub call_id: ID,
    pub plugin: MatchPlugin,
    pub ranking: Vec<RankedCaringFamily>,
}

impl From<MatchOutcome> for MatchResult {
    fn from(m: MatchOutcome) -> Self {
        MatchResult {
            call_id: ID(m.call_id.to_string()),
            plugin: MatchPlugin {
                slug: m.plugin_slug,
                version: m.plugin_version,
            },
            ranking: m.ranking.into_iter().map(Into::into).collect(),
        }
    }
}

/// A child of a case placed with a caring family.
pub struct FamilyPlacement(pub family_placement::Model);

#[Object]
impl FamilyPlacement {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn case_id(&self) -> ID {
        ID(self.0.case_id.to_string())
    }
    async fn family_id(&self) -> ID {
        ID(self.0.family_id.to_string())
    }
    /// The family, when the caller's scope holds it (NOT_FOUND otherwise).
    async fn family(&self, ctx: &Context<'_>) -> async_graphql::Result<CaringFamily> {
        let who = principal(ctx)?;
        Ok(CaringFamily(
            ctx.data::<PartnersService>()?
                .family(who, self.0.family_id)
                .await?,
        ))
    }
    /// The casework placement this stands for (`Case.placements`).
    async fn placement_id(&self) -> ID {
        ID(self.0.placement_id.to_string())
    }
    /// The plugin call whose ranking the family was chosen from.
    async fn call_id(&self) -> Option<ID> {
        self.0.call_id.map(|c| ID(c.to_string()))
    }
    async fn rank(&self) -> i32 {
        self.0.match_rank
    }
    async fn score(&self) -> f64 {
        self.0.score
    }
    async fn explanation(&self) -> &str {
        &self.0.explanation
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn chosen_by(&self) -> ID {
        ID(self.0.chosen_by.to_string())
    }
    async fn at(&self) -> DateTime<Utc> {
        ms_to_datetime(self.0.at_ms)
    }
}

/// A family as entered. Sexes are `male`/`female` (or 男/女); skills and
/// languages are short codes of a-z, 0-9, `_` and `-` (`first_aid`,
/// `zh-wuu`).
#[derive(InputObject)]
pub struct CreateCaringFamilyInput {
    pub name: String,
    pub org_unit_id: ID,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub capacity: i32,
    pub age_min: i32,
    pub age_max: i32,
    pub sexes: Vec<String>,
    #[graphql(default)]
    pub skills: Vec<String>,
    #[graphql(default)]
    pub languages: Vec<String>,
    #[graphql(default = true)]
    pub available: bool,
}

/// A change to a family; what is left out stays. An empty address or phone
/// clears it.
#[derive(InputObject)]
pub struct UpdateCaringFamilyInput {
    /// The version the caller read.
    pub version: i64,
    pub name: Option<String>,
    pub org_unit_id: Option<ID>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub capacity: Option<i32>,
    pub age_min: Option<i32>,
    pub age_max: Option<i32>,
    pub sexes: Option<Vec<String>>,
    pub skills: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub available: Option<bool>,
}

#[derive(InputObject, Default)]
pub struct CaringFamilyFilter {
    pub status: Option<VettingStatus>,
    pub available: Option<bool>,
    /// Families under this unit (its whole subtree).
    pub org_unit_id: Option<ID>,
}

#[derive(Default)]
pub struct PartnersQuery;

#[Object]
impl PartnersQuery {
    /// The caring families in the caller's scope, oldest first. Needs
    /// `family:read`.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn caring_families(
        &self,
        ctx: &Context<'_>,
        filter: Option<CaringFamilyFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, CaringFamily, EmptyFields, EmptyFields>> {
        let who = principal(ctx)?;
        let limit = page_size(first)?;
        let filter = filter.unwrap_or_default();
        let filter = FamilyFilter {
            status: filter.status,
            available: filter.available,
            org_unit_id: filter
                .org_unit_id
                .as_ref()
                .map(|u| uuid_of(u, "org unit"))
                .transpose()?,
        };
        let after = after
            .map(|c| {
                Uuid::parse_str(&decode_cursor(&c)?)
                    .map_err(|_| ApiError::bad_input("after", "not a cursor of this list"))
            })
            .transpose()?;
        let mut rows = ctx
            .data::<PartnersService>()?
            .families(who, &filter, after, limit + 1)
            .await?;
        let has_next = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let mut conn = Connection::new(after.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(encode_cursor(&r.id.to_string()), CaringFamily(r))),
        );
        Ok(conn)
    }

    /// One family. Needs `family:read`.
    async fn caring_family(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CaringFamily> {
        let who = principal(ctx)?;
        let id = uuid_of(&id, "caring family")?;
        Ok(CaringFamily(
            ctx.data::<PartnersService>()?.family(who, id).await?,
        ))
    }

    /// The caring-family placements of a case, oldest first. Needs
    /// `case:read` on the case and `family:read`.
    async fn family_placements(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
    ) -> async_graphql::Result<Vec<FamilyPlacement>> {
        let who = principal(ctx)?;
        let case_id = uuid_of(&case_id, "case")?;
        let rows = ctx
            .data::<PartnersService>()?
            .family_placements(who, case_id)
            .await?;
        Ok(rows.into_iter().map(FamilyPlacement).collect())
    }
}

#[derive(Default)]
pub struct PartnersMutation;

#[Object]
impl PartnersMutation {
    /// Registers a family in the reserve pool, as `APPLIED`. Needs
    /// `family:manage`.
    async fn create_caring_family(
        &self,
        ctx: &Context<'_>,
        input: CreateCaringFamilyInput,
    ) -> async_graphql::Result<CaringFamily> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let input = FamilyInput {
            name: input.name,
            org_unit_id: uuid_of(&input.org_unit_id, "org unit")?,
            address: input.address,
            phone: input.phone,
            capacity: input.capacity,
            age_min: input.age_min,
            age_max: input.age_max,
            sexes: input.sexes,
            skills: input.skills,
            languages: input.languages,
            available: input.available,
        };
        Ok(CaringFamily(
            ctx.data::<PartnersService>()?
                .create_family(who, &actor, input)
                .await?,
        ))
    }

    /// Changes a family at the version the caller read. Needs
    /// `family:manage`.
    async fn update_caring_family(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCaringFamilyInput,
    ) -> async_graphql::Result<CaringFamily> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = uuid_of(&id, "caring family")?;
        let patch = FamilyPatch {
            version: input.version,
            name: input.name,
            org_unit_id: input
                .org_unit_id
                .as_ref()
                .map(|u| uuid_of(u, "org unit"))
                .transpose()?,
            address: input.address,
            phone: input.phone,
            capacity: input.capacity,
            age_min: input.age_min,
            age_max: input.age_max,
            sexes: input.sexes,
            skills: input.skills,
            languages: input.languages,
            available: input.available,
        };
        Ok(CaringFamily(
            ctx.data::<PartnersService>()?
                .update_family(who, &actor, id, patch)
                .await?,
        ))
    }

    /// Moves a family through vetting: applied → vetted → trained →
    /// approved; any status → suspended with a reason; suspended → approved
    /// with a reason. Needs `family:manage`.
    async fn set_family_vetting(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: VettingStatus,
        reason: Option<String>,
    ) -> async_graphql::Result<CaringFamily> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let id = uuid_of(&id, "caring family")?;
        Ok(CaringFamily(
            ctx.data::<PartnersService>()?
                .set_vetting(who, &actor, id, status, reason)
                .await?,
        ))
    }

    /// Ranks the approved, available families with room in the caller's
    /// scope for the child of a case, through the district's matching
    /// plugin. A mutation because the call is recorded and audited. Needs
    /// `case:read` on the case and `family:read`.
    #[graphql(complexity = 250)]
    async fn match_families(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        #[graphql(default)] needs: Vec<String>,
        #[graphql(default)] languages: Vec<String>,
    ) -> async_graphql::Result<MatchResult> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = uuid_of(&case_id, "case")?;
        Ok(ctx
            .data::<PartnersService>()?
            .match_families(who, &actor, case_id, &needs, &languages)
            .await?
            .into())
    }

    /// Places the child of a case with a family from a match's ranking
    /// (`callId` from `matchFamilies`). Needs `case:write` on the case and
    /// `family:read`.
    async fn place_with_family(
        &self,
        ctx: &Context<'_>,
        case_id: ID,
        family_id: ID,
        call_id: ID,
        start_date: NaiveDate,
        reason: Option<String>,
    ) -> async_graphql::Result<FamilyPlacement> {
        let who = principal(ctx)?;
        let actor = Actor::of_request(ctx)?;
        let case_id = uuid_of(&case_id, "case")?;
        let family_id = uuid_of(&family_id, "caring family")?;
        let call_id = Uuid::parse_str(call_id.as_str())
            .map_err(|_| ApiError::bad_input("callId", "no match with this id"))?;
        Ok(FamilyPlacement(
            ctx.data::<PartnersService>()?
                .place_with_family(who, &actor, case_id, family_id, call_id, start_date, reason)
                .await?,
        ))
    }
}
