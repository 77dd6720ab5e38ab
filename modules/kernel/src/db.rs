//! Tenant-scoped database access.
//!
//! Every transaction is opened for one scope, a tenant or the platform, and
//! on PostgreSQL it sets `app.tenant_id` with `set_config(.., true)`: local
//! to that transaction, so a pooled connection never carries one request's
//! tenant into the next. Row-level security on every tenant-owned table
//! reads that setting and returns nothing when it is missing (fail closed).
//!
//! On SQLite this layer is the only wall, so queries on tenant-owned tables
//! go through [`ScopedTx::select`], [`ScopedTx::update`] and
//! [`ScopedTx::delete`], which add the tenant filter themselves, and inserts
//! through [`ScopedTx::insert`], which sets the tenant column. A tidy test
//! in the server crate refuses module code that calls `Entity::find()` or
//! its siblings on a tenant table directly.
//!
//! On PostgreSQL a transaction is opened with one simple-protocol message,
//! `BEGIN; SELECT set_config('app.tenant_id', '<uuid>', true)`, rather than
//! sea-orm's `BEGIN` followed by the setting (two round trips). The setting
//! stays transaction-local and a failure of either statement leaves no
//! transaction to run in. Read transactions begin `READ ONLY`, so that no
//! write can succeed in them, and are therefore ended by dropping them: the
//! `ROLLBACK` then travels with the check sqlx makes on every connection it
//! takes back into the pool, which saves the `COMMIT` round trip and cannot
//! lose a write.
//!
//! SQLite allows one writer at a time; concurrent write transactions would
//! otherwise fail with "database is locked". Write transactions therefore
//! take a process-wide lock on SQLite before they begin. (Running several
//! server processes on one SQLite file is not supported; PostgreSQL is the
//! multi-process backend.)

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{IntoCondition, Values};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sea_orm::sqlx::{self, Postgres};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnAcquireErr, ConnectOptions,
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    DeleteMany, EntityTrait, ExecResult, IntoActiveModel, QueryFilter, QueryResult, RuntimeErr,
    Select, SqlxSqliteConnector, Statement, TransactionTrait, UpdateMany,
};
use sea_query_binder::SqlxValues;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{ApiError, TenantId};

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The pool, and on SQLite the writers' lock.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    backend: Backend,
    write_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Connects to `sqlite:…` or `postgres://…`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbErr> {
        if url.starts_with("sqlite:") {
            let opts: SqliteConnectOptions = url
                .parse()
                .map_err(|e| DbErr::Custom(format!("bad SQLite URL: {e}")))?;
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let mut opts = opts
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if !in_memory {
                opts = opts.journal_mode(SqliteJournalMode::Wal);
            }
            // An in-memory database lives and dies with its one connection.
            let max = if in_memory { 1 } else { max_connections.max(2) };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .min_connections(if in_memory { 1 } else { 0 })
                .idle_timeout(None)
                .max_lifetime(None)
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .map_err(|e| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e)))?;
            let conn = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
            Ok(Db::from_connection(conn))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut opts = ConnectOptions::new(url.to_owned());
            opts.max_connections(max_connections)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                // A ping before every checkout costs a round trip per
                // transaction; a broken connection fails its query instead.
                .test_before_acquire(false)
                .sqlx_logging(false);
            let conn = Database::connect(opts).await?;
            Ok(Db::from_connection(conn))
        } else {
            Err(DbErr::Custom(
                "the database URL must start with sqlite: or postgres://".into(),
            ))
        }
    }

    pub fn from_connection(conn: DatabaseConnection) -> Db {
        let backend = match conn.get_database_backend() {
            DbBackend::Postgres => Backend::Postgres,
            _ => Backend::Sqlite,
        };
        Db {
            conn,
            backend,
            write_lock: Arc::new(Mutex::new(())),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The raw pool, for migrations, health checks and the platform tables
    /// that no tenant owns. Never use it for a tenant-owned table.
    pub fn raw(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// A read transaction in one tenant's scope.
    pub async fn read(&self, tenant: TenantId) -> Result<ScopedTx, ApiError> {
        self.begin(tenant, false).await
    }

    /// A write transaction in one tenant's scope.
    pub async fn write(&self, tenant: TenantId) -> Result<ScopedTx, ApiError> {
        self.begin(tenant, true).await
    }

    async fn begin(&self, tenant: TenantId, write: bool) -> Result<ScopedTx, ApiError> {
        let guard = if write && self.backend == Backend::Sqlite {
            Some(self.write_lock.clone().lock_owned().await)
        } else {
            None
        };
        if self.backend == Backend::Postgres {
            // The tenant is a UUID, whose text is hex digits and dashes, so
            // it can be written into the statement; the simple protocol
            // that runs two statements in one message takes no parameters.
            let mode = if write { "" } else { " READ ONLY" };
            let begin = format!(
                "BEGIN{mode}; SELECT set_config('app.tenant_id', '{}', true)",
                tenant.0.hyphenated()
            );
            let tx = self
                .conn
                .get_postgres_connection_pool()
                .begin_with(begin)
                .await
                .map_err(sqlx_begin_err)?;
            return Ok(ScopedTx {
                tx: ScopedConn::Postgres(Mutex::new(tx)),
                tenant,
                backend: self.backend,
                read_only: !write,
                _guard: guard,
            });
        }
        let tx = self.conn.begin().await?;
        Ok(ScopedTx {
            tx: ScopedConn::SeaOrm(tx),
            tenant,
            backend: self.backend,
            read_only: !write,
            _guard: guard,
        })
    }

    /// Whether the database answers; for `/readyz`.
    pub async fn ping(&self) -> bool {
        self.conn.ping().await.is_ok()
    }
}

/// A transaction bound to one tenant (or the platform scope).
pub struct ScopedTx {
    tx: ScopedConn,
    tenant: TenantId,
    backend: Backend,
    /// Begun `READ ONLY` (PostgreSQL) and ended without a `COMMIT`.
    read_only: bool,
    _guard: Option<OwnedMutexGuard<()>>,
}

/// The connection of a [`ScopedTx`]: sea-orm's transaction on SQLite, and
/// on PostgreSQL an sqlx transaction that was begun together with its
/// tenant setting (see the module's notes). Both run sea-orm's statements.
pub enum ScopedConn {
    SeaOrm(DatabaseTransaction),
    Postgres(Mutex<sqlx::Transaction<'static, Postgres>>),
}

// The error mappings of sea-orm's own driver, which it does not export.
fn sqlx_error_to_exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(err))
}

fn sqlx_error_to_query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(err))
}

