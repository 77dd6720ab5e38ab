//! Sign-in, lockout, sign-out, API keys and custom roles, over HTTP.

use serde_json::json;
use shouhu_e2e::{TestServer, DEMO_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn street_officer_reads_me_and_their_street() {
    for s in TestServer::all().await {
        let t = s.login("wuzhong", "changqiao").await;
        let a = s
            .gql(
                Some(&t),
                "{ me { kind roles permissions user { username } tenant { name code } \
                 orgUnit { name code } } \
                 orgUnits(first: 50) { edges { node { code name path kind } } } }",
                json!({}),
            )
            .await;
        let d = a.data();
        assert_eq!(d["me"]["tenant"]["name"], "吴中区");
        assert_eq!(d["me"]["orgUnit"]["name"], "长桥街道");
        assert_eq!(d["me"]["roles"], json!(["street_officer"]));
        assert!(d["me"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("orgunit:read")));
        let edges = d["orgUnits"]["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 4, "the street and its three communities");
        assert!(edges.iter().all(|e| e["node"]["path"]
            .as_str()
            .unwrap()
            .starts_with("/320506/320506001/")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_lock_for_fifteen_minutes() {
    for s in TestServer::all().await {
        for i in 1..=5 {
            let a = s
                .try_login("wuzhong", "yuexi", "wrong password")
                .await
                .unwrap_err();
            assert_eq!(a.code(), "UNAUTHENTICATED");
            let locked = a.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("locked");
            assert_eq!(locked, i == 5, "attempt {i}: {}", a.body);
        }
        // Even the right password is refused while locked.
        let a = s
            .try_login("wuzhong", "yuexi", DEMO_PASSWORD)
            .await
            .unwrap_err();
        assert!(a.body.to_string().contains("locked"));
        s.clock.advance_minutes(14);
        assert!(s
            .try_login("wuzhong", "yuexi", DEMO_PASSWORD)
            .await
            .is_err());
        s.clock.advance_minutes(2);
        s.try_login("wuzhong", "yuexi", DEMO_PASSWORD)
            .await
            .expect("unlocked after 15 minutes");
        // Failures spread beyond the window do not lock.
        for _ in 0..4 {
            let _ = s.try_login("wuzhong", "yuexi", "wrong").await;
            s.clock.advance_minutes(5);
        }
        let _ = s.try_login("wuzhong", "yuexi", "wrong").await;
        s.try_login("wuzhong", "yuexi", DEMO_PASSWORD)
            .await
            .expect("not locked: failures spread over 20 minutes");
        // Every attempt is in the audit log.
        let admin = s.login("wuzhong", "admin").await;
        let log = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 200, action: \"auth.login\") { edges { node { outcome } } } }",
                json!({}),
            )
            .await;
        let failed = log.data()["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["outcome"] == "failed")
            .count();
        assert!(failed >= 12, "{} failed sign-ins audited", failed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_revokes_and_tokens_expire() {
    for s in TestServer::all().await {
        let t = s.login("wuzhong", "centre").await;
        assert_eq!(
            s.gql(Some(&t), "{ me { id } }", json!({})).await.code(),
            "OK"
        );
        assert_eq!(
            s.gql(Some(&t), "mutation { logout }", json!({}))
                .await
                .code(),
            "OK"
        );
        assert_eq!(
            s.gql(Some(&t), "{ me { id } }", json!({})).await.code(),
            "UNAUTHENTICATED"
        );
        let t = s.login("wuzhong", "centre").await;
        s.clock.advance_minutes(8 * 60 + 1);
        assert_eq!(
            s.gql(Some(&t), "{ me { id } }", json!({})).await.code(),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            s.gql(Some("garbage"), "{ me { id } }", json!({}))
                .await
                .code(),
            "UNAUTHENTICATED"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_shown_once_scoped_and_revocable() {
    for s in TestServer::all().await {
        let admin = s.login("wuzhong", "admin").await;
        let street = s.unit_id("wuzhong", "320506001").await;
        let expires = "2027-01-20T00:00:00Z";
        let a = s
            .gql(
                Some(&admin),
                "mutation($u: ID, $e: DateTime) { createApiKey(input: { name: \"ledger sync\", \
                 role: \"street_officer\", orgUnitId: $u, expiresAt: $e }) \
                 { secret apiKey { id role } } }",
                json!({ "u": street, "e": expires }),
            )
            .await;
        let secret = a.data()["createApiKey"]["secret"]
            .as_str()
            .unwrap()
            .to_owned();
        let id = a.data()["createApiKey"]["apiKey"]["id"].clone();
        assert!(secret.starts_with("shk_"));
        let me = s
            .gql(
                Some(&secret),
                "{ me { kind roles } orgUnits(first: 50) { edges { node { code } } } }",
                json!({}),
            )
            .await;
        assert_eq!(me.data()["me"]["kind"], "api_key");
        assert_eq!(me.data()["orgUnits"]["edges"].as_array().unwrap().len(), 4);
        // The list never shows the secret again.
        let list = s
            .gql(Some(&admin), "{ apiKeys { id name role } }", json!({}))
            .await;
        assert!(!list.body.to_string().contains(&secret[40..]));
        // A wrong secret for a real key id fails.
        let forged = format!("{}x", &secret[..secret.len() - 1]);
        assert_eq!(
            s.gql(Some(&forged), "{ me { id } }", json!({}))
                .await
                .code(),
            "UNAUTHENTICATED"
        );
        assert_eq!(
            s.gql(
                Some(&admin),
                "mutation($id: ID!) { revokeApiKey(id: $id) }",
                json!({ "id": id })
            )
            .await
            .code(),
            "OK"
        );
        assert_eq!(
            s.gql(Some(&secret), "{ me { id } }", json!({}))
                .await
                .code(),
            "UNAUTHENTICATED"
        );
        // Expiry.
        let a = s
            .gql(
                Some(&admin),
                "mutation($e: DateTime) { createApiKey(input: { name: \"short\", \
                 role: \"evaluator\", expiresAt: $e }) { secret } }",
                json!({ "e": expires }),
            )
            .await;
        let short = a.data()["createApiKey"]["secret"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            s.gql(Some(&short), "{ me { id } }", json!({})).await.code(),
            "OK"
        );
        s.clock.advance_minutes(60 * 24 * 400);
        assert_eq!(
            s.gql(Some(&short), "{ me { id } }", json!({})).await.code(),
            "UNAUTHENTICATED"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_roles_take_effect_without_restart() {
    for s in TestServer::all().await {
        let admin = s.login("wuzhong", "admin").await;
        let a = s
            .gql(
                Some(&admin),
                "mutation { createRole(input: { name: \"grid_viewer\", label: \"网格查看\", \
                 permissions: [\"orgunit:read\", \"user:read\"] }) { name permissions } }",
                json!({}),
            )
            .await;
        assert_eq!(
            a.data()["createRole"]["permissions"],
            json!(["orgunit:read", "user:read"])
        );
        s.gql(
            Some(&admin),
            "mutation { createUser(input: { username: \"viewer\", displayName: \"查看员\", \
             password: \"a long password\", roles: [\"grid_viewer\"] }) { id } }",
            json!({}),
        )
        .await
        .data();
        let t = s
            .try_login("wuzhong", "viewer", "a long password")
            .await
            .expect("the new user signs in");
        assert_eq!(
            s.gql(
                Some(&t),
                "{ users(first: 1) { edges { node { id } } } }",
                json!({})
            )
            .await
            .code(),
            "OK"
        );
        assert_eq!(
            s.gql(Some(&t), "{ roles { name } }", json!({}))
                .await
                .code(),
            "FORBIDDEN"
        );
        // The role is the district's own: 虎丘区 has no such role.
        let other = s.login("huqiu", "admin").await;
        let roles = s.gql(Some(&other), "{ roles { name } }", json!({})).await;
        assert!(!roles.body.to_string().contains("grid_viewer"));
        // Bad input names the field.
        for (perms, field) in [
            (json!(["minor:fly"]), "input.permissions"),
            (json!(["tenant:manage"]), "input.permissions"),
        ] {
            let a = s
                .gql(
                    Some(&admin),
                    "mutation($p: [String!]!) { createRole(input: { name: \"bad_role\", \
                     label: \"x\", permissions: $p }) { name } }",
                    json!({ "p": perms }),
                )
                .await;
            assert_eq!(a.code(), "BAD_USER_INPUT");
            assert_eq!(a.field().as_deref(), Some(field));
        }
        let a = s
            .gql(
                Some(&admin),
                "mutation { createRole(input: { name: \"street_officer\", label: \"x\", \
                 permissions: [\"stats:read\"] }) { name } }",
                json!({}),
            )
            .await;
        assert_eq!(a.code(), "BAD_USER_INPUT");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_input_errors_carry_codes_and_fields() {
    for s in TestServer::all().await {
        let admin = s.login("wuzhong", "admin").await;
        let create = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }";
        let cases = [
            (
                json!({ "username": "X", "displayName": "x", "password": "a long password",
                     "roles": ["evaluator"] }),
                "BAD_USER_INPUT",
                "input.username",
            ),
            (
                json!({ "username": "short.pw", "displayName": "x", "password": "short",
                     "roles": ["evaluator"] }),
                "BAD_USER_INPUT",
                "input.password",
            ),
            (
                json!({ "username": "digits", "displayName": "x", "password": "1234567890",
                     "roles": ["evaluator"] }),
                "BAD_USER_INPUT",
                "input.password",
            ),
            (
                json!({ "username": "same.pw.user", "displayName": "x",
                     "password": "same.pw.user", "roles": ["evaluator"] }),
                "BAD_USER_INPUT",
                "input.password",
            ),
            (
                json!({ "username": "blank", "displayName": "x", "password": "            ",
                     "roles": ["evaluator"] }),
                "BAD_USER_INPUT",
                "input.password",
            ),
            (
                json!({ "username": "norole", "displayName": "x", "password": "a long password",
                     "roles": ["astronaut"] }),
                "BAD_USER_INPUT",
                "input.roles",
            ),
            (
                json!({ "username": "changqiao", "displayName": "x",
                     "password": "a long password", "roles": ["evaluator"] }),
                "CONFLICT",
                "input.username",
            ),
        ];
        for (input, code, field) in cases {
            let a = s.gql(Some(&admin), create, json!({ "i": input })).await;
            assert_eq!(a.code(), code, "{}", a.body);
            assert_eq!(a.field().as_deref(), Some(field), "{}", a.body);
        }
        // A display name with a middle dot and a rare character is fine.
        s.gql(
            Some(&admin),
            create,
            json!({ "i": { "username": "aili", "displayName": "艾力·买买提𠮷",
                           "password": "a long password", "roles": ["evaluator"] } }),
        )
        .await
        .data();
        let op = s.login("platform", "operator").await;
        let onboard = "mutation($c: String!) { createTenant(input: { code: $c, name: \"x\" }) \
                       { id } }";
        for (code, expected) in [
            ("320500", "BAD_USER_INPUT"),
            ("32050", "BAD_USER_INPUT"),
            ("320505", "CONFLICT"),
        ] {
            let a = s.gql(Some(&op), onboard, json!({ "c": code })).await;
            assert_eq!(a.code(), expected, "{code}: {}", a.body);
            assert_eq!(a.field().as_deref(), Some("input.code"));
        }
        if shouhu_e2e::divisions_dir().is_some() {
            let a = s.gql(Some(&op), onboard, json!({ "c": "320599" })).await;
            assert_eq!(a.code(), "BAD_USER_INPUT");
            assert!(a.body.to_string().contains("not in the division files"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_outrun_the_lockout() {
    for s in TestServer::all().await {
        let s = std::sync::Arc::new(s);
        for (tenant, user) in [("wuzhong", "yuexi"), ("platform", "operator")] {
            let mut guesses = tokio::task::JoinSet::new();
            for i in 0..12 {
                let s = s.clone();
                guesses.spawn(async move {
                    let _ = s.try_login(tenant, user, &format!("wrong guess {i}")).await;
                });
            }
            while guesses.join_next().await.is_some() {}
            let a = s.try_login(tenant, user, DEMO_PASSWORD).await.unwrap_err();
            assert!(
                a.body.to_string().contains("locked"),
                "{} {tenant}/{user}: {}",
                s.kind(),
                a.body
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_hold_for_codes_keys_and_the_audit_log() {
    for s in TestServer::all().await {
        let admin = s.login("wuzhong", "admin").await;
        let root = s.unit_id("wuzhong", "320506").await;
        let make =
            |code: &str| json!({ "i": { "parentId": root, "code": code, "name": "测试街道" } });
        let create = "mutation($i: CreateOrgUnitInput!) { createOrgUnit(input: $i) { code } }";
        let a = s.gql(Some(&admin), create, make("ab1")).await;
        assert_eq!(a.data()["createOrgUnit"]["code"], "AB1");
        // One case only: `AB1` is the same unit.
        assert_eq!(
            s.gql(Some(&admin), create, make("AB1")).await.code(),
            "CONFLICT"
        );
        // A numeric code nests in its parent's: another district's division
        // code cannot be taken for a street of this one.
        let a = s.gql(Some(&admin), create, make("320505099")).await;
        assert_eq!(
            (a.code(), a.field()),
            ("BAD_USER_INPUT".into(), Some("input.code".into()))
        );
        let a = s.gql(Some(&admin), create, make("320506099")).await;
        assert_eq!(a.data()["createOrgUnit"]["code"], "320506099");
        // A district admin posted to a street keeps to the street for the
        // district's keys and audit log.
        let street = s.unit_id("wuzhong", "320506001").await;
        s.gql(
            Some(&admin),
            "mutation($u: ID) { createUser(input: { username: \"cqadmin\", displayName: \"x\", \
             password: \"a long password\", orgUnitId: $u, roles: [\"district_admin\"] }) \
             { id } }",
            json!({ "u": street }),
        )
        .await
        .data();
        let t = s
            .try_login("wuzhong", "cqadmin", "a long password")
            .await
            .unwrap();
        for q in [
            "{ apiKeys { id } }",
            "{ auditLog { edges { node { seq } } } }",
        ] {
            assert_eq!(
                s.gql(Some(&t), q, json!({})).await.code(),
                "FORBIDDEN",
                "{q}"
            );
        }
        let users = s
            .gql(
                Some(&t),
                "{ users(first: 200) { edges { node { username } } } }",
                json!({}),
            )
            .await;
        let text = users.data().to_string();
        assert!(
            text.contains("changqiao") && !text.contains("yuexi"),
            "{text}"
        );
    }
}

/// The grant rule: `role:manage` and `user:manage` hand on only what the
/// caller holds, so they cannot be turned into more access (the security
/// test's findings 1-3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_grants_what_they_do_not_hold() {
    for s in TestServer::all().await {
        let admin = s.login("wuzhong", "admin").await;
        let role = "mutation($n: String!, $p: [String!]!) { createRole(input: { name: $n, \
                    label: \"x\", permissions: $p }) { name } }";
        let user = "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }";
        let key = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }";
        // Finding 1: admin lacks case:confidential (on every branch; whether
        // they hold minor:sensitive has changed), so cannot put it in a role.
        let a = s
            .gql(
                Some(&admin),
                role,
                json!({ "n": "peek", "p": ["minor:read", "case:confidential"] }),
            )
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{}", a.body);
        assert_eq!(a.field().as_deref(), Some("input.permissions"));
        assert!(
            a.body.to_string().contains("case:confidential"),
            "{}",
            a.body
        );
        let roles = s.gql(Some(&admin), "{ roles { name } }", json!({})).await;
        assert!(!roles.body.to_string().contains("peek"));
        // Finding 2: a street's user manager.
        s.gql(
            Some(&admin),
            role,
            json!({ "n": "street_admin",
                    "p": ["user:manage", "user:read", "role:manage", "role:read"] }),
        )
        .await
        .data();
        let street = s.unit_id("wuzhong", "320506001").await;
        let other_street = s.unit_id("wuzhong", "320506003").await;
        let input = |name: &str, unit: &str, roles: serde_json::Value| {
            json!({ "i": { "username": name, "displayName": "x",
                           "password": "a long password", "orgUnitId": unit,
                           "roles": roles } })
        };
        s.gql(
            Some(&admin),
            user,
            input("street.admin", &street, json!(["street_admin"])),
        )
        .await
        .data();
        let sa = s
            .try_login("wuzhong", "street.admin", "a long password")
            .await
            .expect("the street admin signs in");
        let a = s
            .gql(
                Some(&sa),
                user,
                input(
                    "escalated",
                    &street,
                    json!(["district_admin", "centre_caseworker"]),
                ),
            )
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{}", a.body);
        assert_eq!(a.field().as_deref(), Some("input.roles"));
        // What they hold, they may hand on, but only inside their street.
        s.gql(
            Some(&sa),
            user,
            input("deputy", &street, json!(["street_admin"])),
        )
        .await
        .data();
        let a = s
            .gql(
                Some(&sa),
                user,
                input("elsewhere", &other_street, json!(["street_admin"])),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND", "{}", a.body);
        // Roles belong to the whole district: a street cannot make them.
        let a = s
            .gql(Some(&sa), role, json!({ "n": "mine", "p": ["user:read"] }))
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{}", a.body);
        // Changing roles follows the same rule.
        let users = s
            .gql(
                Some(&sa),
                "{ users(first: 20) { edges { node { id username } } } }",
                json!({}),
            )
            .await;
        let deputy = users.data()["users"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .find(|e| e["node"]["username"] == "deputy")
            .map(|e| e["node"]["id"].as_str().unwrap_or_default().to_owned())
            .expect("deputy listed");
        let set = "mutation($id: ID!, $r: [String!]!) { setUserRoles(id: $id, roles: $r) }";
        let a = s
            .gql(
                Some(&sa),
                set,
                json!({ "id": deputy, "r": ["centre_caseworker"] }),
            )
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{}", a.body);
        assert_eq!(a.field().as_deref(), Some("roles"));
        let a = s
            .gql(
                Some(&admin),
                set,
                json!({ "id": deputy, "r": ["evaluator"] }),
            )
            .await;
        assert_eq!(a.data()["setUserRoles"], json!(["evaluator"]));
        // A role still held cannot go; built-ins never.
        let delete = "mutation($n: String!) { deleteRole(name: $n) }";
        let a = s
            .gql(Some(&admin), delete, json!({ "n": "street_admin" }))
            .await;
        assert_eq!(a.code(), "CONFLICT", "{}", a.body);
        let a = s
            .gql(Some(&admin), delete, json!({ "n": "district_admin" }))
            .await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{}", a.body);
        s.gql(
            Some(&admin),
            role,
            json!({ "n": "unused", "p": ["stats:read"] }),
        )
        .await
        .data();
        s.gql(Some(&admin), delete, json!({ "n": "unused" }))
            .await
            .data();
        // Finding 3: keys stay district-wide, for the admin's roles too.
        let a = s
            .gql(
                Some(&sa),
                key,
                json!({ "i": { "name": "k", "role": "street_admin" } }),
            )
            .await;
        assert_eq!(a.code(), "FORBIDDEN", "{}", a.body);
        // The district-wide admin staffs the centre with built-in roles.
        s.gql(
            Some(&admin),
            user,
            input(
                "centre.head",
                &street,
                json!(["district_admin", "centre_caseworker"]),
            ),
        )
        .await
        .data();
        s.gql(
            Some(&admin),
            key,
            json!({ "i": { "name": "centre sync", "role": "centre_caseworker" } }),
        )
        .await
        .data();
    }
}

/// Access can be taken back: a disabled user's token stops working on the
/// next request and they cannot sign in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_users_lose_access_at_once() {
    for s in TestServer::all().await {
        let admin = s.login("wuzhong", "admin").await;
        let created = s
            .gql(
                Some(&admin),
                "mutation { createUser(input: { username: \"leaver\", displayName: \"离职\", \
                 password: \"a long password\", roles: [\"evaluator\"] }) { id } }",
                json!({}),
            )
            .await;
        let id = created.data()["createUser"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let t = s
            .try_login("wuzhong", "leaver", "a long password")
            .await
            .expect("signs in");
        assert_eq!(
            s.gql(Some(&t), "{ me { id } }", json!({})).await.code(),
            "OK"
        );
        let disable = "mutation($id: ID!) { disableUser(id: $id) }";
        // A street officer lacks user:manage.
        let officer = s.login("wuzhong", "changqiao").await;
        let a = s.gql(Some(&officer), disable, json!({ "id": id })).await;
        assert_eq!(a.code(), "FORBIDDEN", "{}", a.body);
        s.gql(Some(&admin), disable, json!({ "id": id }))
            .await
            .data();
        assert_eq!(
            s.gql(Some(&t), "{ me { id } }", json!({})).await.code(),
            "UNAUTHENTICATED"
        );
        assert!(s
            .try_login("wuzhong", "leaver", "a long password")
            .await
            .is_err());
        let log = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 5, action: \"user.disable\") { edges { node { action } } } }",
                json!({}),
            )
            .await;
        assert!(
            log.body.to_string().contains("user.disable"),
            "{}",
            log.body
        );
    }
}
