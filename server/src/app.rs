//! Assembling the application: configuration, the database, the services
//! and the schema.

use std::path::PathBuf;
use std::sync::Arc;

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::MigratorTrait;
use shouhu_assistance::AssistanceService;
use shouhu_audit::AuditService;
use shouhu_casework::CaseworkService;
use shouhu_extensions::{ExtensionService, InputQueryRunner};
use shouhu_identity::{IdentityConfig, IdentityService};
use shouhu_kernel::clock::SharedClock;
use shouhu_kernel::{Backend, Db, SystemClock};
use shouhu_migrations::Migrator;
use shouhu_plugins::{HostConfig, PluginHost};
use shouhu_registry::RegistryService;
use shouhu_tenancy::TenancyService;

use crate::error::ServerError;
use crate::metrics::Metrics;
use crate::plugin_input::SchemaInputRunner;
use crate::schema::{self, ShouhuSchema};

/// Request limits. The defaults are documented in docs/operations.md.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_body_bytes: usize,
    /// Largest multipart request (a GraphQL upload, such as `importMinors`), in bytes.
    pub max_upload_bytes: usize,
    pub max_batch: usize,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_recursive_depth: usize,
    pub max_directives: usize,
    pub max_aliases: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_upload_bytes: 64 << 20,
            max_batch: 10,
            max_depth: 12,
            max_complexity: 5_000,
            max_recursive_depth: 32,
            max_directives: 20,
            max_aliases: 30,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AppConfig {
    pub database_url: String,
    /// Run migrations before serving, with this URL (the schema owner's on
    /// PostgreSQL); `None` to not migrate.
    pub migrate_url: Option<String>,
    /// Serve even when the database role can bypass row-level security.
    pub allow_rls_bypass: bool,
    pub max_connections: u32,
    pub divisions: Option<PathBuf>,
    pub token_ttl_minutes: i64,
    pub token_secret: Option<String>,
    /// How long an authenticated caller is remembered between requests;
    /// changes made through another process take at most this long.
    pub principal_cache_ms: i64,
    pub limits: Limits,
}

impl AppConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        let database_url = database_url.into();
        AppConfig {
            migrate_url: Some(database_url.clone()),
            database_url,
            allow_rls_bypass: false,
            max_connections: 16,
            divisions: None,
            token_ttl_minutes: 8 * 60,
            token_secret: None,
            principal_cache_ms: 2_000,
            limits: Limits::default(),
        }
    }
}

/// The modules' services.
#[derive(Clone)]
pub struct Services {
    pub db: Db,
    pub clock: SharedClock,
    pub audit: AuditService,
    pub tenancy: TenancyService,
    pub identity: IdentityService,
    pub registry: RegistryService,
    pub casework: CaseworkService,
    pub extensions: ExtensionService,
    pub assistance: AssistanceService,
}

impl Services {
    pub async fn new(db: Db, clock: SharedClock, config: &AppConfig) -> Result<Self, ServerError> {
        let audit = AuditService::new(db.clone(), clock.clone());
        let tenancy = TenancyService::new(db.clone(), audit.clone(), clock.clone());
        let identity = IdentityService::new(
            db.clone(),
            audit.clone(),
            tenancy.clone(),
            clock.clone(),
            IdentityConfig {
                token_ttl_ms: config.token_ttl_minutes * 60_000,
                token_secret: config.token_secret.clone(),
                divisions: config.divisions.clone(),
                principal_cache_ms: config.principal_cache_ms,
            },
        )
        .await?;
        let registry =
            RegistryService::new(db.clone(), audit.clone(), tenancy.clone(), clock.clone());
        let casework = CaseworkService::new(
            db.clone(),
            audit.clone(),
            tenancy.clone(),
            registry.clone(),
            identity.clone(),
            clock.clone(),
        );
        let host = PluginHost::new(HostConfig::default())
            .map_err(|e| ServerError::Usage(format!("the plugin host cannot start: {e}")))?;
        let extensions = ExtensionService::new(
            db.clone(),
            audit.clone(),
            clock.clone(),
            host,
            // How stale this process's view of a district's active plugins
            // may be; the issue allows five seconds.
            std::time::Duration::from_secs(1),
        );
        let assistance = AssistanceService::new(
            db.clone(),
            audit.clone(),
            clock.clone(),
            registry.clone(),
            extensions.clone(),
        );
        Ok(Services {
            db,
            clock,
            audit,
            tenancy,
            identity,
            registry,
            casework,
            extensions,
            assistance,
        })
    }
}

