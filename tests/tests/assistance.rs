//! Local assistance programmes through the API, on SQLite and PostgreSQL:
//! a district admin installs the C eligibility plugin, defines a programme,
//! screens the demo district's difficulty ledger, and a caseworker proposes
//! an eligible child whom the admin enrols; the benefit ledger commits the
//! benefit within the budget and releases it on an early end. Also: bad
//! programme definitions name their field, a plugin that leaves minors
//! undecided is PLUGIN_BAD_OUTPUT, and another district sees nothing.

use serde_json::{json, Value};
use shouhu_e2e::{example_plugin, TestServer, OTHER_SLUG};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/tests/fixtures");

const CREATE: &str = "mutation($input: ProgrammeInput!) { createProgramme(input: $input) { \
    id name version budgetCents committedCents remainingCents pluginId } }";
const SCREEN: &str = "mutation($p: ID!, $under: ID, $limit: Int) { screenProgramme(\
    programmeId: $p, under: $under, limit: $limit) { evaluated eligible alreadyEnrolled \
    callIds pluginSlug candidates { minorId reasons benefit callId } } }";
const PROPOSE: &str = "mutation($p: ID!, $m: ID!) { proposeEnrolment(programmeId: $p, \
    minorId: $m) { id status callId reasons benefit { amountCents period } } }";
const DECIDE: &str = "mutation($id: ID!, $ok: Boolean!, $note: String) { decideEnrolment(\
    id: $id, approve: $ok, note: $note) { id status benefitFrom } }";
const LEDGER: &str = "query($p: ID, $m: ID) { benefitLedger(programmeId: $p, minorId: $m) { \
    kind amountCents periods } }";
const BUDGET: &str = "query($p: ID!) { programme(id: $p) { budgetCents committedCents \
    remainingCents } }";

fn programme(name: &str, plugin: Option<&str>, budget: i64) -> Value {
    json!({
        "name": name,
        "description": "义务教育阶段困境儿童助学金",
        "category": "EDUCATION",
        "amountCents": 60000,
        "period": "QUARTER",
        "budgetCents": budget,
        // The tests' clock stands at 2027-01-15.
        "startsOn": "2027-01-01",
        "endsOn": "2027-12-31",
        "pluginId": plugin,
    })
}

