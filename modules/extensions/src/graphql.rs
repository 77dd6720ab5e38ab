//! Plugins as GraphQL: a district admin (or plugin developer) uploads a
//! version with a multipart request (`module` and `manifest` files),
//! dry-runs it, and an admin activates, rolls back and disables. Resolvers
//! parse ids and forward the caller; the service decides.

use std::io::Read;

use async_graphql::{Context, Json, Object, SimpleObject, Upload, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;
use shouhu_audit::Actor;
use shouhu_kernel::clock::ms_to_datetime;
use shouhu_kernel::context::{principal, request_ctx};
use shouhu_kernel::ids::parse_id;
use shouhu_kernel::ApiError;
use shouhu_plugins::manifest::MAX_MANIFEST_BYTES as MAX_MANIFEST;

use crate::entity::plugin_call;
use crate::service::{CallRecord, ExtensionService, PluginView, VersionView};

#[derive(SimpleObject)]
#[graphql(name = "PluginVersion")]
pub struct VersionObject {
    pub id: ID,
    pub plugin_id: ID,
    pub version: String,
    pub sha256: String,
    pub size_bytes: i64,
    /// The manifest as uploaded (TOML or JSON).
    pub manifest: String,
    pub uploaded_at: DateTime<Utc>,
}

impl From<VersionView> for VersionObject {
    fn from(v: VersionView) -> Self {
        VersionObject {
            id: ID(v.id.to_string()),
            plugin_id: ID(v.plugin_id.to_string()),
            version: v.version,
            sha256: v.sha256,
            size_bytes: v.size_bytes,
            manifest: v.manifest,
            uploaded_at: ms_to_datetime(v.uploaded_at_ms),
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Plugin")]
pub struct PluginObject {
    pub id: ID,
    /// The manifest's id.
    pub slug: String,
    /// The extension point: `assistance-eligibility` or `family-matching`.
    pub kind: String,
    pub disabled: bool,
    pub active_version_id: Option<ID>,
    /// The version a rollback returns to.
    pub previous_version_id: Option<ID>,
    /// The role the plugin's input query is to run as.
    pub granted_role: Option<String>,
    /// Newest version first.
    pub versions: Vec<VersionObject>,
}

impl From<PluginView> for PluginObject {
    fn from(p: PluginView) -> Self {
        PluginObject {
            id: ID(p.row.id.to_string()),
            slug: p.row.slug,
            kind: p.row.kind,
            disabled: p.row.disabled,
            active_version_id: p.active_version_id.map(|id| ID(id.to_string())),
            previous_version_id: p.previous_version_id.map(|id| ID(id.to_string())),
            granted_role: p.granted_role,
            versions: p.versions.into_iter().map(Into::into).collect(),
        }
    }
}

/// One recorded call of a plugin.
#[derive(SimpleObject)]
#[graphql(name = "PluginCall")]
pub struct CallObject {
    pub id: ID,
    pub plugin_id: ID,
    pub version_id: ID,
    /// `dry_run`, or the extension point's use.
    pub purpose: String,
    /// What the call was about: the case of a match, the programme of an
    /// eligibility decision.
    pub subject_id: Option<ID>,
    pub caller_kind: String,
    pub caller_id: ID,
    /// SHA-256 of the input the plugin read.
    pub input_sha256: String,
    /// What the plugin answered, when it did.
    pub output: Option<Json<Value>>,
    /// The code of the failure, when it failed.
    pub error_code: Option<String>,
    pub fuel_used: i64,
    pub duration_us: i64,
    pub at: DateTime<Utc>,
    /// The plugin's log (stderr) of this call; kept only in the answer.
    pub log: Option<String>,
}

fn call_object(row: plugin_call::Model, log: Option<String>) -> CallObject {
    CallObject {
        id: ID(row.id.to_string()),
        plugin_id: ID(row.plugin_id.to_string()),
        version_id: ID(row.version_id.to_string()),
        purpose: row.purpose,
        subject_id: row.subject_id.map(|s| ID(s.to_string())),
        caller_kind: row.caller_kind,
        caller_id: ID(row.caller_id.to_string()),
        input_sha256: row.input_sha256,
        output: row
            .output
            .and_then(|text| serde_json::from_str(&text).ok())
            .map(Json),
        error_code: row.error_code,
        fuel_used: row.fuel,
        duration_us: row.duration_us,
        at: ms_to_datetime(row.at_ms),
        log,
    }
}

impl From<CallRecord> for CallObject {
    fn from(c: CallRecord) -> Self {
        call_object(c.row, Some(c.log))
    }
}

/// Reads an uploaded file, refusing one larger than `limit`.
fn read_upload(
    ctx: &Context<'_>,
    upload: &Upload,
    field: &str,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let value = upload
        .value(ctx)
        .map_err(|e| ApiError::bad_input(field, format!("no file: {e}")))?;
    let mut bytes = Vec::new();
    value
        .content
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ApiError::internal)?;
    if bytes.len() > limit {
        return Err(ApiError::new(
            shouhu_kernel::ErrorCode::PluginInvalid,
            format!("{field} is larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

#[derive(Default)]
pub struct ExtensionQuery;

#[Object]
impl ExtensionQuery {
    /// The district's plugins. Needs `plugin:read`.
    async fn plugins(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PluginObject>> {
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        Ok(service
            .list(who)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// One plugin; another district's is NOT_FOUND. Needs `plugin:read`.
    async fn plugin(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<PluginObject> {
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        let id = parse_id(&id, "plugin")?;
        Ok(service.get(who, id).await?.into())
    }

    /// The recorded calls of a plugin, newest first (at most 200).
    /// Needs `plugin:read`.
    #[graphql(complexity = "first.unwrap_or(50).clamp(0, 200) as usize * child_complexity + 1")]
    async fn plugin_calls(
        &self,
        ctx: &Context<'_>,
        plugin_id: ID,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<CallObject>> {
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        let id = parse_id(&plugin_id, "plugin")?;
        let limit = first.unwrap_or(50).clamp(1, 200) as u64;
        Ok(service
            .calls(who, id, limit)
            .await?
            .into_iter()
            .map(|row| call_object(row, None))
            .collect())
    }
}

#[derive(Default)]
pub struct ExtensionMutation;

#[Object]
impl ExtensionMutation {
    /// Uploads a plugin version: the WebAssembly module and its manifest
    /// (TOML or JSON), as two files of a multipart request. Refused with
    /// PLUGIN_INVALID naming the rule. Needs `plugin:submit`.
    async fn upload_plugin(
        &self,
        ctx: &Context<'_>,
        module: Upload,
        manifest: Upload,
    ) -> async_graphql::Result<VersionObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        // The permission is checked before the files are read, so that a
        // caller without it learns nothing about them.
        who.require_district_wide(shouhu_policies::Permission::PluginSubmit)?;
        let module = read_upload(ctx, &module, "module", shouhu_plugins::MAX_MODULE_BYTES)?;
        let manifest = read_upload(ctx, &manifest, "manifest", MAX_MANIFEST)?;
        let actor = Actor::of(who, &rc.request_id);
        Ok(service.upload(who, &actor, module, manifest).await?.into())
    }

    /// Runs a version on an input of the caller's choosing (which must match
    /// the extension point's input schema) and records the call. A plugin's
    /// fault is an error with its own code. Needs `plugin:run`.
    /// A dry run may take the manifest's whole deadline: 500 of a
    /// request's complexity.
    #[graphql(complexity = 500)]
    async fn dry_run_plugin(
        &self,
        ctx: &Context<'_>,
        version_id: ID,
        input: Json<Value>,
    ) -> async_graphql::Result<CallObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        let actor = Actor::of(who, &rc.request_id);
        let id = parse_id(&version_id, "plugin version")?;
        Ok(service.dry_run(who, &actor, id, input.0).await?.into())
    }

    /// Makes a version its plugin's active one. Needs `plugin:manage`.
    async fn activate_plugin_version(
        &self,
        ctx: &Context<'_>,
        version_id: ID,
    ) -> async_graphql::Result<PluginObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        let actor = Actor::of(who, &rc.request_id);
        let id = parse_id(&version_id, "plugin version")?;
        Ok(service.activate(who, &actor, id).await?.into())
    }

    /// Returns a plugin to the version active before the current one.
    /// Needs `plugin:manage`.
    async fn rollback_plugin(
        &self,
        ctx: &Context<'_>,
        plugin_id: ID,
    ) -> async_graphql::Result<PluginObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        let actor = Actor::of(who, &rc.request_id);
        let id = parse_id(&plugin_id, "plugin")?;
        Ok(service.rollback(who, &actor, id).await?.into())
    }

    /// Grants a plugin the role its input query runs as (a built-in role of
    /// the district). Needs `plugin:manage`.
    async fn grant_plugin_role(
        &self,
        ctx: &Context<'_>,
        plugin_id: ID,
        role: String,
    ) -> async_graphql::Result<PluginObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        let actor = Actor::of(who, &rc.request_id);
        let id = parse_id(&plugin_id, "plugin")?;
        Ok(service.grant(who, &actor, id, &role).await?.into())
    }

    /// Stops a plugin from being used until a version is activated again.
    /// Needs `plugin:manage`.
    async fn disable_plugin(
        &self,
        ctx: &Context<'_>,
        plugin_id: ID,
    ) -> async_graphql::Result<PluginObject> {
        let rc = request_ctx(ctx)?;
        let who = principal(ctx)?;
        let service = ctx.data::<ExtensionService>()?;
        let actor = Actor::of(who, &rc.request_id);
        let id = parse_id(&plugin_id, "plugin")?;
        Ok(service.disable(who, &actor, id).await?.into())
    }
}
