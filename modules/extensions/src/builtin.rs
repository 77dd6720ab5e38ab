//! Installing the platform's default matcher into a district: the first
//! time a district asks for a match and has no matching plugin active, the
//! default matcher is uploaded and activated in its tables by the system,
//! like any plugin, so that its calls are recorded and explained the same
//! way. A district's own matcher, once activated, is preferred to it; a
//! district that disables the default keeps it disabled.

use sea_orm::{ColumnTrait, QueryFilter};
use shouhu_audit::Actor;
use shouhu_kernel::{ApiError, Principal, TenantId};
use shouhu_plugins::builtin::{DEFAULT_MATCHER_MANIFEST, DEFAULT_MATCHER_WASM};

use crate::entity::plugin;
use crate::service::ExtensionService;

/// The reserved id of the default matcher; no district may upload it.
pub const DEFAULT_MATCHER_SLUG: &str = "default-matcher";

impl ExtensionService {
    /// Makes the default matcher the district's active matcher, unless the
    /// district has disabled it. Two processes doing this at once is
    /// harmless: the loser's upload meets the unique slug, and activating
    /// the same version twice leaves it active once.
    pub(crate) async fn install_default_matcher(&self, tenant: TenantId) -> Result<(), ApiError> {
        let system = Principal::system(tenant);
        let actor = Actor::system("default-matcher");
        let existing = self.find_slug(tenant, DEFAULT_MATCHER_SLUG).await?;
        let plugin_id = match existing {
            Some(row) if row.disabled => return Ok(()),
            Some(row) => row.id,
            None => {
                let uploaded = self
                    .upload(
                        &system,
                        &actor,
                        DEFAULT_MATCHER_WASM.to_vec(),
                        DEFAULT_MATCHER_MANIFEST.as_bytes().to_vec(),
                    )
                    .await;
                match uploaded {
                    Ok(version) => version.plugin_id,
                    // Another process (or request) may have installed it in
                    // the meantime; it may not have activated it yet, so go
                    // on to the activation with its row.
                    Err(err) => match self.find_slug(tenant, DEFAULT_MATCHER_SLUG).await? {
                        Some(row) => row.id,
                        None => return Err(err),
                    },
                }
            }
        };
        let view = self.get(&system, plugin_id).await?;
        if view.active_version_id.is_none() {
            if let Some(newest) = view.versions.first() {
                if let Err(err) = self.activate(&system, &actor, newest.id).await {
                    // Another request activated it first: that is the goal.
                    let now = self.get(&system, plugin_id).await?;
                    if now.active_version_id.is_none() {
                        return Err(err);
                    }
                }
            }
        }
        self.forget(tenant);
        Ok(())
    }

    async fn find_slug(
        &self,
        tenant: TenantId,
        slug: &str,
    ) -> Result<Option<plugin::Model>, ApiError> {
        let tx = self.db.read(tenant).await?;
        Ok(tx
            .select::<plugin::Entity>()
            .filter(plugin::Column::Slug.eq(slug))
            .one(tx.conn())
            .await?)
    }
}