fn id(value: &Value) -> String {
    value.as_str().expect("an id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_district_screens_and_enrols_with_the_c_plugin() {
    let Some((module, manifest)) =
        example_plugin("c-eligibility.wasm", "c-eligibility/manifest.toml")
    else {
        return;
    };
    for server in TestServer::all().await {
        let kind = server.kind();
        server.populate("wuzhong", 3000, 11).await;
        let admin = server.login("wuzhong", "admin").await;
        let (plugin, _) = server.install_plugin(&admin, &module, &manifest).await;
        let created = server
            .gql(
                Some(&admin),
                CREATE,
                json!({"input": programme("助学金", Some(&plugin), 100_000_000)}),
            )
            .await;
        let created = created.data()["createProgramme"].clone();
        assert_eq!(created["committedCents"], 0, "{kind}");
        assert_eq!(created["remainingCents"], 100_000_000);
        let programme_id = id(&created["id"]);

        // The whole district, then one street: the street is a part of it.
        let all = server
            .gql(
                Some(&admin),
                SCREEN,
                json!({"p": programme_id, "limit": 1000}),
            )
            .await;
        let all = all.data()["screenProgramme"].clone();
        let evaluated = all["evaluated"].as_u64().unwrap();
        let eligible = all["eligible"].as_u64().unwrap();
        assert!(evaluated > 50, "{kind}: {all}");
        assert!(eligible > 0 && eligible < evaluated, "{kind}: {all}");
        assert_eq!(all["alreadyEnrolled"], 0);
        assert_eq!(all["pluginSlug"], "education-grant");
        assert!(!all["callIds"].as_array().unwrap().is_empty());
        let first = all["candidates"][0].clone();
        assert!(
            first["reasons"].as_array().is_some_and(|r| !r.is_empty()),
            "{first}"
        );
        assert_eq!(first["benefit"]["amountCents"], 60000);

        let officer = server.login("wuzhong", "changqiao").await;
        let street = server
            .gql(Some(&officer), SCREEN, json!({"p": programme_id}))
            .await;
        let street = street.data()["screenProgramme"].clone();
        assert!(
            street["evaluated"].as_u64().unwrap() < evaluated,
            "{kind}: {street}"
        );

        // Each batch is a recorded call of the plugin, marked as screening.
        let calls = server
            .gql(
                Some(&admin),
                "query($p: ID!) { pluginCalls(pluginId: $p) { id purpose errorCode } }",
                json!({"p": plugin}),
            )
            .await;
        let calls = calls.data()["pluginCalls"].clone();
        assert!(calls
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == first["callId"] && c["purpose"] == "screening"));

        // A caseworker proposes the child; the plugin decides afresh.
        let caseworker = server.login("wuzhong", "centre").await;
        // A child of 长桥街道, so that its street officer sees the enrolment.
        let ours = street["candidates"][0].clone();
        assert!(ours.is_object(), "{kind}: {street}");
        let child = id(&ours["minorId"]);
        let proposed = server
            .gql(
                Some(&caseworker),
                PROPOSE,
                json!({"p": programme_id, "m": child}),
            )
            .await;
        let proposed = proposed.data()["proposeEnrolment"].clone();
        assert_eq!(proposed["status"], "PROPOSED", "{kind}");
        assert_ne!(proposed["callId"], ours["callId"]);
        let again = server
            .gql(
                Some(&caseworker),
                PROPOSE,
                json!({"p": programme_id, "m": child}),
            )
            .await;
        assert_eq!(again.code(), "CONFLICT", "{kind}: {}", again.body);

        // A child the rule excludes (under six) is refused with the reasons.
        let young = server
            .gql(
                Some(&admin),
                "{ minors(first: 1, filter: {difficultyOnly: true, maxAge: 4, \
                 status: ACTIVE}) { edges { node { id } } } }",
                Value::Null,
            )
            .await;
        let young = id(&young.data()["minors"]["edges"][0]["node"]["id"]);
        let refused = server
            .gql(
                Some(&caseworker),
                PROPOSE,
                json!({"p": programme_id, "m": young}),
            )
            .await;
        assert_eq!(refused.code(), "BAD_USER_INPUT", "{kind}: {}", refused.body);
        assert!(refused.body.to_string().contains("not eligible"));

        // The centre's proposal was decided on the unmasked view: a street
        // officer listing enrolments does not see its reasons.
        let listed = server
            .gql(
                Some(&officer),
                "{ enrolments { edges { node { minorId reasons } } } }",
                Value::Null,
            )
            .await;
        let edges = listed.data()["enrolments"]["edges"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(edges.len(), 1, "{kind}");
        assert_eq!(edges[0]["node"]["reasons"], json!([]), "{kind}");
        // A screening costs 2,000 of a request's 5,000 complexity: three in
        // one operation are refused before any runs.
        let three = "mutation($p: ID!) { \
                     a: screenProgramme(programmeId: $p) { evaluated } \
                     b: screenProgramme(programmeId: $p) { evaluated } \
                     c: screenProgramme(programmeId: $p) { evaluated } }";
        let refused = server
            .gql(Some(&admin), three, json!({"p": programme_id}))
            .await;
        assert_eq!(refused.code(), "LIMIT_EXCEEDED", "{kind}: {}", refused.body);
        // A plugin not granted minor:sensitive cannot screen by a
        // sensitive category.
        let by_hiv = server
            .gql(
                Some(&admin),
                "mutation($p: ID!) { screenProgramme(programmeId: $p, category: HIV) { \
                 evaluated } }",
                json!({"p": programme_id}),
            )
            .await;
        assert_eq!(by_hiv.field().as_deref(), Some("category"), "{kind}");

        // Only the holder of enrolment:approve decides; approval commits four
        // quarters (from 15 January to the end of the year).
        let enrolment = id(&proposed["id"]);
        let denied = server
            .gql(
                Some(&caseworker),
                DECIDE,
                json!({"id": enrolment, "ok": true}),
            )
            .await;
        assert_eq!(denied.code(), "FORBIDDEN", "{kind}");
        let approved = server
            .gql(Some(&admin), DECIDE, json!({"id": enrolment, "ok": true}))
            .await;
        let approved = approved.data()["decideEnrolment"].clone();
        assert_eq!(approved["status"], "APPROVED", "{kind}");
        assert_eq!(approved["benefitFrom"], "2027-01-15");
        let ledger = server.gql(Some(&admin), LEDGER, json!({"m": child})).await;
        assert_eq!(
            ledger.data()["benefitLedger"],
            json!([{"kind": "COMMITMENT", "amountCents": 240000, "periods": 4}]),
            "{kind}"
        );
        let budget = server
            .gql(Some(&admin), BUDGET, json!({"p": programme_id}))
            .await;
        assert_eq!(budget.data()["programme"]["committedCents"], 240000);
        assert_eq!(budget.data()["programme"]["remainingCents"], 99_760_000);

        // Screening again counts the child as enrolled, not as a candidate.
        let after = server
            .gql(
                Some(&admin),
                SCREEN,
                json!({"p": programme_id, "limit": 1000}),
            )
            .await;
        let after = after.data()["screenProgramme"].clone();
        assert_eq!(after["alreadyEnrolled"], 1, "{kind}");
        assert!(!after["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["minorId"] == child.as_str()));

        // With an enrolment, the programme's kind of benefit stays; a longer
        // term does not make an early end release more than was committed.
        let mut changed = programme("助学金", Some(&plugin), 100_000_000);
        changed["period"] = json!("MONTH");
        let refused = server
            .gql(
                Some(&admin),
                "mutation($id: ID!, $input: ProgrammeInput!) { updateProgramme(id: $id, \
                 version: 1, input: $input) { id } }",
                json!({"id": programme_id, "input": changed}),
            )
            .await;
        assert_eq!(refused.field().as_deref(), Some("input.period"), "{kind}");
        let mut longer = programme("助学金", Some(&plugin), 100_000_000);
        longer["endsOn"] = json!("2099-12-31");
        let longer = server
            .gql(
                Some(&admin),
                "mutation($id: ID!, $input: ProgrammeInput!) { updateProgramme(id: $id, \
                 version: 1, input: $input) { endsOn } }",
                json!({"id": programme_id, "input": longer}),
            )
            .await;
        assert_eq!(longer.data()["updateProgramme"]["endsOn"], "2099-12-31");

        // An early end releases the three quarters not begun.
        let ended = server
            .gql(
                Some(&admin),
                "mutation($id: ID!) { endEnrolment(id: $id, reason: \"迁出本区\") { status } }",
                json!({"id": enrolment}),
            )
            .await;
        assert_eq!(ended.data()["endEnrolment"]["status"], "ENDED", "{kind}");
        let ledger = server
            .gql(Some(&admin), LEDGER, json!({"p": programme_id}))
            .await;
        assert_eq!(
            ledger.data()["benefitLedger"][1],
            json!({"kind": "RELEASE", "amountCents": -180000, "periods": 3}),
            "{kind}"
        );

        // A budget too small for one approval refuses it.
        let small = server
            .gql(
                Some(&admin),
                CREATE,
                json!({"input": programme("小额补助", Some(&plugin), 100_000)}),
            )
            .await;
        let small = id(&small.data()["createProgramme"]["id"]);
        let proposed = server
            .gql(Some(&admin), PROPOSE, json!({"p": small, "m": child}))
            .await;
        let proposed = id(&proposed.data()["proposeEnrolment"]["id"]);
        let over = server
            .gql(Some(&admin), DECIDE, json!({"id": proposed, "ok": true}))
            .await;
        assert_eq!(over.code(), "LIMIT_EXCEEDED", "{kind}: {}", over.body);
        let rejected = server
            .gql(
                Some(&admin),
                DECIDE,
                json!({"id": proposed, "ok": false, "note": "预算不足"}),
            )
            .await;
        assert_eq!(
            rejected.data()["decideEnrolment"]["status"],
            "REJECTED",
            "{kind}"
        );

        // Another district sees neither the programme nor its enrolments.
        let other = server.login(OTHER_SLUG, "admin").await;
        let hidden = server
            .gql(Some(&other), SCREEN, json!({"p": programme_id}))
            .await;
        assert_eq!(hidden.code(), "NOT_FOUND", "{kind}");
        let listed = server
            .gql(
                Some(&other),
                "{ programmes { id } enrolments { edges { node { id } } } }",
                Value::Null,
            )
            .await;
        assert_eq!(listed.data()["programmes"], json!([]), "{kind}");
        assert_eq!(listed.data()["enrolments"]["edges"], json!([]));
    }
}

/// The same rule as JSON (ABI 1, version 1.0.0) and as records (ABI 2,
/// version 2.0.0 of the same plugin): a district upgrades its grant to the
/// records version and screens the same children eligible, with the
/// reasons from the records plugin's list and the programme's own benefit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_version_of_the_grant_screens_as_the_json_one() {
    let (Some((json_module, json_manifest)), Some((records, records_manifest))) = (
        example_plugin("c-eligibility.wasm", "c-eligibility/manifest.toml"),
        example_plugin(
            "c-eligibility-abi2.wasm",
            "c-eligibility-abi2/manifest.toml",
        ),
    ) else {
        return;
    };
    let candidates = |screened: &Value| -> Vec<String> {
        let mut ids: Vec<String> = screened["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| id(&c["minorId"]))
            .collect();
        ids.sort();
        ids
    };
    for server in TestServer::all().await {
        let kind = server.kind();
        server.populate("wuzhong", 1500, 5).await;
        let admin = server.login("wuzhong", "admin").await;
        let (plugin, _) = server
            .install_plugin(&admin, &json_module, &json_manifest)
            .await;
        let created = server
            .gql(
                Some(&admin),
                CREATE,
                json!({"input": programme("助学金", Some(&plugin), 100_000_000)}),
            )
            .await;
        let programme_id = id(&created.data()["createProgramme"]["id"]);
        let screen = || {
            server.gql(
                Some(&admin),
                SCREEN,
                json!({"p": programme_id, "limit": 1000}),
            )
        };
        let as_json = screen().await.data()["screenProgramme"].clone();

        let (same_plugin, _) = server
            .install_plugin(&admin, &records, &records_manifest)
            .await;
        assert_eq!(
            same_plugin, plugin,
            "{kind}: a new version of the same plugin"
        );
        let as_records = screen().await.data()["screenProgramme"].clone();
        assert_eq!(as_records["evaluated"], as_json["evaluated"], "{kind}");
        assert_eq!(as_records["eligible"], as_json["eligible"], "{kind}");
        assert!(
            as_records["eligible"].as_u64().unwrap() > 0,
            "{kind}: {as_records}"
        );
        assert_eq!(candidates(&as_records), candidates(&as_json), "{kind}");
        let first = &as_records["candidates"][0];
        assert_eq!(first["reasons"][0], "age is within 6-17", "{kind}: {first}");
        assert_eq!(first["benefit"], Value::Null, "{kind}: {first}");

        // The call's record keeps the decisions in ABI 1's shape.
        let calls = server
            .gql(
                Some(&admin),
                "query($p: ID!) { pluginCalls(pluginId: $p) { id output } }",
                json!({"p": plugin}),
            )
            .await;
        let calls = calls.data()["pluginCalls"].clone();
        let record = calls
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == first["callId"])
            .expect("the deciding call is recorded")
            .clone();
        let decided = record["output"]["decisions"].as_array().unwrap();
        assert!(
            decided
                .iter()
                .any(|d| d["minorId"] == first["minorId"] && d["eligible"] == true),
            "{kind}: {record}"
        );

        // Proposed with no benefit of the plugin's own: the programme's.
        let caseworker = server.login("wuzhong", "centre").await;
        let proposed = server
            .gql(
                Some(&caseworker),
                PROPOSE,
                json!({"p": programme_id, "m": first["minorId"]}),
            )
            .await;
        let proposed = proposed.data()["proposeEnrolment"].clone();
        assert_eq!(proposed["status"], "PROPOSED", "{kind}");
        assert_eq!(
            proposed["benefit"],
            json!({"amountCents": 60000, "period": "QUARTER"}),
            "{kind}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programmes_are_checked_and_plugins_must_decide_every_child() {
    for server in TestServer::all().await {
        let kind = server.kind();
        server.populate("wuzhong", 400, 12).await;
        let admin = server.login("wuzhong", "admin").await;
        let bad = [
            (json!({"amountCents": null}), "input.amountCents"),
            (json!({"period": null}), "input.period"),
            (json!({"budgetCents": null}), "input.budgetCents"),
            (json!({"amountCents": 0}), "input.amountCents"),
            (json!({"endsOn": "2026-12-31"}), "input.endsOn"),
            (json!({"name": "  "}), "input.name"),
            (json!({"inKind": "书包"}), "input.inKind"),
            (
                json!({"pluginId": "00000000-0000-7000-8000-000000000000"}),
                "input.pluginId",
            ),
        ];
        for (patch, field) in bad {
            let mut input = programme("检查", None, 1_000_000);
            for (k, v) in patch.as_object().unwrap() {
                input[k] = v.clone();
            }
            let answer = server
                .gql(Some(&admin), CREATE, json!({"input": input}))
                .await;
            assert_eq!(
                answer.code(),
                "BAD_USER_INPUT",
                "{kind} {field}: {}",
                answer.body
            );
            assert_eq!(
                answer.field().as_deref(),
                Some(field),
                "{kind}: {}",
                answer.body
            );
        }

        // A programme without a plugin cannot screen.
        let plain = server
            .gql(
                Some(&admin),
                CREATE,
                json!({"input": programme("无插件", None, 1_000_000)}),
            )
            .await;
        let plain = id(&plain.data()["createProgramme"]["id"]);
        let answer = server.gql(Some(&admin), SCREEN, json!({"p": plain})).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{kind}");
        assert_eq!(
            answer.field().as_deref(),
            Some("programmeId"),
            "{}",
            answer.body
        );
        let same_name = server
            .gql(
                Some(&admin),
                CREATE,
                json!({"input": programme("无插件", None, 1_000_000)}),
            )
            .await;
        assert_eq!(same_name.code(), "CONFLICT", "{kind}");

        // A plugin that answers with no decisions fails the screening with
        // its own code, and the failed call is recorded.
        let module = wat::parse_file(format!("{FIXTURES}/no_decisions.wat")).expect("fixture");
        let manifest = "id = \"no-decisions\"\nversion = \"1.0.0\"\n\
                        kind = \"assistance-eligibility\"\nabi = 1\n";
        let (plugin, _) = server.install_plugin(&admin, &module, manifest).await;
        let silent = server
            .gql(
                Some(&admin),
                CREATE,
                json!({"input": programme("不作答", Some(&plugin), 1_000_000)}),
            )
            .await;
        let silent = id(&silent.data()["createProgramme"]["id"]);
        let answer = server.gql(Some(&admin), SCREEN, json!({"p": silent})).await;
        assert_eq!(
            answer.code(),
            "PLUGIN_BAD_OUTPUT",
            "{kind}: {}",
            answer.body
        );
        // A matching plugin is not an eligibility plugin.
        let matcher = "id = \"m\"\nversion = \"1.0.0\"\nkind = \"family-matching\"\nabi = 1\n";
        let (matcher, _) = server.install_plugin(&admin, &module, matcher).await;
        let wrong = server
            .gql(
                Some(&admin),
                CREATE,
                json!({"input": programme("错插件", Some(&matcher), 1_000_000)}),
            )
            .await;
        assert_eq!(wrong.field().as_deref(), Some("input.pluginId"), "{kind}");
    }
}
