//! Uploading, listing, dry-running, activating, rolling back and disabling
//! a district's plugins, and finding the active plugin of an extension
//! point for the district.
//!
//! Every method checks its permission first, so FORBIDDEN never depends on
//! whether an object exists, and then works inside one transaction scoped
//! to the caller's district: a plugin of another district is simply not
//! there (NOT_FOUND). Every change is audited in the same transaction.
//!
//! Each process keeps the active plugins of each district it has served in
//! memory, compiled. Activation, rollback and disabling bump the district's
//! plugin epoch in the same transaction; a process re-reads the epoch when
//! its copy is older than `poll_ms` and reloads on a difference, so a change
//! made through one process is in use by every other within that time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use shouhu_audit::{Actor, AuditEntry, AuditService};
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{ActorKind, ApiError, Db, Principal, ScopedTx, TenantId};
use shouhu_plugins::eligibility::{self, Decisions, Minor};
use shouhu_plugins::{parse_version, CompiledPlugin, Kind, Manifest, PluginHost, MAX_MODULE_BYTES};
use shouhu_policies::Permission;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::builtin::DEFAULT_MATCHER_SLUG;
use crate::entity::{
    plugin, plugin_active, plugin_call, plugin_epoch, plugin_grant, plugin_version,
};
use crate::error::from_plugin;
use crate::invoke::{check_input_query, InputQueryRunner};

/// One version as listed (the module's bytes stay in the database).
#[derive(Clone, Debug)]
pub struct VersionView {
    pub id: Uuid,
    pub plugin_id: Uuid,
    pub version: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub manifest: String,
    pub uploaded_at_ms: i64,
}

/// A plugin with its versions, newest first, and the active one.
#[derive(Clone, Debug)]
pub struct PluginView {
    pub row: plugin::Model,
    pub active_version_id: Option<Uuid>,
    pub previous_version_id: Option<Uuid>,
    /// The role the plugin's input query is to run as.
    pub granted_role: Option<String>,
    pub versions: Vec<VersionView>,
}

/// A recorded call, as returned by a dry run and listed per plugin.
#[derive(Clone, Debug)]
pub struct CallRecord {
    pub row: plugin_call::Model,
    pub log: String,
    /// The plugin's answer, as checked against its extension point's
    /// schema; `null` for an eligibility call, whose answer is `decisions`
    /// (and, in ABI 1's shape, the record's `output`).
    pub output: Value,
    /// An eligibility call's decisions, in the order of its minors.
    pub decisions: Option<Decisions>,
}

/// A call's answer as its record keeps it: a JSON document, or an
/// eligibility call's decisions already written as JSON text.
enum Output {
    Json(Value),
    Text(String),
}

/// What a call hands to a plugin.
pub(crate) enum CallInput {
    /// A whole input document in ABI 1's shape.
    Json(Value),
    /// An eligibility call's context (`asOf`, `programme`, `data`) and its
    /// minors, written in whichever ABI the plugin speaks.
    Eligibility {
        header: Map<String, Value>,
        minors: Vec<Minor>,
    },
}

/// A district's active plugin of one extension point, compiled.
#[derive(Clone, Debug)]
pub struct ActivePlugin {
    pub plugin_id: Uuid,
    pub slug: String,
    pub version_id: Uuid,
    pub version: String,
    pub manifest: Manifest,
    pub compiled: Arc<CompiledPlugin>,
    pub kind: Kind,
    pub activated_at_ms: i64,
}

pub(crate) struct DistrictPlugins {
    epoch: i64,
    checked: Instant,
    by_id: HashMap<Uuid, ActivePlugin>,
}

impl DistrictPlugins {
    pub(crate) fn by_id(&self, id: Uuid) -> Option<&ActivePlugin> {
        self.by_id.get(&id)
    }

