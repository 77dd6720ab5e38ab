//! WebAssembly plugins through the API, on SQLite and PostgreSQL: a district
//! admin uploads (multipart: module and manifest), dry-runs, activates,
//! rolls back and disables; each hostile plugin fails with its own code
//! while the server keeps answering; another district never sees or runs
//! them; and a second service instance on the same database (standing in
//! for a second server process) picks up activations by polling.

use std::time::Duration;

use serde_json::{json, Value};
use shouhu_e2e::{Answer, TestServer, OTHER_SLUG};
use shouhu_extensions::ExtensionService;
use shouhu_kernel::TenantId;
use shouhu_plugins::{HostConfig, Kind, PluginHost};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/tests/fixtures");

const DRY_RUN: &str = "mutation($v: ID!, $input: JSON!) { dryRunPlugin(versionId: $v, \
    input: $input) { id output errorCode fuelUsed durationUs inputSha256 } }";
const ACTIVATE: &str = "mutation($v: ID!) { activatePluginVersion(versionId: $v) { \
    id activeVersionId previousVersionId disabled } }";
const ROLLBACK: &str = "mutation($p: ID!) { rollbackPlugin(pluginId: $p) { \
    id activeVersionId previousVersionId } }";
const DISABLE: &str = "mutation($p: ID!) { disablePlugin(pluginId: $p) { id disabled } }";
const GRANT: &str =
    "mutation($p: ID!, $r: String!) { grantPluginRole(pluginId: $p, role: $r) { grantedRole } }";

fn module(fixture: &str) -> Vec<u8> {
    wat::parse_file(format!("{FIXTURES}/{fixture}.wat")).expect("fixture")
}

fn manifest(id: &str, version: &str, fuel: u64) -> String {
    format!(
        "id = \"{id}\"\nversion = \"{version}\"\nkind = \"family-matching\"\nabi = 1\n\n\
         [limits]\nfuel = {fuel}\nmemory_mib = 8\ntimeout_ms = 500\n"
    )
}

async fn upload(server: &TestServer, token: &str, module: &[u8], manifest: &str) -> Answer {
    server.upload_plugin(token, module, manifest).await
}

fn matching_input() -> Value {
    json!({"abi": 1, "kind": "family-matching", "child": {"age": 8}, "candidates": [],
           "ranking": [{"familyId": "f-1", "score": 80, "explanation": "同一社区"}]})
}

fn id(value: &Value) -> String {
    value.as_str().expect("an id").to_owned()
}