/// How often `serve` retries unrouted reports and escalates missed
/// deadlines.
pub const CASEWORK_TICK: std::time::Duration = std::time::Duration::from_secs(60);

/// Starts the background pass of reporting and casework: every `every`, each
/// district's waiting reports are routed again and its missed deadlines are
/// escalated to the protection centre (once each; the escalation table's
/// unique key makes a second server's pass a no-op).
pub fn spawn_casework_tick(services: &Services, every: std::time::Duration) {
    let services = services.clone();
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            match services.tenancy.all_tenant_ids().await {
                Ok(tenants) => services.casework.tick(&tenants).await,
                Err(err) => {
                    tracing::warn!(
                        error.code = err.code.as_str(),
                        "casework tick: no districts"
                    )
                }
            }
        }
    });
}

/// Everything a running server holds.
#[derive(Clone)]
pub struct App {
    pub services: Services,
    pub schema: ShouhuSchema,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// Runs plugins' input queries with this schema; the extensions service
    /// holds it weakly, so the app keeps it alive.
    _input_runner: Arc<dyn InputQueryRunner>,
}

impl App {
    /// Connects, migrates when asked, checks the row-level-security wall,
    /// and builds the services and the schema.
    pub async fn start(config: &AppConfig, clock: SharedClock) -> Result<App, ServerError> {
        if let Some(url) = &config.migrate_url {
            migrate_up(url).await?;
        }
        let db = Db::connect(&config.database_url, config.max_connections).await?;
        if db.backend() == Backend::Postgres && !config.allow_rls_bypass {
            check_rls_role(&db).await?;
        }
        let services = Services::new(db, clock, config).await?;
        let schema = schema::build(&services, &config.limits);
        let input_runner: Arc<dyn InputQueryRunner> = Arc::new(SchemaInputRunner {
            schema: schema.clone(),
            identity: services.identity.clone(),
            max_aliases: config.limits.max_aliases,
        });
        services.extensions.set_input_runner(&input_runner);
        Ok(App {
            services,
            schema,
            limits: config.limits.clone(),
            metrics: Arc::new(Metrics::new()),
            _input_runner: input_runner,
        })
    }

    pub async fn start_default(config: &AppConfig) -> Result<App, ServerError> {
        App::start(config, Arc::new(SystemClock)).await
    }
}

/// Applies every pending migration.
pub async fn migrate_up(url: &str) -> Result<(), ServerError> {
    let db = Db::connect(url, 2).await?;
    Migrator::up(db.raw(), None).await?;
    db.raw().clone().close().await?;
    Ok(())
}

/// Refuses a PostgreSQL role that row-level security would not bind.
async fn check_rls_role(db: &Db) -> Result<(), ServerError> {
    let row = db
        .raw()
        .query_one(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT current_user::text AS name, rolsuper, rolbypassrls \
             FROM pg_roles WHERE rolname = current_user",
        ))
        .await?
        .ok_or_else(|| ServerError::Usage("cannot read the current role".into()))?;
    let name: String = row.try_get("", "name")?;
    let superuser: bool = row.try_get("", "rolsuper")?;
    let bypass: bool = row.try_get("", "rolbypassrls")?;
    if superuser || bypass {
        return Err(ServerError::RlsBypass(name));
    }
    Ok(())
}