    /// The plugin of a kind that runs when the caller names none: the one
    /// activated last (ties by slug), a district's own before the built-in
    /// default.
    pub(crate) fn of_kind(&self, kind: Kind) -> Option<&ActivePlugin> {
        self.by_id
            .values()
            .filter(|p| p.kind == kind)
            .max_by(|a, b| {
                let own = |p: &ActivePlugin| p.slug != crate::builtin::DEFAULT_MATCHER_SLUG;
                (own(a), a.activated_at_ms, &a.slug).cmp(&(own(b), b.activated_at_ms, &b.slug))
            })
    }
}

#[derive(Clone)]
pub struct ExtensionService {
    pub(crate) db: Db,
    pub(crate) audit: AuditService,
    pub(crate) clock: SharedClock,
    pub(crate) host: PluginHost,
    poll: Duration,
    active: Arc<Mutex<HashMap<TenantId, Arc<DistrictPlugins>>>>,
    district_slots: Arc<DistrictSlots>,
    /// Runs manifests' input queries; set by the server once its schema is
    /// built (weak, because that schema holds this service).
    pub(crate) input_runner: Arc<OnceLock<Weak<dyn InputQueryRunner>>>,
}

/// Each district's share of the host's call slots: all but one of them
/// (at least one), so that one district's slow or looping plugins (a dry
/// run may take its manifest's whole deadline) always leave a slot for the
/// others. A call holds its district's slot and then the host's.
struct DistrictSlots {
    share: usize,
    by_district: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
}

impl DistrictSlots {
    fn new(host_slots: usize) -> Self {
        DistrictSlots {
            share: host_slots.saturating_sub(1).max(1),
            by_district: Mutex::new(HashMap::new()),
        }
    }

    fn of(&self, tenant: TenantId) -> Result<Arc<Semaphore>, ApiError> {
        let mut map = self
            .by_district
            .lock()
            .map_err(|_| ApiError::internal("the district slots' lock is poisoned"))?;
        Ok(map
            .entry(tenant)
            .or_insert_with(|| Arc::new(Semaphore::new(self.share)))
            .clone())
    }
}

fn version_view(v: &plugin_version::Model) -> VersionView {
    VersionView {
        id: v.id,
        plugin_id: v.plugin_id,
        version: v.version.clone(),
        sha256: v.sha256.clone(),
        size_bytes: v.size_bytes,
        manifest: v.manifest.clone(),
        uploaded_at_ms: v.uploaded_at_ms,
    }
}

impl ExtensionService {
    /// `poll` is how stale a process's view of a district's active plugins
    /// may be; the issue allows five seconds, the server uses one.
    pub fn new(
        db: Db,
        audit: AuditService,
        clock: SharedClock,
        host: PluginHost,
        poll: Duration,
    ) -> Self {
        let district_slots = Arc::new(DistrictSlots::new(host.max_concurrent_calls()));
        ExtensionService {
            db,
            audit,
            clock,
            host,
            poll,
            active: Arc::new(Mutex::new(HashMap::new())),
            district_slots,
            input_runner: Arc::new(OnceLock::new()),
        }
    }

    /// Installs what runs manifests' input queries. The caller keeps the
    /// runner alive; this service holds it weakly. A second call is ignored.
    pub fn set_input_runner(&self, runner: &Arc<dyn InputQueryRunner>) {
        let _ = self.input_runner.set(Arc::downgrade(runner));
    }

    pub fn host(&self) -> &PluginHost {
        &self.host
    }

