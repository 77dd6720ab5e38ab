//! The command line: `shouhu serve`, `migrate`, `tenant`, `user`,
//! `operator`, `orgunit`, `import`, `audit`, `schema`, `demo`, `plugin`.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use sea_orm_migration::MigratorTrait;
use shouhu_audit::Actor;
use shouhu_identity::{NewUser, Onboarding};
use shouhu_kernel::{Db, Principal, SystemClock, TenantId};
use shouhu_migrations::Migrator;
use shouhu_tenancy::DivisionSource;

use crate::app::{App, AppConfig, Limits, Services};
use crate::error::ServerError;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://shouhu.db?mode=rwc";

#[derive(Parser, Debug)]
#[command(
    name = "shouhu",
    version,
    about = "Shouhu (守护): protection of minors, per district"
)]
pub struct Cli {
    /// sqlite://FILE?mode=rwc (the default) or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the GraphQL API (migrates on start).
    Serve(ServeArgs),
    /// Apply or roll back schema migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Districts (tenants).
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Users of a district.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Platform operators.
    Operator {
        #[command(subcommand)]
        action: OperatorAction,
    },
    /// Org units (communities and villages).
    Orgunit {
        #[command(subcommand)]
        action: OrgunitAction,
    },
    /// Import records from spreadsheets (CSV or XLSX).
    Import {
        #[command(subcommand)]
        action: crate::import::ImportAction,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Demonstration data: synthetic minors for a district.
    Demo {
        #[command(subcommand)]
        action: crate::generate::DemoAction,
    },
    /// WebAssembly plugins: check or run one locally, as the server would.
    Plugin {
        #[command(subcommand)]
        action: crate::plugin::PluginAction,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SHOUHU_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Create the demo district 吴中区 (wuzhong) with accounts for every role,
    /// if it does not exist, and print the sign-ins.
    #[arg(long)]
    pub demo: bool,
    /// Division files for onboarding districts over the API.
    #[arg(long, env = "SHOUHU_DIVISIONS")]
    pub divisions: Option<PathBuf>,
    /// Migrate with this URL (the schema owner on PostgreSQL) before
    /// serving; defaults to --database-url.
    #[arg(long, env = "SHOUHU_MIGRATE_DATABASE_URL")]
    pub migrate_database_url: Option<String>,
    /// Do not migrate on start.
    #[arg(long)]
    pub no_migrate: bool,
    /// Serve even if the PostgreSQL role can bypass row-level security
    /// (development only).
    #[arg(long)]
    pub allow_rls_bypass: bool,
    /// Token-signing secret (32+ characters); by default one is generated
    /// and kept in the database.
    #[arg(long, env = "SHOUHU_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
    /// Minutes a sign-in token lives.
    #[arg(long, env = "SHOUHU_TOKEN_TTL_MINUTES", default_value_t = 480)]
    pub token_ttl_minutes: i64,
    /// Milliseconds an authenticated caller is remembered; a sign-out or
    /// revocation made through another server process takes effect here
    /// within this time (0: look every request up).
    #[arg(long, env = "SHOUHU_PRINCIPAL_CACHE_MS", default_value_t = 2_000)]
    pub principal_cache_ms: i64,
    /// Database connections in the pool.
    #[arg(long, env = "SHOUHU_MAX_CONNECTIONS", default_value_t = 16)]
    pub max_connections: u32,
    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Args, Debug)]
pub struct LimitArgs {
    /// Largest request body, in bytes.
    #[arg(long, env = "SHOUHU_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Largest multipart request (a GraphQL upload such as importMinors), in bytes.
    #[arg(
        long,
        env = "SHOUHU_MAX_UPLOAD_BYTES",
        default_value_t = Limits::default().max_upload_bytes
    )]
    pub max_upload_bytes: usize,
    /// Most operations in one batched request.
    #[arg(long, env = "SHOUHU_MAX_BATCH", default_value_t = Limits::default().max_batch)]
    pub max_batch: usize,
    /// Deepest selection nesting.
    #[arg(long, env = "SHOUHU_MAX_DEPTH", default_value_t = Limits::default().max_depth)]
    pub max_depth: usize,
    /// Highest query complexity (one per field, times page sizes).
    #[arg(long, env = "SHOUHU_MAX_COMPLEXITY", default_value_t = Limits::default().max_complexity)]
    pub max_complexity: usize,
    /// Most aliases in one operation.
    #[arg(long, env = "SHOUHU_MAX_ALIASES", default_value_t = Limits::default().max_aliases)]
    pub max_aliases: usize,
}

