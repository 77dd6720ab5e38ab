//! Calling a district's plugin from an extension point: choosing the
//! plugin, running its manifest's input query as the role the district
//! granted it, handing the extension point's input and that result to the
//! plugin, and recording the call.
//!
//! The extension points (assistance, partners) own their inputs and what
//! they do with the answers; this is the one path by which any of them
//! reaches a plugin, so the grant, the record and the limits cannot be
//! skipped by one of them.

use std::sync::Arc;

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_trait::async_trait;
use sea_orm::{ColumnTrait, QueryFilter};
use serde_json::{Map, Value};
use shouhu_audit::Actor;
use shouhu_kernel::{ApiError, Principal, TenantId};
use shouhu_plugins::eligibility::{Decisions, Minor};
use shouhu_plugins::Kind;
use shouhu_policies::PermissionSet;
use uuid::Uuid;

use crate::entity::plugin_grant;
use crate::service::{ActivePlugin, CallInput, ExtensionService};

/// Runs a manifest's input query as a plugin: the server implements it with
/// its GraphQL schema, because only the server holds the whole schema.
#[async_trait]
pub trait InputQueryRunner: Send + Sync {
    /// Runs `query` with `variables` as the plugin `plugin_id` holding
    /// `role`, on behalf of `caller` (in the caller's district), and returns
    /// the `data` of the result. The query gets what both the role and the
    /// caller may see, within the caller's scope: whatever the plugin
    /// answers goes back to the caller, so it must not carry more than the
    /// caller could have read. Any GraphQL error fails the call: a plugin
    /// never gets half an answer.
    async fn run(
        &self,
        caller: &Principal,
        plugin_id: Uuid,
        role: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value, ApiError>;

    /// The permissions `role` holds in `tenant`, so that an extension point
    /// can bound what it passes a plugin by the plugin's grant.
    async fn role_permissions(
        &self,
        tenant: TenantId,
        role: &str,
    ) -> Result<PermissionSet, ApiError>;
}

/// One call an extension point asks for.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub kind: Kind,
    /// The plugin the caller has chosen (a programme's eligibility plugin);
    /// `None` runs the district's active plugin of `kind`.
    pub plugin_id: Option<Uuid>,
    /// The extension point's part of the input; the host adds `abi`,
    /// `kind` and `data`.
    pub input: Map<String, Value>,
    /// The minors an `assistance-eligibility` call decides on (empty for
    /// other extension points), passed in the ABI the plugin speaks.
    pub minors: Vec<Minor>,
    /// Values of the variables the extension point provides to input
    /// queries; only those the manifest declares are passed on.
    pub variables: Map<String, Value>,
    /// Why the call was made, kept on its record (`screening`, `matching`).
    pub purpose: &'static str,
    /// What it is about (a case, a programme), kept on its record.
    pub subject: Option<Uuid>,
}

/// A recorded, successful call.
#[derive(Clone, Debug)]
pub struct Invoked {
    pub call_id: Uuid,
    pub plugin_id: Uuid,
    pub version_id: Uuid,
    pub slug: String,
    pub version: String,
    /// The plugin's answer, checked against the extension point's schema;
    /// `null` for an eligibility call, whose answer is `decisions`.
    pub output: Value,
    /// An eligibility call's decisions, in the order of its minors.
    pub decisions: Option<Decisions>,
    pub fuel: u64,
    pub duration_us: i64,
}

impl ExtensionService {
    /// Calls a plugin for an extension point and records the call, whether
    /// it answered or failed. The extension point has checked the caller's
    /// own permissions; the plugin's input query runs with the plugin's
    /// grant, never with the caller's.
    pub async fn invoke(
        &self,
        who: &Principal,
        actor: &Actor,
        invocation: Invocation,
    ) -> Result<Invoked, ApiError> {
        let plugin = self.choose(who.tenant, &invocation).await?;
        let data = self.input_data(who, &plugin, &invocation).await?;
        let mut header = invocation.input;
        header.insert("data".into(), data);
        let input = if invocation.kind == Kind::AssistanceEligibility {
            CallInput::Eligibility {
                header,
                minors: invocation.minors,
            }
        } else {
            let mut input = Map::with_capacity(header.len() + 2);
            input.insert("abi".into(), Value::from(plugin.manifest.abi));
            input.insert("kind".into(), Value::from(invocation.kind.as_str()));
            input.extend(header);
            CallInput::Json(Value::Object(input))
        };

        let label = format!("{}@{}", plugin.slug, plugin.version);
        let record = self
            .call_and_record(
                who,
                actor,
                (plugin.plugin_id, plugin.version_id),
                &plugin.manifest,
                plugin.compiled.clone(),
                label,
                input,
                invocation.purpose,
                invocation.subject,
            )
            .await?;
        Ok(Invoked {
            call_id: record.row.id,
            plugin_id: plugin.plugin_id,
            version_id: plugin.version_id,
            slug: plugin.slug,
            version: plugin.version,
            output: record.output,
            decisions: record.decisions,
            fuel: u64::try_from(record.row.fuel).unwrap_or(0),
            duration_us: record.row.duration_us,
        })
    }