async fn still_serving(server: &TestServer, token: &str) {
    let answer = server.gql(Some(token), "{ me { id } }", Value::Null).await;
    assert_eq!(answer.code(), "OK", "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_installs_runs_activates_and_rolls_back_a_plugin() {
    for server in TestServer::all().await {
        let kind = server.kind();
        let admin = server.login("wuzhong", "admin").await;
        let v1 = upload(
            &server,
            &admin,
            &module("echo"),
            &manifest("echo", "1.0.0", 10_000_000),
        )
        .await;
        let v1 = v1.data()["uploadPlugin"].clone();
        assert_eq!(v1["version"], "1.0.0", "{kind}");
        assert_eq!(v1["sha256"].as_str().map(str::len), Some(64));
        let plugin_id = id(&v1["pluginId"]);
        let v1 = id(&v1["id"]);

        // The same version again is a conflict; a forbidden import is
        // refused by name.
        let again = upload(
            &server,
            &admin,
            &module("echo"),
            &manifest("echo", "1.0.0", 1_000),
        )
        .await;
        assert_eq!(again.code(), "CONFLICT", "{kind}: {}", again.body);
        let bad = upload(
            &server,
            &admin,
            &module("path_open"),
            &manifest("bad", "1.0.0", 1_000),
        )
        .await;
        assert_eq!(bad.code(), "PLUGIN_INVALID", "{kind}");
        assert!(bad
            .body
            .to_string()
            .contains("wasi_snapshot_preview1.path_open"));
        let bad_manifest = upload(&server, &admin, &module("echo"), "id = \"x\"").await;
        assert_eq!(bad_manifest.code(), "PLUGIN_INVALID", "{kind}");

        // A dry run answers and is recorded.
        let run = server
            .gql(
                Some(&admin),
                DRY_RUN,
                json!({"v": v1, "input": matching_input()}),
            )
            .await;
        let run = run.data()["dryRunPlugin"].clone();
        assert_eq!(run["output"]["ranking"][0]["familyId"], "f-1", "{kind}");
        assert!(run["fuelUsed"].as_i64().unwrap() > 0);
        let calls = server
            .gql(
                Some(&admin),
                "query($p: ID!) { pluginCalls(pluginId: $p) { id purpose inputSha256 output } }",
                json!({"p": plugin_id}),
            )
            .await;
        let calls = calls.data()["pluginCalls"].clone();
        assert_eq!(calls[0]["id"], run["id"]);
        assert_eq!(calls[0]["purpose"], "dry_run");
        assert_eq!(calls[0]["inputSha256"], run["inputSha256"]);
        assert_eq!(calls[0]["output"], run["output"]);
        // An input that is not the extension point's shape is the caller's fault.
        let wrong = server
            .gql(Some(&admin), DRY_RUN, json!({"v": v1, "input": {"abi": 1}}))
            .await;
        assert_eq!(wrong.code(), "BAD_USER_INPUT", "{kind}");

        // The input query's role: a district role, never the platform's.
        let granted = server
            .gql(
                Some(&admin),
                GRANT,
                json!({"p": plugin_id, "r": "evaluator"}),
            )
            .await;
        assert_eq!(
            granted.data()["grantPluginRole"]["grantedRole"],
            "evaluator"
        );
        let refused = server
            .gql(
                Some(&admin),
                GRANT,
                json!({"p": plugin_id, "r": "platform_operator"}),
            )
            .await;
        assert_eq!(refused.code(), "BAD_USER_INPUT", "{kind}");

        // Activate 1.0.0, then 1.1.0, then roll back to 1.0.0.
        let v2 = upload(
            &server,
            &admin,
            &module("echo"),
            &manifest("echo", "1.1.0", 10_000_000),
        )
        .await;
        let v2 = id(&v2.data()["uploadPlugin"]["id"]);
        let on = server.gql(Some(&admin), ACTIVATE, json!({"v": v1})).await;
        assert_eq!(
            on.data()["activatePluginVersion"]["activeVersionId"],
            v1.as_str()
        );
        let on = server.gql(Some(&admin), ACTIVATE, json!({"v": v2})).await;
        let on = on.data()["activatePluginVersion"].clone();
        assert_eq!(on["activeVersionId"], v2.as_str());
        assert_eq!(on["previousVersionId"], v1.as_str());

        // A second service on the same database, as a second server process
        // would hold, sees the active version and follows changes by polling.
        let tenant = TenantId(
            server
                .app
                .services
                .tenancy
                .tenant_by_slug("wuzhong")
                .await
                .unwrap()
                .unwrap()
                .id,
        );
        let other_process = ExtensionService::new(
            server.app.services.db.clone(),
            server.app.services.audit.clone(),
            server.app.services.clock.clone(),
            PluginHost::new(HostConfig::default()).unwrap(),
            Duration::from_millis(200),
        );
        let seen = other_process
            .active(tenant, Kind::FamilyMatching)
            .await
            .unwrap();
        assert_eq!(seen.map(|p| p.version), Some("1.1.0".to_owned()), "{kind}");

        let back = server
            .gql(Some(&admin), ROLLBACK, json!({"p": plugin_id}))
            .await;
        let back = back.data()["rollbackPlugin"].clone();
        assert_eq!(back["activeVersionId"], v1.as_str());
        assert_eq!(back["previousVersionId"], v2.as_str());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = other_process
            .active(tenant, Kind::FamilyMatching)
            .await
            .unwrap();
        assert_eq!(seen.map(|p| p.version), Some("1.0.0".to_owned()), "{kind}");

        let off = server
            .gql(Some(&admin), DISABLE, json!({"p": plugin_id}))
            .await;
        assert_eq!(off.data()["disablePlugin"]["disabled"], true);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = other_process
            .active(tenant, Kind::FamilyMatching)
            .await
            .unwrap();
        assert!(seen.is_none(), "{kind}: a disabled plugin is not used");

        // Another district sees nothing of it and can run nothing of it.
        let other = server.login(OTHER_SLUG, "admin").await;
        let list = server
            .gql(Some(&other), "{ plugins { id } }", Value::Null)
            .await;
        assert_eq!(list.data()["plugins"], json!([]), "{kind}");
        let probes = [
            (
                "query($p: ID!) { plugin(id: $p) { id } }",
                json!({"p": plugin_id}),
            ),
            (
                "query($p: ID!) { pluginCalls(pluginId: $p) { id } }",
                json!({"p": plugin_id}),
            ),
            (DRY_RUN, json!({"v": v1, "input": matching_input()})),
            (ACTIVATE, json!({"v": v1})),
            (ROLLBACK, json!({"p": plugin_id})),
            (DISABLE, json!({"p": plugin_id})),
            (GRANT, json!({"p": plugin_id, "r": "evaluator"})),
        ];
        for (query, variables) in probes {
            let answer = server.gql(Some(&other), query, variables).await;
            assert_eq!(
                answer.code(),
                "NOT_FOUND",
                "{kind}: {query}: {}",
                answer.body
            );
        }
        // And its own plugin of the same id is its own.
        let theirs = upload(
            &server,
            &other,
            &module("echo"),
            &manifest("echo", "1.0.0", 1_000),
        )
        .await;
        assert_eq!(theirs.code(), "OK", "{kind}: {}", theirs.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hostile_plugin_fails_with_its_own_code_and_the_server_keeps_serving() {
    for server in TestServer::all().await {
        let kind = server.kind();
        let admin = server.login("wuzhong", "admin").await;
        let cases = [
            ("loop", 50_000_000, "PLUGIN_FUEL_EXHAUSTED"),
            ("loop", 10_000_000_000, "PLUGIN_TIMEOUT"),
            ("grow", 50_000_000, "PLUGIN_MEMORY_LIMIT"),
            ("recurse", 50_000_000, "PLUGIN_TRAP"),
            ("trap", 50_000_000, "PLUGIN_TRAP"),
            ("bigout", 50_000_000, "PLUGIN_BAD_OUTPUT"),
            ("badjson", 50_000_000, "PLUGIN_BAD_OUTPUT"),
        ];
        for (i, (fixture, fuel, code)) in cases.iter().enumerate() {
            let version = format!("1.0.{i}");
            let up = upload(
                &server,
                &admin,
                &module(fixture),
                &manifest("hostile", &version, *fuel),
            )
            .await;
            let version_id = id(&up.data()["uploadPlugin"]["id"]);
            let answer = server
                .gql(
                    Some(&admin),
                    DRY_RUN,
                    json!({"v": version_id, "input": matching_input()}),
                )
                .await;
            assert_eq!(answer.code(), *code, "{kind} {fixture}: {}", answer.body);
            still_serving(&server, &admin).await;
        }
        for fixture in ["path_open", "sock_accept", "custom_import"] {
            let up = upload(
                &server,
                &admin,
                &module(fixture),
                &manifest("x", "1.0.0", 1_000),
            )
            .await;
            assert_eq!(up.code(), "PLUGIN_INVALID", "{kind} {fixture}");
        }
        // Every failed call was recorded with its code.
        let plugins = server
            .gql(Some(&admin), "{ plugins { id slug } }", Value::Null)
            .await;
        let hostile = plugins.data()["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["slug"] == "hostile")
            .map(|p| id(&p["id"]))
            .expect("the hostile plugin");
        let calls = server
            .gql(
                Some(&admin),
                "query($p: ID!) { pluginCalls(pluginId: $p) { errorCode output } }",
                json!({"p": hostile}),
            )
            .await;
        let mut codes: Vec<String> = calls.data()["pluginCalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["errorCode"].as_str().unwrap_or("none").to_owned())
            .collect();
        codes.sort();
        let mut expected: Vec<String> = cases.iter().map(|(_, _, c)| (*c).to_owned()).collect();
        expected.sort();
        assert_eq!(codes, expected, "{kind}");
    }
}

/// The manifest's input query runs as the role granted to the plugin, in
/// the plugin's district, with that role's masking; the echo plugin hands
/// back what it was given, so the test sees exactly what the plugin saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_query_runs_as_the_granted_role() {
    use shouhu_audit::Actor;
    use shouhu_extensions::Invocation;
    use shouhu_kernel::Principal;

    for server in TestServer::all().await {
        let kind = server.kind();
        server.populate("wuzhong", 200, 5).await;
        let admin = server.login("wuzhong", "admin").await;
        let query = "query { minors(first: 3) { edges { node { name \
                     documentNumber } } } }";
        let manifest = format!(
            "id = \"echo-data\"\nversion = \"1.0.0\"\nkind = \"family-matching\"\nabi = 1\n\n\
             [input]\nquery = \"{query}\"\nvariables = [\"caseId\"]\n"
        );
        let (plugin, version) = server
            .install_plugin(&admin, &module("echo"), &manifest)
            .await;
        let tenant = server.tenant_id("wuzhong").await;
        let who = Principal::system(tenant);
        let actor = Actor::system("test");
        let extensions = &server.app.services.extensions;
        let call = || {
            let mut input = serde_json::Map::new();
            input.insert("child".into(), json!({"age": 8}));
            input.insert("candidates".into(), json!([]));
            // Echoed back, so that the answer has the output's shape.
            input.insert("ranking".into(), json!([]));
            let mut variables = serde_json::Map::new();
            variables.insert("caseId".into(), json!(null));
            variables.insert("minorId".into(), json!("not declared, not passed"));
            extensions.invoke(
                &who,
                &actor,
                Invocation {
                    kind: Kind::FamilyMatching,
                    plugin_id: None,
                    input,
                    minors: Vec::new(),
                    variables,
                    purpose: "matching",
                    subject: None,
                },
            )
        };

        // Without a grant, a plugin that asks for data is not run.
        let err = call().await.unwrap_err();
        assert_eq!(err.code.as_str(), "BAD_USER_INPUT", "{kind}");
        assert!(err.message.contains("grantPluginRole"), "{}", err.message);

        // A role that cannot read minors: the query fails, the plugin is not run.
        let grant =
            |role: &'static str| server.gql(Some(&admin), GRANT, json!({"p": plugin, "r": role}));
        grant("evaluator").await.data();
        let err = call().await.unwrap_err();
        assert!(err.message.contains("FORBIDDEN"), "{kind}: {}", err.message);

        // A street officer's role: the plugin sees masked records.
        grant("street_officer").await.data();
        let seen = call().await.expect("a call").output;
        let node = &seen["data"]["minors"]["edges"][0]["node"];
        let number = node["documentNumber"].as_str().unwrap_or("");
        assert!(number.contains('*'), "{kind}: {seen}");
        assert_eq!(seen["kind"], "family-matching");

        // The district admin's role: unmasked, and the read is audited with
        // the plugin as the actor.
        grant("district_admin").await.data();
        let seen = call().await.expect("a call").output;
        let node = &seen["data"]["minors"]["edges"][0]["node"];
        assert!(
            !node["documentNumber"].as_str().unwrap_or("*").contains('*'),
            "{kind}: {seen}"
        );
        let log = server
            .gql(
                Some(&admin),
                "{ auditLog(first: 20) { edges { node { action actorKind actorId } } } }",
                Value::Null,
            )
            .await;
        let log = log.data()["auditLog"]["edges"].clone();
        assert!(
            log.as_array()
                .unwrap()
                .iter()
                .any(|e| e["node"]["actorKind"] == "plugin"
                    && e["node"]["actorId"] == plugin.as_str()),
            "{kind}: {log}"
        );

        // Called on behalf of a street officer, the same grant sees only
        // what the officer may: masked, and within the officer's street.
        let officer = server.login("wuzhong", "changqiao").await;
        let officer = server
            .app
            .services
            .identity
            .authenticate(&officer)
            .await
            .expect("the officer's principal");
        let seen = extensions
            .invoke(
                &officer,
                &actor,
                Invocation {
                    kind: Kind::FamilyMatching,
                    plugin_id: None,
                    input: serde_json::Map::from_iter([
                        ("child".to_owned(), json!({"age": 8})),
                        ("candidates".to_owned(), json!([])),
                        ("ranking".to_owned(), json!([])),
                    ]),
                    minors: Vec::new(),
                    variables: serde_json::Map::new(),
                    purpose: "matching",
                    subject: None,
                },
            )
            .await
            .expect("a call")
            .output;
        let node = &seen["data"]["minors"]["edges"][0]["node"];
        assert!(
            node["documentNumber"].as_str().unwrap_or("").contains('*'),
            "{kind}: {seen}"
        );

        // The outputs of calls on district data are for holders of
        // minor:sensitive; the plugin developer sees the calls without them.
        let list = "query($p: ID!) { pluginCalls(pluginId: $p) { purpose output } }";
        let dev = server.login("wuzhong", "plugindev").await;
        let calls = server.gql(Some(&dev), list, json!({"p": plugin})).await;
        let calls = calls.data()["pluginCalls"].clone();
        assert!(!calls.as_array().unwrap().is_empty(), "{kind}");
        assert!(
            calls
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["output"].is_null()),
            "{kind}: {calls}"
        );
        let calls = server.gql(Some(&admin), list, json!({"p": plugin})).await;
        assert!(
            !calls.data()["pluginCalls"][0]["output"].is_null(),
            "{kind}"
        );

        // What a dry run's caller typed in may be a child's record: its
        // output is for that caller and for holders of minor:sensitive.
        for (who, note) in [(&admin, "the admin's"), (&dev, "the developer's")] {
            let mut input = matching_input();
            input["note"] = json!(note);
            server
                .gql(Some(who), DRY_RUN, json!({"v": version, "input": input}))
                .await
                .data();
        }
        let list = "query($p: ID!) { pluginCalls(pluginId: $p, first: 2) { output } }";
        let mut shown = Vec::new();
        for who in [&dev, &admin] {
            let calls = server.gql(Some(who), list, json!({"p": plugin})).await;
            let calls = calls.data()["pluginCalls"].clone();
            let outputs: Vec<String> = calls
                .as_array()
                .unwrap()
                .iter()
                .map(|c| match &c["output"] {
                    Value::Null => "(withheld)".to_owned(),
                    output => output.to_string(),
                })
                .collect();
            shown.push(outputs.join(" | "));
        }
        let (to_dev, to_admin) = (&shown[0], &shown[1]);
        assert!(to_dev.contains("the developer's"), "{kind}: {to_dev}");
        assert!(!to_dev.contains("the admin's"), "{kind}: {to_dev}");
        assert!(
            to_admin.contains("the developer's") && to_admin.contains("the admin's"),
            "{kind}: {to_admin}"
        );

        // The calls are the whole district's: not for a street's staff,
        // whatever role they are given.
        server
            .gql(
                Some(&admin),
                "mutation { createRole(input: { name: \"plugin_reader\", label: \"x\", \
                 permissions: [\"plugin:read\"] }) { name } }",
                Value::Null,
            )
            .await
            .data();
        let street = server.unit_id("wuzhong", "320506001").await;
        server
            .gql(
                Some(&admin),
                "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
                json!({ "i": { "username": "street_plugins", "displayName": "x",
                               "orgUnitId": street, "roles": ["plugin_reader"],
                               "password": "a-long-street-passphrase-7" } }),
            )
            .await
            .data();
        let reader = server
            .try_login("wuzhong", "street_plugins", "a-long-street-passphrase-7")
            .await
            .unwrap_or_else(|a| panic!("{kind}: {}", a.body));
        let refused = server.gql(Some(&reader), list, json!({"p": plugin})).await;
        assert_eq!(refused.code(), "FORBIDDEN", "{kind}: {}", refused.body);

        // An input query that would change something is refused on upload.
        let writes = "id = \"writer\"\nversion = \"1.0.0\"\nkind = \"family-matching\"\n\
                      abi = 1\n\n[input]\nquery = \"mutation { logout }\"\n";
        let refused = upload(&server, &admin, &module("echo"), writes).await;
        assert_eq!(refused.code(), "PLUGIN_INVALID", "{kind}");
    }
}