fn sqlx_begin_err(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        other => DbErr::Conn(RuntimeErr::SqlxError(other)),
    }
}

/// sea-orm's statement as an sqlx query, as sea-orm's own driver builds it.
fn pg_query(stmt: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt.values.clone().unwrap_or(Values(Vec::new()));
    sqlx::query_with(&stmt.sql, SqlxValues(values))
}

#[async_trait::async_trait]
impl ConnectionTrait for ScopedConn {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            ScopedConn::SeaOrm(tx) => tx.get_database_backend(),
            ScopedConn::Postgres(_) => DbBackend::Postgres,
        }
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            ScopedConn::SeaOrm(tx) => tx.execute(stmt).await,
            ScopedConn::Postgres(tx) => {
                let mut tx = tx.lock().await;
                pg_query(&stmt)
                    .execute(&mut **tx)
                    .await
                    .map(Into::into)
                    .map_err(sqlx_error_to_exec_err)
            }
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            ScopedConn::SeaOrm(tx) => tx.execute_unprepared(sql).await,
            ScopedConn::Postgres(tx) => {
                let mut tx = tx.lock().await;
                sqlx::Executor::execute(&mut **tx, sql)
                    .await
                    .map(Into::into)
                    .map_err(sqlx_error_to_exec_err)
            }
        }
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            ScopedConn::SeaOrm(tx) => tx.query_one(stmt).await,
            ScopedConn::Postgres(tx) => {
                let mut tx = tx.lock().await;
                pg_query(&stmt)
                    .fetch_optional(&mut **tx)
                    .await
                    .map(|row| row.map(Into::into))
                    .map_err(sqlx_error_to_query_err)
            }
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            ScopedConn::SeaOrm(tx) => tx.query_all(stmt).await,
            ScopedConn::Postgres(tx) => {
                let mut tx = tx.lock().await;
                pg_query(&stmt)
                    .fetch_all(&mut **tx)
                    .await
                    .map(|rows| rows.into_iter().map(Into::into).collect())
                    .map_err(sqlx_error_to_query_err)
            }
        }
    }
}

/// A table that a tenant owns: it names its tenant column so that the scope
/// can be applied without the caller remembering to.
pub trait TenantScoped: EntityTrait {
    fn tenant_column() -> Self::Column;
}

/// Declares, inside a sea-orm entity module whose table has a `tenant_id`
/// column, that the entity is tenant-scoped: `shouhu_kernel::tenant_scoped!();`.
#[macro_export]
macro_rules! tenant_scoped {
    () => {
        impl $crate::TenantScoped for Entity {
            fn tenant_column() -> Column {
                Column::TenantId
            }
        }
    };
}

impl ScopedTx {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Moves this transaction to another tenant's scope. Only onboarding,
    /// which creates a tenant and its first rows in one transaction, and the
    /// audit log, which also writes the platform chain, need this.
    pub async fn switch_tenant(&mut self, tenant: TenantId) -> Result<(), ApiError> {
        self.tenant = tenant;
        self.apply_scope().await
    }

