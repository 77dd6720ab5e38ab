//! The audit log: administrative changes and denials are recorded, district
//! admins read their own district's entries, and `audit verify` finds an
//! entry that was edited or deleted behind the application's back.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use shouhu_e2e::TestServer;

/// (intact, problems, entries) of every chain.
async fn verify(s: &TestServer) -> (bool, Vec<String>, u64) {
    let tenants = s.app.services.tenancy.all_tenant_ids().await.unwrap();
    let r = s.app.services.audit.verify(&tenants).await.unwrap();
    let problems = r.problems.iter().map(|p| p.problem.clone()).collect();
    (r.is_intact(), problems, r.entries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_and_denials_are_chained_and_tampering_is_found() {
    for s in TestServer::all().await {
        let admin = s.login("wuzhong", "admin").await;
        let officer = s.login("wuzhong", "changqiao").await;
        assert_eq!(
            s.gql(
                Some(&officer),
                "{ users { edges { node { id } } } }",
                json!({})
            )
            .await
            .code(),
            "FORBIDDEN"
        );
        let log = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 200) { edges { node { seq action outcome actorKind \
                 targetKind requestId } } } }",
                json!({}),
            )
            .await;
        let text = log.data().to_string();
        for action in [
            "tenant.onboard",
            "orgunit.create",
            "user.create",
            "auth.login",
        ] {
            assert!(text.contains(action), "{action} missing from the log");
        }
        assert!(text.contains("permission.denied"));
        assert!(text.contains("\"outcome\":\"denied\""));
        // The other district's log holds none of this district's entries.
        let other = s.login("huqiu", "admin").await;
        let theirs = s
            .gql(
                Some(&other),
                "{ auditLog(first: 200) { edges { node { action } } } }",
                json!({}),
            )
            .await;
        assert!(!theirs.data().to_string().contains("permission.denied"));

        let (intact, problems, entries) = verify(&s).await;
        assert!(intact, "{problems:?}");
        assert!(entries > 50);

        // The application's role cannot change an entry.
        let app_conn = sea_orm::Database::connect(&s.db.url).await.unwrap();
        let backend = app_conn.get_database_backend();
        if s.kind() == "postgres" {
            let refused = app_conn
                .execute(Statement::from_string(
                    backend,
                    "UPDATE audit_log SET outcome = 'ok'",
                ))
                .await;
            assert!(refused.is_err());
        }
        // Someone with the owner's access edits one entry and deletes
        // another; verify reports both.
        let owner = s.db.owner().await;
        let disable = match s.kind() {
            "postgres" => vec!["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"],
            _ => vec![
                "DROP TRIGGER audit_log_no_update",
                "DROP TRIGGER audit_log_no_delete",
            ],
        };
        // The append-only trigger refuses first.
        assert!(owner
            .execute(Statement::from_string(
                backend,
                "UPDATE audit_log SET outcome = 'ok' WHERE outcome = 'denied'",
            ))
            .await
            .is_err());
        for stmt in disable {
            owner
                .execute(Statement::from_string(backend, stmt))
                .await
                .unwrap();
        }
        owner
            .execute(Statement::from_string(
                backend,
                "UPDATE audit_log SET outcome = 'ok' WHERE outcome = 'denied'",
            ))
            .await
            .unwrap();
        let (intact, problems, _) = verify(&s).await;
        assert!(!intact);
        assert!(problems.iter().any(|p| p.contains("altered")));
        owner
            .execute(Statement::from_string(
                backend,
                "DELETE FROM audit_log WHERE seq = 3",
            ))
            .await
            .unwrap();
        let (_, problems, _) = verify(&s).await;
        assert!(problems.iter().any(|p| p.contains("missing")));
    }
}
