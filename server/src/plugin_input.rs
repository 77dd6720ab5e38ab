//! Running a plugin's input query: the extensions module asks, the server
//! answers with its own GraphQL schema, as the plugin. The plugin's
//! principal holds the role a district admin granted it, narrowed to what
//! the user who caused the call may see (the permissions both hold, in the
//! user's scope), in their district, so the query sees no more than either
//! (scoped, masked, audited with the plugin named as the actor).

use std::sync::Arc;

use async_graphql::Variables;
use async_trait::async_trait;
use serde_json::Value;
use shouhu_extensions::InputQueryRunner;
use shouhu_identity::IdentityService;
use shouhu_kernel::{ApiError, Principal, RequestCtx, TenantId};
use shouhu_policies::PermissionSet;
use uuid::Uuid;

use crate::http::count_aliases;
use crate::schema::ShouhuSchema;

/// Field path of every error an input query causes: the manifest's query
/// is the plugin author's, not the caller's.
const FIELD: &str = "manifest.input.query";

pub struct SchemaInputRunner {
    pub schema: ShouhuSchema,
    pub identity: IdentityService,
    pub max_aliases: usize,
}

#[async_trait]
impl InputQueryRunner for SchemaInputRunner {
    async fn run(
        &self,
        caller: &Principal,
        plugin_id: Uuid,
        role: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value, ApiError> {
        let mut principal = self
            .identity
            .plugin_principal(caller.tenant, plugin_id, role)
            .await?;
        // The plugin's answer reaches the caller, so its data is bounded by
        // both: the role's permissions and the caller's, in the caller's
        // scope.
        principal.permissions = principal.permissions.intersection(caller.permissions);
        principal.org_unit_id = caller.org_unit_id;
        principal.org_unit_path = caller.org_unit_path.clone();
        let mut request = async_graphql::Request::new(query)
            .variables(Variables::from_json(variables))
            .data(RequestCtx {
                request_id: format!("plugin-{plugin_id}"),
                principal: Some(Arc::new(principal)),
                auth_error: None,
            });
        // The same static limits as a request over HTTP; depth and
        // complexity are the schema's own.
        if let Ok(doc) = request.parsed_query() {
            if count_aliases(doc) > self.max_aliases {
                return Err(ApiError::bad_input(
                    FIELD,
                    format!("at most {} aliases per operation", self.max_aliases),
                ));
            }
        }
        let response = self.schema.execute(request).await;
        if let Some(err) = response.errors.first() {
            let code = err
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .map(|code| code.to_string())
                .unwrap_or_else(|| "\"BAD_USER_INPUT\"".to_owned());
            return Err(ApiError::bad_input(
                FIELD,
                format!(
                    "the plugin's input query failed ({}): {}",
                    code.trim_matches('"'),
                    err.message
                ),
            ));
        }
        response.data.into_json().map_err(ApiError::internal)
    }

    async fn role_permissions(
        &self,
        tenant: TenantId,
        role: &str,
    ) -> Result<PermissionSet, ApiError> {
        // The plugin's id does not change a role's permissions.
        let principal = self
            .identity
            .plugin_principal(tenant, Uuid::nil(), role)
            .await?;
        Ok(principal.permissions)
    }
}
