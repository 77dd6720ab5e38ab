//! Tenant isolation: a user of one district gets NOT_FOUND for every object
//! of another, by list and by id; on PostgreSQL, a query that leaves out the
//! tenant filter still sees only its own district's rows.

use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;
use shouhu_e2e::{TestServer, OTHER_SLUG};
use shouhu_kernel::TenantId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_district_sees_nothing_of_wuzhong() {
    let mut kinds = Vec::new();
    for s in TestServer::all().await {
        kinds.push(s.kind());
        let street = s.unit_id("wuzhong", "320506001").await;
        let wz_admin = s.login("wuzhong", "admin").await;
        let key = s
            .gql(
                Some(&wz_admin),
                "mutation { createApiKey(input: { name: \"k\", role: \"evaluator\" }) \
                 { apiKey { id } } }",
                json!({}),
            )
            .await;
        let key_id = key.data()["createApiKey"]["apiKey"]["id"].clone();

        for who in ["admin", "officer"] {
            let t = s.login(OTHER_SLUG, who).await;
            // By id.
            let a = s
                .gql(
                    Some(&t),
                    "query($id: ID!) { orgUnit(id: $id) { id } }",
                    json!({ "id": street }),
                )
                .await;
            assert_eq!(a.code(), "NOT_FOUND", "{} {who}: {}", s.kind(), a.body);
            // By list: nothing of 320506 anywhere.
            let a = s
                .gql(
                    Some(&t),
                    "{ orgUnits(first: 200) { edges { node { path } } } }",
                    json!({}),
                )
                .await;
            let edges = a.data()["orgUnits"]["edges"].as_array().unwrap().clone();
            assert!(!edges.is_empty());
            assert!(edges
                .iter()
                .all(|e| e["node"]["path"].as_str().unwrap().starts_with("/320505/")));
            // Narrowing a list to a foreign unit is NOT_FOUND, not empty.
            let a = s
                .gql(
                    Some(&t),
                    "query($u: ID) { orgUnits(under: $u) { edges { node { id } } } }",
                    json!({ "u": street }),
                )
                .await;
            assert_eq!(a.code(), "NOT_FOUND");
        }
        let t = s.login(OTHER_SLUG, "admin").await;
        let users = s
            .gql(
                Some(&t),
                "{ users(first: 200) { edges { node { username } } } }",
                json!({}),
            )
            .await;
        let names: Vec<String> = users.data()["users"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["username"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, vec!["admin", "officer"], "{}", s.kind());
        let keys = s.gql(Some(&t), "{ apiKeys { id } }", json!({})).await;
        assert_eq!(keys.data()["apiKeys"], json!([]));
        // Writes that name a foreign object are NOT_FOUND too, and write
        // nothing.
        let a = s
            .gql(
                Some(&t),
                "mutation($id: ID!) { revokeApiKey(id: $id) }",
                json!({ "id": key_id }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND");
        let a = s
            .gql(
                Some(&t),
                "mutation($p: ID!) { createOrgUnit(input: { parentId: $p, code: \"x1\", \
                 name: \"越界社区\" }) { id } }",
                json!({ "p": street }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND");
        let a = s
            .gql(
                Some(&t),
                "mutation($u: ID) { createUser(input: { username: \"spy\", displayName: \"x\", \
                 password: \"a long password\", orgUnitId: $u, roles: [\"evaluator\"] }) { id } }",
                json!({ "u": street }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND");
        // The key of wuzhong still works: the failed revoke touched nothing.
        let log = s
            .gql(
                Some(&t),
                "{ auditLog(first: 200) { edges { node { targetId } } } }",
                json!({}),
            )
            .await;
        assert!(!log.body.to_string().contains(key_id.as_str().unwrap()));
        // A username of wuzhong does not sign in to another district.
        assert_eq!(
            s.try_login(OTHER_SLUG, "changqiao", shouhu_e2e::DEMO_PASSWORD)
                .await
                .unwrap_err()
                .code(),
            "UNAUTHENTICATED"
        );
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        assert!(
            kinds.contains(&"postgres"),
            "CI must run the PostgreSQL suites"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_level_security_holds_without_a_tenant_filter() {
    let Some(db) = shouhu_migrations::testing::TestDatabase::postgres().await else {
        return;
    };
    let s = TestServer::start(db).await;
    let wz = s
        .app
        .services
        .tenancy
        .tenant_by_slug("wuzhong")
        .await
        .unwrap()
        .unwrap();
    let hq = s
        .app
        .services
        .tenancy
        .tenant_by_slug(OTHER_SLUG)
        .await
        .unwrap()
        .unwrap();
    let identity = &s.app.services.identity;
    // `SELECT COUNT(*) FROM users` with no WHERE clause, in each scope.
    let in_wz = identity
        .count_users_unfiltered(TenantId(wz.id))
        .await
        .unwrap();
    let in_hq = identity
        .count_users_unfiltered(TenantId(hq.id))
        .await
        .unwrap();
    assert_eq!(in_wz, shouhu::demo::DEMO_ACCOUNTS.len() as i64);
    assert_eq!(in_hq, 2);
    // Outside any scope, the app role sees no tenant rows at all (fail
    // closed), even of tables it may read.
    let conn = Database::connect(&s.db.url).await.unwrap();
    for table in ["users", "org_units", "roles", "audit_log", "sessions"] {
        let row = conn
            .query_one(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        let n: i64 = row.try_get("", "n").unwrap();
        assert_eq!(n, 0, "{table} visible without a tenant");
    }
    // A session-level SET does not leak into a later transaction's scope
    // decision: the server sets the tenant per transaction only, and a
    // write claiming another tenant's id is refused by the policy.
    let err = conn
        .execute(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "INSERT INTO roles (tenant_id, id, name, label, builtin, created_at_ms) \
                 VALUES ('{}', gen_random_uuid(), 'x', 'x', false, 0)",
                hq.id
            ),
        ))
        .await;
    assert!(err.is_err(), "an insert outside the scope must be refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_refuses_a_role_that_bypasses_rls() {
    let Some(db) = shouhu_migrations::testing::TestDatabase::postgres().await else {
        return;
    };
    // The owner URL connects as the superuser.
    let mut config = shouhu::AppConfig::new(db.owner_url.clone());
    config.migrate_url = None;
    let refused = shouhu::App::start_default(&config).await;
    let err = refused
        .err()
        .expect("a superuser must be refused")
        .to_string();
    assert!(err.contains("bypass row-level security"), "{err}");
    config.allow_rls_bypass = true;
    assert!(shouhu::App::start_default(&config).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_role_reaches_a_second_server_process() {
    let Some(db) = shouhu_migrations::testing::TestDatabase::postgres().await else {
        return;
    };
    let s = TestServer::start(db).await;
    // A second server on the same database, started before the role exists.
    let mut config = shouhu::AppConfig::new(s.db.url.clone());
    config.migrate_url = None;
    let second = shouhu::App::start_default(&config).await.unwrap();
    let admin = s.login("wuzhong", "admin").await;
    s.gql(
        Some(&admin),
        "mutation { createRole(input: { name: \"auditor\", label: \"审计\", \
         permissions: [\"audit:read\"] }) { name } }",
        json!({}),
    )
    .await
    .data();
    s.gql(
        Some(&admin),
        "mutation { createUser(input: { username: \"aud\", displayName: \"审计员\", \
         password: \"a long password\", roles: [\"auditor\"] }) { id } }",
        json!({}),
    )
    .await
    .data();
    let token = s
        .try_login("wuzhong", "aud", "a long password")
        .await
        .unwrap();
    // Tokens are signed with the key both processes share.
    let p = second.services.identity.authenticate(&token).await.unwrap();
    assert!(p.has(shouhu_policies::Permission::AuditRead));
}