    /// The permissions of the role a plugin is granted; none without a
    /// grant. Extension points pass a plugin no more than these allow.
    pub async fn grant_permissions(
        &self,
        tenant: TenantId,
        plugin_id: Uuid,
    ) -> Result<PermissionSet, ApiError> {
        let Some(role) = self.granted_role(tenant, plugin_id).await? else {
            return Ok(PermissionSet::empty());
        };
        self.runner()?.role_permissions(tenant, &role).await
    }

    async fn granted_role(
        &self,
        tenant: TenantId,
        plugin_id: Uuid,
    ) -> Result<Option<String>, ApiError> {
        let tx = self.db.read(tenant).await?;
        Ok(tx
            .select::<plugin_grant::Entity>()
            .filter(plugin_grant::Column::PluginId.eq(plugin_id))
            .one(tx.conn())
            .await?
            .map(|grant| grant.role))
    }

    fn runner(&self) -> Result<Arc<dyn InputQueryRunner>, ApiError> {
        self.input_runner
            .get()
            .and_then(|weak| weak.upgrade())
            .ok_or_else(|| ApiError::internal("no input-query runner is installed"))
    }

    /// The plugin a call runs: the named one if it is active, enabled and
    /// of the right kind, else the district's active plugin of the kind.
    async fn choose(
        &self,
        tenant: TenantId,
        invocation: &Invocation,
    ) -> Result<ActivePlugin, ApiError> {
        let kind = invocation.kind;
        if let Some(id) = invocation.plugin_id {
            let plugins = self.active_plugins(tenant).await?;
            return match plugins.by_id(id) {
                Some(p) if p.kind == kind => Ok(p.clone()),
                Some(p) => Err(ApiError::bad_input(
                    "pluginId",
                    format!(
                        "the plugin {} serves {}, not {}",
                        p.slug,
                        p.kind.as_str(),
                        kind.as_str()
                    ),
                )),
                None => Err(ApiError::bad_input(
                    "pluginId",
                    "the plugin has no active version, or is disabled: activate a version first",
                )),
            };
        }
        if let Some(found) = self.active(tenant, kind).await? {
            return Ok(found);
        }
        if kind == Kind::FamilyMatching {
            self.install_default_matcher(tenant).await?;
            if let Some(found) = self.active(tenant, kind).await? {
                return Ok(found);
            }
        }
        Err(ApiError::bad_input(
            "plugin",
            format!("the district has no active {} plugin", kind.as_str()),
        ))
    }

    /// The result of the manifest's input query, run as the plugin's
    /// granted role narrowed to the caller; `null` when the manifest asks
    /// for nothing.
    async fn input_data(
        &self,
        who: &Principal,
        plugin: &ActivePlugin,
        invocation: &Invocation,
    ) -> Result<Value, ApiError> {
        let spec = &plugin.manifest.input;
        if spec.query.trim().is_empty() {
            return Ok(Value::Null);
        }
        let Some(role) = self.granted_role(who.tenant, plugin.plugin_id).await? else {
            return Err(ApiError::bad_input(
                "plugin",
                format!(
                    "the plugin {} asks for data but has no role: a district admin grants it \
                     one with grantPluginRole",
                    plugin.slug
                ),
            ));
        };
        let runner = self.runner()?;
        let variables: Map<String, Value> = spec
            .variables
            .iter()
            .filter_map(|name| {
                invocation
                    .variables
                    .get(name)
                    .map(|value| (name.clone(), value.clone()))
            })
            .collect();
        runner
            .run(
                who,
                plugin.plugin_id,
                &role,
                &spec.query,
                Value::Object(variables),
            )
            .await
    }
}

/// Checks a manifest's input query on upload: it must parse and hold only
/// queries, so that a plugin can never change anything through it.
pub fn check_input_query(query: &str) -> Result<(), String> {
    if query.trim().is_empty() {
        return Ok(());
    }
    let doc = async_graphql::parser::parse_query(query)
        .map_err(|e| format!("manifest: input.query is not GraphQL: {e}"))?;
    let only_queries = match &doc.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Query,
        DocumentOperations::Multiple(ops) => {
            ops.values().all(|op| op.node.ty == OperationType::Query)
        }
    };
    if only_queries {
        Ok(())
    } else {
        Err("manifest: input.query may hold only queries, no mutation or subscription".into())
    }
}

#[cfg(test)]
mod tests {
    use super::check_input_query;

    #[test]
    fn input_queries_are_read_only() {
        assert!(check_input_query("").is_ok());
        assert!(check_input_query("query($caseId: ID!) { case(id: $caseId) { id } }").is_ok());
        assert!(check_input_query("{ me { username } }").is_ok());
        let refused = [
            "mutation { logout }",
            "subscription { reportNotices { id } }",
            "query A { me { id } } mutation B { logout }",
            "{ me { ",
        ];
        for query in refused {
            assert!(check_input_query(query).is_err(), "{query}");
        }
    }
}