    async fn apply_scope(&self) -> Result<(), ApiError> {
        if self.backend == Backend::Postgres {
            self.tx
                .execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT set_config('app.tenant_id', $1, true)",
                    [self.tenant.0.to_string().into()],
                ))
                .await?;
        }
        Ok(())
    }

    /// `SELECT … WHERE tenant_id = <this tenant>`.
    pub fn select<E: TenantScoped>(&self) -> Select<E> {
        E::find().filter(E::tenant_column().eq(self.tenant.0))
    }

    /// `UPDATE … WHERE tenant_id = <this tenant>`.
    pub fn update<E: TenantScoped>(&self) -> UpdateMany<E> {
        E::update_many().filter(E::tenant_column().eq(self.tenant.0))
    }

    /// `DELETE … WHERE tenant_id = <this tenant> AND <condition>`.
    pub fn delete<E: TenantScoped>(&self, condition: impl IntoCondition) -> DeleteMany<E> {
        E::delete_many()
            .filter(E::tenant_column().eq(self.tenant.0))
            .filter(condition)
    }

    /// Inserts a row into this tenant, whatever tenant the model carried.
    /// A unique-key clash is CONFLICT; since every unique key starts with
    /// the tenant, it can only be about this tenant's own rows. Services
    /// check first to give a precise message; this covers the race.
    pub async fn insert<E, A>(&self, mut model: A) -> Result<E::Model, ApiError>
    where
        E: TenantScoped,
        A: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        model.set(E::tenant_column(), self.tenant.0.into());
        match model.insert(&self.tx).await {
            Ok(m) => Ok(m),
            Err(e) if is_unique_violation(&e) => Err(ApiError::conflict(
                "input",
                "a record with the same key exists in this district",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Inserts many rows into this tenant with one multi-row statement,
    /// whatever tenant the models carried; returns how many were given.
    /// For bulk loads (synthetic data, imports), where a statement per row
    /// would cost a round trip each. The caller keeps each batch within the
    /// backend's limit of bound parameters (SQLite: 32,766; PostgreSQL:
    /// 65,535), i.e. rows × columns. A unique-key clash is CONFLICT, as for
    /// [`ScopedTx::insert`].
    pub async fn insert_many<E, A>(&self, models: Vec<A>) -> Result<u64, ApiError>
    where
        E: TenantScoped,
        A: ActiveModelTrait<Entity = E> + Send,
        E::Model: IntoActiveModel<A>,
    {
        if models.is_empty() {
            return Ok(0);
        }
        let count = models.len() as u64;
        let scoped = models.into_iter().map(|mut model| {
            model.set(E::tenant_column(), self.tenant.0.into());
            model
        });
        match E::insert_many(scoped)
            .exec_without_returning(&self.tx)
            .await
        {
            Ok(_) => Ok(count),
            Err(e) if is_unique_violation(&e) => Err(ApiError::conflict(
                "input",
                "a record with the same key exists in this district",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// PostgreSQL only: runs `statement`, a `COPY … FROM STDIN`, on this
    /// transaction's connection and sends `data` as its rows, in the format
    /// the statement names; returns the rows PostgreSQL took.
    ///
    /// PostgreSQL refuses `COPY FROM` into a table with row-level security,
    /// so a bulk load copies into a temporary table of this transaction and
    /// moves the rows on with `INSERT … SELECT`, where the policy still
    /// checks every row. A temporary table belongs to the session, which is
    /// why this goes through the transaction's own connection. On SQLite it
    /// is an internal error: callers keep their multi-row `INSERT`s there.
    pub async fn copy_in(&self, statement: &str, data: &[u8]) -> Result<u64, ApiError> {
        let ScopedConn::Postgres(tx) = &self.tx else {
            return Err(ApiError::internal("COPY is available on PostgreSQL only"));
        };
        if self.read_only {
            return Err(ApiError::internal("COPY in a read-only transaction"));
        }
        let mut tx = tx.lock().await;
        let mut copy = tx
            .copy_in_raw(statement)
            .await
            .map_err(sqlx_error_to_exec_err)?;
        if let Err(e) = copy.send(data).await {
            // Ending the COPY explicitly keeps the connection usable for the rollback.
            let _ = copy.abort("the client could not send the rows").await;
            return Err(sqlx_error_to_exec_err(e).into());
        }
        Ok(copy.finish().await.map_err(sqlx_error_to_exec_err)?)
    }

    /// The transaction, to execute the scoped statements built above and
    /// platform-table statements.
    pub fn conn(&self) -> &ScopedConn {
        &self.tx
    }

    /// Commits a write transaction. A PostgreSQL read transaction, which
    /// is `READ ONLY` and so holds nothing to commit, is dropped instead:
    /// its `ROLLBACK` is sent with the pool's check of the returned
    /// connection, one round trip fewer per request.
    pub async fn commit(self) -> Result<(), ApiError> {
        match self.tx {
            ScopedConn::SeaOrm(tx) => tx.commit().await?,
            ScopedConn::Postgres(_) if self.read_only => {}
            ScopedConn::Postgres(tx) => tx
                .into_inner()
                .commit()
                .await
                .map_err(sqlx_error_to_exec_err)?,
        }
        Ok(())
    }
}

/// Whether a database error is a unique-constraint violation, so that a
/// service can turn it into CONFLICT (about its own tenant's data only).
pub fn is_unique_violation(err: &DbErr) -> bool {
    let text = err.to_string();
    text.contains("UNIQUE constraint failed")
        || text.contains("duplicate key value violates unique constraint")
}