#[derive(Subcommand, Debug)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last N migrations (default 1).
    Down {
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

#[derive(Subcommand, Debug)]
pub enum TenantAction {
    /// Onboard a district from its 6-digit division code.
    Create {
        /// The district's 6-digit statistical division code, e.g. 320506.
        #[arg(long)]
        code: String,
        /// The name users sign in with; d<code> by default.
        #[arg(long)]
        slug: Option<String>,
        /// Required without --divisions.
        #[arg(long)]
        name: Option<String>,
        /// Folder with areas.csv and streets.csv in the national format.
        #[arg(long)]
        divisions: Option<PathBuf>,
    },
    /// List districts.
    List,
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Create a user; the password is read from standard input.
    Create {
        /// The district's slug, e.g. wuzhong.
        #[arg(long)]
        tenant: String,
        /// 2-64 characters of a-z, 0-9, '.', '_' and '-'.
        #[arg(long)]
        username: String,
        /// A role name; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The org unit's code; the district itself by default.
        #[arg(long)]
        org_unit: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password from standard input (the only way to give it).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum OperatorAction {
    /// Create a platform operator; the password is read from standard input.
    Create {
        /// 2-64 characters of a-z, 0-9, '.', '_' and '-'.
        #[arg(long)]
        username: String,
        /// Read the password from standard input (the only way to give it).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrgunitAction {
    /// Add org units from CSV with the header parent_code,code,name and an
    /// optional kind column (street, town, community, village, other).
    Import {
        /// The district's slug.
        #[arg(long)]
        tenant: String,
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Check every chain; exits non-zero when an entry was altered or removed.
    Verify,
}

fn read_password() -> Result<String, ServerError> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let password = s.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(ServerError::Usage("no password on standard input".into()));
    }
    Ok(password)
}

/// The services for an administrative command, on a migrated database
/// (the command line runs with the schema owner's URL, like `migrate`).
async fn services(url: &str) -> Result<Services, ServerError> {
    crate::app::migrate_up(url).await?;
    let config = AppConfig::new(url);
    let db = Db::connect(url, 4).await?;
    Services::new(db, Arc::new(SystemClock), &config).await
}

pub(crate) async fn tenant_id(services: &Services, slug: &str) -> Result<TenantId, ServerError> {
    services
        .tenancy
        .tenant_by_slug(slug)
        .await?
        .map(|t| TenantId(t.id))
        .ok_or_else(|| ServerError::Usage(format!("no district with slug {slug}")))
}

/// Runs a command; the exit code is 0 on success.
pub async fn run(cli: Cli) -> Result<(), ServerError> {
    let url = cli.database_url;
    match cli.command {
        Command::Serve(args) => serve(&url, args).await,
        Command::Migrate { action } => {
            let db = Db::connect(&url, 2).await?;
            match action {
                MigrateAction::Up => {
                    Migrator::up(db.raw(), None).await?;
                    let applied = Migrator::get_applied_migrations(db.raw()).await?.len();
                    println!(
                        "migrations applied: {applied} of {}",
                        Migrator::migrations().len()
                    );
                }
                MigrateAction::Down { steps } => {
                    Migrator::down(db.raw(), Some(steps)).await?;
                    let applied = Migrator::get_applied_migrations(db.raw()).await?.len();
                    println!(
                        "migrations applied: {applied} of {}",
                        Migrator::migrations().len()
                    );
                }
                MigrateAction::Status => {
                    let applied: Vec<String> = Migrator::get_applied_migrations(db.raw())
                        .await?
                        .iter()
                        .map(|m| m.name().to_owned())
                        .collect();
                    for m in Migrator::migrations() {
                        let state = if applied.iter().any(|a| a == m.name()) {
                            "applied"
                        } else {
                            "pending"
                        };
                        println!("{:<24} {state}", m.name());
                    }
                }
            }
            Ok(())
        }
        Command::Tenant { action } => {
            let s = services(&url).await?;
            match action {
                TenantAction::Create {
                    code,
                    slug,
                    name,
                    divisions,
                } => {
                    let source = divisions.map(DivisionSource::new);
                    let created = s
                        .identity
                        .onboard(
                            &Principal::system(TenantId::PLATFORM),
                            &Actor::system("cli"),
                            Onboarding {
                                code,
                                slug,
                                name,
                                admin: None,
                            },
                            source.as_ref(),
                        )
                        .await?;
                    println!(
                        "created district {} ({}), slug {}",
                        created.name, created.code, created.slug
                    );
                }
                TenantAction::List => {
                    let all = s
                        .tenancy
                        .list_tenants(&Principal::system(TenantId::PLATFORM))
                        .await?;
                    for t in all {
                        println!("{}  {:<12} {}", t.code, t.slug, t.name);
                    }
                }
            }
            Ok(())
        }
        Command::User {
            action:
                UserAction::Create {
                    tenant,
                    username,
                    roles,
                    org_unit,
                    display_name,
                    password_stdin: _,
                },
        } => {
            let password = read_password()?;
            let s = services(&url).await?;
            let tid = tenant_id(&s, &tenant).await?;
            let unit_id = match org_unit {
                Some(code) => {
                    let tx = s.db.read(tid).await?;
                    let unit = s.tenancy.unit_by_code_in(&tx, &code).await?;
                    tx.commit().await?;
                    Some(
                        unit.ok_or_else(|| ServerError::Usage(format!("no org unit {code}")))?
                            .id,
                    )
                }
                None => None,
            };
            let created = s
                .identity
                .create_user(
                    &Principal::system(tid),
                    &Actor::system("cli"),
                    NewUser {
                        display_name: display_name.unwrap_or_else(|| username.clone()),
                        username,
                        password,
                        org_unit_id: unit_id,
                        roles,
                    },
                )
                .await?;
            println!("created user {} ({})", created.username, created.id);
            Ok(())
        }
        Command::Operator {
            action: OperatorAction::Create { username, .. },
        } => {
            let password = read_password()?;
            let s = services(&url).await?;
            let id = s.identity.create_operator(&username, &password).await?;
            println!("created operator {username} ({id})");
            Ok(())
        }
        Command::Orgunit {
            action: OrgunitAction::Import { tenant, file },
        } => {
            let s = services(&url).await?;
            let tid = tenant_id(&s, &tenant).await?;
            let reader = std::fs::File::open(&file)?;
            let added = s
                .tenancy
                .import_org_units_csv(&Principal::system(tid), &Actor::system("cli"), reader)
                .await?;
            println!("added {added} org units");
            Ok(())
        }
        Command::Audit {
            action: AuditAction::Verify,
        } => {
            let s = services(&url).await?;
            let tenants = s.tenancy.all_tenant_ids().await?;
            let report = s.audit.verify(&tenants).await?;
            for p in &report.problems {
                println!("chain {} entry {}: {}", p.tenant, p.seq, p.problem);
            }
            if report.is_intact() {
                println!(
                    "audit log intact: {} chains, {} entries",
                    report.chains, report.entries
                );
                Ok(())
            } else {
                Err(ServerError::Usage(format!(
                    "audit log broken: {} problems",
                    report.problems.len()
                )))
            }
        }
        Command::Schema => {
            print!("{}", crate::schema::sdl());
            Ok(())
        }
        Command::Import { action } => {
            let s = services(&url).await?;
            crate::import::run(&s, action).await
        }
        Command::Demo { action } => {
            let s = services(&url).await?;
            crate::generate::run(&s, action).await
        }
        Command::Plugin { action } => crate::plugin::run(action).await,
    }
}

async fn serve(url: &str, args: ServeArgs) -> Result<(), ServerError> {
    let mut config = AppConfig::new(url);
    config.migrate_url = if args.no_migrate {
        None
    } else {
        Some(args.migrate_database_url.unwrap_or_else(|| url.to_owned()))
    };
    config.allow_rls_bypass = args.allow_rls_bypass;
    config.max_connections = args.max_connections;
    config.divisions = args.divisions;
    config.token_secret = args.token_secret;
    config.token_ttl_minutes = args.token_ttl_minutes;
    config.principal_cache_ms = args.principal_cache_ms;
    config.limits = Limits {
        max_body_bytes: args.limits.max_body_bytes,
        max_upload_bytes: args.limits.max_upload_bytes,
        max_batch: args.limits.max_batch,
        max_depth: args.limits.max_depth,
        max_complexity: args.limits.max_complexity,
        max_aliases: args.limits.max_aliases,
        ..Limits::default()
    };
    let app = App::start_default(&config).await?;
    if args.demo {
        match crate::demo::ensure(&app.services).await? {
            Some(lines) => {
                let tenant = app
                    .services
                    .tenancy
                    .tenant_by_slug(crate::demo::DEMO_SLUG)
                    .await?
                    .map(|t| TenantId(t.id))
                    .ok_or_else(|| ServerError::Usage("the demo district vanished".into()))?;
                let made = crate::generate::populate_demo(&app.services, tenant).await?;
                println!(
                    "Demo district 吴中区 created with {} synthetic minors ({} in difficulty). \
                     Sign in with:",
                    made.minors, made.in_difficulty
                );
                for line in lines {
                    println!("{line}");
                }
            }
            None => println!(
                "Demo district 吴中区 exists; every demo account's password is {}",
                crate::demo::DEMO_PASSWORD
            ),
        }
    }
    // Bind before saying "serving", so that a port already taken is the last
    // thing printed rather than a line after the address it never served on.
    let acceptor = poem::listener::Listener::into_acceptor(poem::listener::TcpListener::bind(
        args.bind.clone(),
    ))
    .await
    .map_err(|e| ServerError::Usage(format!("cannot listen on {}: {e}", args.bind)))?;
    crate::app::spawn_casework_tick(&app.services, crate::app::CASEWORK_TICK);
    println!("Shouhu serving on http://{} (GraphiQL at /)", args.bind);
    tracing::info!(bind = %args.bind, "serving");
    poem::Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            crate::http::routes(app),
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
            Some(std::time::Duration::from_secs(10)),
        )
        .await?;
    Ok(())
}