    /// Uploads a version: the manifest and module are checked as the host
    /// checks them (PLUGIN_INVALID naming the rule), the plugin is created
    /// on its first version, and a version already uploaded is CONFLICT.
    pub async fn upload(
        &self,
        who: &Principal,
        actor: &Actor,
        module: Vec<u8>,
        manifest_bytes: Vec<u8>,
    ) -> Result<VersionView, ApiError> {
        who.require_district_wide(Permission::PluginSubmit)?;
        if module.len() > MAX_MODULE_BYTES {
            return Err(from_plugin(shouhu_plugins::PluginError::Invalid(format!(
                "the module is {} bytes, more than the limit of {MAX_MODULE_BYTES} (1 MiB)",
                module.len()
            ))));
        }
        let manifest = Manifest::parse_bytes(&manifest_bytes).map_err(from_plugin)?;
        check_input_query(&manifest.input.query)
            .map_err(|m| from_plugin(shouhu_plugins::PluginError::Invalid(m)))?;
        if manifest.id == DEFAULT_MATCHER_SLUG && who.actor_kind != ActorKind::System {
            return Err(from_plugin(shouhu_plugins::PluginError::Invalid(format!(
                "manifest: the id {DEFAULT_MATCHER_SLUG} is the platform's own; choose another"
            ))));
        }
        let module = Arc::new(module);
        let compiled = self
            .host
            .prepare_blocking(module.clone())
            .await
            .map_err(from_plugin)?;
        let manifest_text = String::from_utf8_lossy(&manifest_bytes).into_owned();
        let now = self.clock.now_ms();
        let tx = self.db.write(who.tenant).await?;
        let existing = tx
            .select::<plugin::Entity>()
            .filter(plugin::Column::Slug.eq(manifest.id.as_str()))
            .one(tx.conn())
            .await?;
        let plugin_row = match existing {
            Some(row) if row.kind != manifest.kind.as_str() => {
                return Err(ApiError::conflict(
                    "manifest.kind",
                    format!(
                        "the plugin {} serves {}, not {}",
                        row.slug,
                        row.kind,
                        manifest.kind.as_str()
                    ),
                ));
            }
            Some(row) => row,
            None => {
                tx.insert(plugin::ActiveModel {
                    tenant_id: Set(who.tenant.0),
                    id: Set(new_id()),
                    slug: Set(manifest.id.clone()),
                    kind: Set(manifest.kind.as_str().to_owned()),
                    disabled: Set(false),
                    created_at_ms: Set(now),
                    updated_at_ms: Set(now),
                })
                .await?
            }
        };
        let clash = tx
            .select::<plugin_version::Entity>()
            .filter(plugin_version::Column::PluginId.eq(plugin_row.id))
            .filter(plugin_version::Column::Version.eq(manifest.version.as_str()))
            .one(tx.conn())
            .await?;
        if clash.is_some() {
            return Err(ApiError::conflict(
                "manifest.version",
                format!(
                    "version {} of {} is uploaded already; give the new one a new version",
                    manifest.version, manifest.id
                ),
            ));
        }
        let row = tx
            .insert(plugin_version::ActiveModel {
                tenant_id: Set(who.tenant.0),
                id: Set(new_id()),
                plugin_id: Set(plugin_row.id),
                version: Set(manifest.version.clone()),
                sha256: Set(compiled.sha256_hex()),
                module: Set(module.as_ref().clone()),
                manifest: Set(manifest_text),
                size_bytes: Set(module.len() as i64),
                uploaded_by: Set(who.actor_id),
                uploaded_at_ms: Set(now),
            })
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("plugin.upload", "plugin_version", row.id).with_detail(json!({
                    "plugin": plugin_row.id,
                    "slug": plugin_row.slug,
                    "version": row.version,
                    "sha256": row.sha256,
                    "size": row.size_bytes,
                })),
            )
            .await?;
        tx.commit().await?;
        Ok(version_view(&row))
    }

    /// The district's plugins, by slug.
    pub async fn list(&self, who: &Principal) -> Result<Vec<PluginView>, ApiError> {
        who.require(Permission::PluginRead)?;
        let tx = self.db.read(who.tenant).await?;
        let plugins = tx
            .select::<plugin::Entity>()
            .order_by_asc(plugin::Column::Slug)
            .all(tx.conn())
            .await?;
        let mut out = Vec::with_capacity(plugins.len());
        for row in plugins {
            out.push(view_of(&tx, row).await?);
        }
        Ok(out)
    }

    /// One plugin, or NOT_FOUND (also for another district's).
    pub async fn get(&self, who: &Principal, id: Uuid) -> Result<PluginView, ApiError> {
        who.require(Permission::PluginRead)?;
        let tx = self.db.read(who.tenant).await?;
        let row = find_plugin(&tx, id).await?;
        view_of(&tx, row).await
    }

    /// Runs a version (active or not) on an input the caller supplies and
    /// records the call. A plugin's fault is the caller's error, with its
    /// code, and is recorded too.
    pub async fn dry_run(
        &self,
        who: &Principal,
        actor: &Actor,
        version_id: Uuid,
        input: Value,
    ) -> Result<CallRecord, ApiError> {
        who.require_district_wide(Permission::PluginRun)?;
        let tx = self.db.read(who.tenant).await?;
        let version = tx
            .select::<plugin_version::Entity>()
            .filter(plugin_version::Column::Id.eq(version_id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("plugin version"))?;
        drop(tx);
        let manifest = Manifest::parse(&version.manifest).map_err(from_plugin)?;
        let compiled = self
            .host
            .prepare_blocking(Arc::new(version.module.clone()))
            .await
            .map_err(from_plugin)?;
        let label = format!("{}@{}", manifest.id, manifest.version);
        self.call_and_record(
            who,
            actor,
            (version.plugin_id, version.id),
            &manifest,
            compiled,
            label,
            CallInput::Json(input),
            "dry_run",
            None,
        )
        .await
    }

    /// Runs a plugin and records the call in its own transaction, whether
    /// the plugin answered or failed.
    #[allow(clippy::too_many_arguments)] // one call's whole context; a struct would only rename it
    pub(crate) async fn call_and_record(
        &self,
        who: &Principal,
        actor: &Actor,
        (plugin_id, version_id): (Uuid, Uuid),
        manifest: &Manifest,
        compiled: Arc<CompiledPlugin>,
        label: String,
        input: CallInput,
        purpose: &str,
        subject: Option<Uuid>,
    ) -> Result<CallRecord, ApiError> {
        let turn = self
            .district_slots
            .of(who.tenant)?
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        let started = Instant::now();
        let (input_sha256, result) = match input {
            CallInput::Json(input) => {
                let bytes = serde_json::to_vec(&input).map_err(ApiError::internal)?;
                let result = self
                    .host
                    .invoke_blocking(label, manifest.clone(), compiled, input)
                    .await
                    .map(|o| (Output::Json(o.output), None, o.log, o.fuel_used, o.duration));
                (Sha256::digest(&bytes), result)
            }
            CallInput::Eligibility { header, minors } => {
                // A value the ABI cannot carry is the caller's error, before
                // any call is made or recorded.
                let bytes =
                    eligibility::write_input(manifest.abi, header, &minors).map_err(from_plugin)?;
                // ABI 2's records carry no ids: a record of one minor has
                // few enough values that its hash alone could be reversed to
                // its categories. The ids (random uuids) go into the hash
                // too, in order, as they are in ABI 1's document.
                let mut hasher = Sha256::new();
                hasher.update(&bytes);
                for minor in &minors {
                    hasher.update(minor.id.as_bytes());
                    hasher.update([0]);
                }
                let sha256 = hasher.finalize();
                let ids: Vec<String> = minors.into_iter().map(|m| m.id).collect();
                let ids = Arc::new(ids);
                let result = self
                    .host
                    .decide_blocking(
                        label,
                        manifest.clone(),
                        compiled,
                        Arc::new(bytes),
                        ids.clone(),
                    )
                    .await
                    .map(|d| {
                        let text = d.decisions.to_json_string(&ids);
                        (
                            Output::Text(text),
                            Some(d.decisions),
                            d.log,
                            d.fuel_used,
                            d.duration,
                        )
                    });
                (sha256, result)
            }
        };
        let (output, error_code, fuel, duration, log) = match &result {
            Ok((output, _, log, fuel, duration)) => {
                let text = match output {
                    Output::Json(value) => value.to_string(),
                    Output::Text(text) => text.clone(),
                };
                (Some(text), None, *fuel, *duration, log.clone())
            }
            Err(err) => (
                None,
                Some(err.code().to_owned()),
                0,
                started.elapsed(),
                String::new(),
            ),
        };
        drop(turn);
        let duration_us = duration.as_micros() as i64;
        let input_sha256 = hex::encode(input_sha256);
        let tx = self.db.write(who.tenant).await?;
        let row = tx
            .insert(plugin_call::ActiveModel {
                tenant_id: Set(who.tenant.0),
                id: Set(new_id()),
                plugin_id: Set(plugin_id),
                version_id: Set(version_id),
                purpose: Set(purpose.to_owned()),
                caller_kind: Set(who.actor_kind.as_str().to_owned()),
                caller_id: Set(who.actor_id),
                input_sha256: Set(input_sha256),
                output: Set(output),
                error_code: Set(error_code),
                fuel: Set(i64::try_from(fuel).unwrap_or(i64::MAX)),
                duration_us: Set(duration_us),
                at_ms: Set(self.clock.now_ms()),
                subject_id: Set(subject),
            })
            .await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("plugin.call", "plugin_call", row.id).with_detail(json!({
                    "plugin": plugin_id,
                    "version": version_id,
                    "purpose": purpose,
                    "error": row.error_code,
                })),
            )
            .await?;
        tx.commit().await?;
        let (output, decisions, ..) = result.map_err(from_plugin)?;
        Ok(CallRecord {
            row,
            log,
            output: match output {
                Output::Json(value) => value,
                Output::Text(_) => Value::Null,
            },
            decisions,
        })
    }

    /// The recorded calls of a plugin, newest first: the whole district's,
    /// so only for district-wide staff. An output may repeat what the
    /// plugin was given about children (the district's data, or what a
    /// dry run's caller typed in), so it is shown only to holders of
    /// `minor:sensitive`, and a dry run's also to whoever ran it; others
    /// see the call without it.
    pub async fn calls(
        &self,
        who: &Principal,
        plugin_id: Uuid,
        limit: u64,
    ) -> Result<Vec<plugin_call::Model>, ApiError> {
        who.require_district_wide(Permission::PluginRead)?;
        let tx = self.db.read(who.tenant).await?;
        find_plugin(&tx, plugin_id).await?;
        let mut rows = tx
            .select::<plugin_call::Entity>()
            .filter(plugin_call::Column::PluginId.eq(plugin_id))
            .order_by_desc(plugin_call::Column::AtMs)
            .order_by_desc(plugin_call::Column::Id)
            .limit(limit)
            .all(tx.conn())
            .await?;
        if !who.has(Permission::MinorSensitive) {
            let own_dry_run = |r: &plugin_call::Model| {
                r.purpose == "dry_run"
                    && r.caller_kind == who.actor_kind.as_str()
                    && r.caller_id == who.actor_id
            };
            for row in rows.iter_mut().filter(|r| !own_dry_run(r)) {
                row.output = None;
            }
        }
        Ok(rows)
    }

    /// Makes a version the active one of its plugin (and enables the
    /// plugin); the version active until now becomes the one a rollback
    /// returns to.
    pub async fn activate(
        &self,
        who: &Principal,
        actor: &Actor,
        version_id: Uuid,
    ) -> Result<PluginView, ApiError> {
        who.require_district_wide(Permission::PluginManage)?;
        let tx = self.db.write(who.tenant).await?;
        let version = tx
            .select::<plugin_version::Entity>()
            .filter(plugin_version::Column::Id.eq(version_id))
            .one(tx.conn())
            .await?
            .ok_or_else(|| ApiError::not_found("plugin version"))?;
        let current = active_row(&tx, version.plugin_id).await?;
        let previous = match &current {
            Some(row) if row.version_id == version.id => row.previous_version_id,
            Some(row) => Some(row.version_id),
            None => None,
        };
        self.point(
            &tx,
            who,
            version.plugin_id,
            version.id,
            previous,
            current.is_some(),
        )
        .await?;
        let row = set_disabled(&tx, version.plugin_id, false, self.clock.now_ms()).await?;
        self.bump_epoch(&tx).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("plugin.activate", "plugin", row.id).with_detail(json!({
                    "version": version.id,
                    "previous": previous,
                })),
            )
            .await?;
        let view = view_of(&tx, row).await?;
        tx.commit().await?;
        // This process follows at once; the others within `poll`.
        self.forget(who.tenant);
        Ok(view)
    }

    /// Returns a plugin to the version that was active before the current
    /// one; the current one becomes the way back. BAD_USER_INPUT when there
    /// is no earlier version to return to.
    pub async fn rollback(
        &self,
        who: &Principal,
        actor: &Actor,
        plugin_id: Uuid,
    ) -> Result<PluginView, ApiError> {
        who.require_district_wide(Permission::PluginManage)?;
        let tx = self.db.write(who.tenant).await?;
        find_plugin(&tx, plugin_id).await?;
        let current = active_row(&tx, plugin_id).await?;
        let Some((now_active, earlier)) = current
            .as_ref()
            .and_then(|row| row.previous_version_id.map(|p| (row.version_id, p)))
        else {
            return Err(ApiError::bad_input(
                "pluginId",
                "the plugin has no earlier active version to roll back to",
            ));
        };
        self.point(&tx, who, plugin_id, earlier, Some(now_active), true)
            .await?;
        let row = set_disabled(&tx, plugin_id, false, self.clock.now_ms()).await?;
        self.bump_epoch(&tx).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("plugin.rollback", "plugin", plugin_id).with_detail(json!({
                    "version": earlier,
                    "from": now_active,
                })),
            )
            .await?;
        let view = view_of(&tx, row).await?;
        tx.commit().await?;
        // This process follows at once; the others within `poll`.
        self.forget(who.tenant);
        Ok(view)
    }

    /// Disables a plugin: its extension point no longer runs it until a
    /// version is activated again.
    pub async fn disable(
        &self,
        who: &Principal,
        actor: &Actor,
        plugin_id: Uuid,
    ) -> Result<PluginView, ApiError> {
        who.require_district_wide(Permission::PluginManage)?;
        let tx = self.db.write(who.tenant).await?;
        find_plugin(&tx, plugin_id).await?;
        let row = set_disabled(&tx, plugin_id, true, self.clock.now_ms()).await?;
        self.bump_epoch(&tx).await?;
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("plugin.disable", "plugin", plugin_id),
            )
            .await?;
        let view = view_of(&tx, row).await?;
        tx.commit().await?;
        // This process follows at once; the others within `poll`.
        self.forget(who.tenant);
        Ok(view)
    }

    /// Grants a plugin the role its input query runs as: one of the
    /// district's built-in roles (never the platform's). Replaces an
    /// earlier grant.
    pub async fn grant(
        &self,
        who: &Principal,
        actor: &Actor,
        plugin_id: Uuid,
        role: &str,
    ) -> Result<PluginView, ApiError> {
        who.require_district_wide(Permission::PluginManage)?;
        let tenant_role = shouhu_policies::builtin_role(role).is_some_and(|r| !r.platform);
        if !tenant_role {
            return Err(ApiError::bad_input(
                "role",
                "grant one of the district's built-in roles (custom roles cannot be granted yet)",
            ));
        }
        let tx = self.db.write(who.tenant).await?;
        let row = find_plugin(&tx, plugin_id).await?;
        // An update, not a delete and an insert: the app role has no DELETE
        // on the plugin tables, so that nothing about a plugin is ever erased.
        let now = self.clock.now_ms();
        let changed = tx
            .update::<plugin_grant::Entity>()
            .col_expr(plugin_grant::Column::Role, Expr::value(role))
            .col_expr(plugin_grant::Column::GrantedBy, Expr::value(who.actor_id))
            .col_expr(plugin_grant::Column::GrantedAtMs, Expr::value(now))
            .filter(plugin_grant::Column::PluginId.eq(plugin_id))
            .exec(tx.conn())
            .await?;
        if changed.rows_affected == 0 {
            tx.insert(plugin_grant::ActiveModel {
                tenant_id: Set(who.tenant.0),
                plugin_id: Set(plugin_id),
                role: Set(role.to_owned()),
                granted_by: Set(who.actor_id),
                granted_at_ms: Set(now),
            })
            .await?;
        }
        self.audit
            .append(
                &tx,
                actor,
                AuditEntry::ok("plugin.grant", "plugin", plugin_id)
                    .with_detail(json!({ "role": role })),
            )
            .await?;
        let view = view_of(&tx, row).await?;
        tx.commit().await?;
        Ok(view)
    }

    async fn point(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        plugin_id: Uuid,
        version_id: Uuid,
        previous: Option<Uuid>,
        exists: bool,
    ) -> Result<(), ApiError> {
        let now = self.clock.now_ms();
        if exists {
            tx.update::<plugin_active::Entity>()
                .col_expr(plugin_active::Column::VersionId, Expr::value(version_id))
                .col_expr(
                    plugin_active::Column::PreviousVersionId,
                    Expr::value(previous),
                )
                .col_expr(
                    plugin_active::Column::ActivatedBy,
                    Expr::value(who.actor_id),
                )
                .col_expr(plugin_active::Column::ActivatedAtMs, Expr::value(now))
                .filter(plugin_active::Column::PluginId.eq(plugin_id))
                .exec(tx.conn())
                .await?;
        } else {
            tx.insert(plugin_active::ActiveModel {
                tenant_id: Set(tx.tenant().0),
                plugin_id: Set(plugin_id),
                version_id: Set(version_id),
                previous_version_id: Set(previous),
                activated_by: Set(who.actor_id),
                activated_at_ms: Set(now),
            })
            .await?;
        }
        Ok(())
    }

    async fn bump_epoch(&self, tx: &ScopedTx) -> Result<(), ApiError> {
        let bumped = tx
            .update::<plugin_epoch::Entity>()
            .col_expr(
                plugin_epoch::Column::Epoch,
                Expr::col(plugin_epoch::Column::Epoch).add(1),
            )
            .exec(tx.conn())
            .await?;
        if bumped.rows_affected == 0 {
            tx.insert(plugin_epoch::ActiveModel {
                tenant_id: Set(tx.tenant().0),
                epoch: Set(1),
            })
            .await?;
        }
        Ok(())
    }

    /// The district's active, enabled plugins by id, compiled; at most
    /// `poll` old.
    pub(crate) async fn active_plugins(
        &self,
        tenant: TenantId,
    ) -> Result<Arc<DistrictPlugins>, ApiError> {
        let known = self.lock_active().get(&tenant).cloned();
        if let Some(known) = &known {
            if known.checked.elapsed() < self.poll {
                return Ok(known.clone());
            }
        }
        let tx = self.db.read(tenant).await?;
        let epoch = tx
            .select::<plugin_epoch::Entity>()
            .one(tx.conn())
            .await?
            .map_or(0, |row| row.epoch);
        let by_id = match known {
            Some(known) if known.epoch == epoch => known.by_id.clone(),
            _ => self.load_active(&tx).await?,
        };
        drop(tx);
        let fresh = Arc::new(DistrictPlugins {
            epoch,
            checked: Instant::now(),
            by_id,
        });
        self.lock_active().insert(tenant, fresh.clone());
        Ok(fresh)
    }

    /// The district's active, enabled plugin of an extension point, if any:
    /// the one activated last, a district's own before the built-in default
    /// matcher.
    pub async fn active(
        &self,
        tenant: TenantId,
        kind: Kind,
    ) -> Result<Option<ActivePlugin>, ApiError> {
        let plugins = self.active_plugins(tenant).await?;
        Ok(plugins.of_kind(kind).cloned())
    }

    async fn load_active(&self, tx: &ScopedTx) -> Result<HashMap<Uuid, ActivePlugin>, ApiError> {
        let pointers = tx.select::<plugin_active::Entity>().all(tx.conn()).await?;
        let mut out = HashMap::new();
        for pointer in pointers {
            let plugin = find_plugin(tx, pointer.plugin_id).await?;
            if plugin.disabled {
                continue;
            }
            let Some(kind) = Kind::parse(&plugin.kind) else {
                continue;
            };
            let version = tx
                .select::<plugin_version::Entity>()
                .filter(plugin_version::Column::Id.eq(pointer.version_id))
                .one(tx.conn())
                .await?
                .ok_or_else(|| ApiError::internal("an active plugin version is missing"))?;
            let manifest = Manifest::parse(&version.manifest).map_err(from_plugin)?;
            let compiled = self
                .host
                .prepare_blocking(Arc::new(version.module))
                .await
                .map_err(from_plugin)?;
            out.insert(
                plugin.id,
                ActivePlugin {
                    plugin_id: plugin.id,
                    slug: plugin.slug,
                    version_id: version.id,
                    version: version.version,
                    manifest,
                    compiled,
                    kind,
                    activated_at_ms: pointer.activated_at_ms,
                },
            );
        }
        Ok(out)
    }

    /// Drops this process's copy of a district's active plugins, so the
    /// next call reads them again.
    pub(crate) fn forget(&self, tenant: TenantId) {
        self.lock_active().remove(&tenant);
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Arc<DistrictPlugins>>> {
        // Each operation on the map is one insert or lookup, so a poisoned
        // lock cannot hide a half-made change.
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn find_plugin(tx: &ScopedTx, id: Uuid) -> Result<plugin::Model, ApiError> {
    tx.select::<plugin::Entity>()
        .filter(plugin::Column::Id.eq(id))
        .one(tx.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("plugin"))
}

async fn active_row(
    tx: &ScopedTx,
    plugin_id: Uuid,
) -> Result<Option<plugin_active::Model>, ApiError> {
    Ok(tx
        .select::<plugin_active::Entity>()
        .filter(plugin_active::Column::PluginId.eq(plugin_id))
        .one(tx.conn())
        .await?)
}

async fn set_disabled(
    tx: &ScopedTx,
    plugin_id: Uuid,
    disabled: bool,
    now: i64,
) -> Result<plugin::Model, ApiError> {
    tx.update::<plugin::Entity>()
        .col_expr(plugin::Column::Disabled, Expr::value(disabled))
        .col_expr(plugin::Column::UpdatedAtMs, Expr::value(now))
        .filter(plugin::Column::Id.eq(plugin_id))
        .exec(tx.conn())
        .await?;
    find_plugin(tx, plugin_id).await
}

async fn view_of(tx: &ScopedTx, row: plugin::Model) -> Result<PluginView, ApiError> {
    let mut versions: Vec<VersionView> = tx
        .select::<plugin_version::Entity>()
        .filter(plugin_version::Column::PluginId.eq(row.id))
        .all(tx.conn())
        .await?
        .iter()
        .map(version_view)
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(parse_version(&v.version)));
    let active = active_row(tx, row.id).await?;
    let grant = tx
        .select::<plugin_grant::Entity>()
        .filter(plugin_grant::Column::PluginId.eq(row.id))
        .one(tx.conn())
        .await?;
    Ok(PluginView {
        granted_role: grant.map(|g| g.role),
        active_version_id: active.as_ref().map(|a| a.version_id),
        previous_version_id: active.and_then(|a| a.previous_version_id),
        versions,
        row,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host slots -> a district's share; a district at its share waits
    /// while another district still gets a slot.
    #[test]
    fn a_district_never_takes_every_call_slot() {
        for (host_slots, share) in [(1, 1), (2, 1), (4, 3), (8, 7)] {
            let slots = DistrictSlots::new(host_slots);
            let (a, b) = (TenantId(Uuid::from_u128(1)), TenantId(Uuid::from_u128(2)));
            let held: Vec<_> = (0..share)
                .map(|_| slots.of(a).unwrap().try_acquire_owned().unwrap())
                .collect();
            assert!(
                slots.of(a).unwrap().try_acquire_owned().is_err(),
                "{host_slots}"
            );
            assert!(
                slots.of(b).unwrap().try_acquire_owned().is_ok(),
                "{host_slots}"
            );
            drop(held);
            assert!(
                slots.of(a).unwrap().try_acquire_owned().is_ok(),
                "{host_slots}"
            );
        }
    }
}
