//! The caring-family pool over HTTP, on both databases: the centre registers
//! families in two streets, vets them through every allowed step (and is
//! refused the others), a street officer sees only their street's families,
//! another district finds none of them, bad input names its field and a
//! stale version is a CONFLICT. Then a child's case is matched through a
//! tiny WAT matcher uploaded by the district admin, and the child is placed
//! with a family from its ranking, once, with every refusal on the way.

use serde_json::{json, Value};
use shouhu_e2e::{Answer, TestServer, OTHER_SLUG};

const CREATE: &str = "mutation($i: CreateCaringFamilyInput!) { createCaringFamily(input: $i) { \
    id version vettingStatus sexes skills } }";
const UPDATE: &str = "mutation($id: ID!, $i: UpdateCaringFamilyInput!) { \
    updateCaringFamily(id: $id, input: $i) { id version capacity ageMin ageMax } }";
const VET: &str = "mutation($id: ID!, $s: VettingStatus!, $r: String) { \
    setFamilyVetting(id: $id, status: $s, reason: $r) { id vettingStatus version } }";
const LIST: &str = "query($f: CaringFamilyFilter, $first: Int, $after: String) { \
    caringFamilies(filter: $f, first: $first, after: $after) { \
    edges { cursor node { id } } pageInfo { hasNextPage } } }";
const MATCH: &str = "mutation($c: ID!, $n: [String!], $l: [String!]) { \
    matchFamilies(caseId: $c, needs: $n, languages: $l) { callId plugin { slug version } \
    ranking { rank score explanation family { id name } } } }";
const PLACE: &str = "mutation($c: ID!, $f: ID!, $call: ID!, $r: String) { \
    placeWithFamily(caseId: $c, familyId: $f, callId: $call, startDate: \"2026-03-02\", \
    reason: $r) { id caseId familyId placementId callId rank score explanation \
    family { id } } }";

fn family(name: &str, unit: &str) -> Value {
    json!({ "name": name, "orgUnitId": unit, "address": "长桥街道某小区 1 幢",
            "phone": "0512-6500 0000", "capacity": 2, "ageMin": 3, "ageMax": 12,
            "sexes": ["female", "男"], "skills": ["first_aid"], "languages": ["zh-wuu"] })
}

async fn create(s: &TestServer, token: &str, input: Value) -> Answer {
    s.gql(Some(token), CREATE, json!({ "i": input })).await
}

async fn created(s: &TestServer, token: &str, input: Value) -> String {
    let a = create(s, token, input).await;
    a.data()["createCaringFamily"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", a.body))
        .to_owned()
}

async fn vet(s: &TestServer, token: &str, id: &str, to: &str, reason: Option<&str>) -> Answer {
    s.gql(Some(token), VET, json!({ "id": id, "s": to, "r": reason }))
        .await
}

async fn approve(s: &TestServer, token: &str, id: &str) {
    for to in ["VETTED", "TRAINED", "APPROVED"] {
        let a = vet(s, token, id, to, None).await;
        assert_eq!(a.code(), "OK", "{to}: {}", a.body);
    }
}

fn ids(a: &Answer) -> Vec<String> {
    a.data()["caringFamilies"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", a.body))
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_is_vetted_scoped_and_checked() {
    for s in TestServer::all().await {
        let kind = s.kind();
        let centre = s.login("wuzhong", "centre").await;
        let changqiao = s.login("wuzhong", "changqiao").await;
        let other_admin = s.login(OTHER_SLUG, "admin").await;
        let community = s.unit_id("wuzhong", "320506001001").await;
        let yuexi = s.unit_id("wuzhong", "320506003").await;

        let a = create(&s, &centre, family("王家", &community)).await;
        let made = a.data()["createCaringFamily"].clone();
        assert_eq!(made["vettingStatus"], "APPLIED", "{kind}: {}", a.body);
        assert_eq!(made["version"], 1);
        assert_eq!(made["sexes"], json!(["MALE", "FEMALE"]), "{kind}");
        let wang = made["id"].as_str().expect("id").to_owned();
        let li = created(&s, &centre, family("李家", &yuexi)).await;

        // Bad input names its field.
        for (patch, field) in [
            (json!({ "ageMin": 12, "ageMax": 3 }), "input.ageMin"),
            (json!({ "ageMax": 18 }), "input.ageMax"),
            (json!({ "capacity": 0 }), "input.capacity"),
            (json!({ "capacity": 21 }), "input.capacity"),
            (json!({ "sexes": ["female", "other"] }), "input.sexes.1"),
            (json!({ "sexes": [] }), "input.sexes"),
            (json!({ "skills": ["Sign Language"] }), "input.skills.0"),
            (json!({ "languages": ["zh", ""] }), "input.languages.1"),
            (json!({ "name": " " }), "input.name"),
            (json!({ "phone": "call me" }), "input.phone"),
        ] {
            let mut input = family("错误", &community);
            for (k, v) in patch.as_object().expect("patch") {
                input[k] = v.clone();
            }
            let a = create(&s, &centre, input).await;
            assert_eq!(a.code(), "BAD_USER_INPUT", "{kind} {field}: {}", a.body);
            assert_eq!(a.field().as_deref(), Some(field), "{kind}: {}", a.body);
        }
        let a = create(
            &s,
            &centre,
            family("别区", &s.unit_id(OTHER_SLUG, "320505").await),
        )
        .await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}: another district's unit");

        // Optimistic concurrency: the second writer at version 1 is refused.
        let a = s
            .gql(
                Some(&centre),
                UPDATE,
                json!({ "id": wang, "i": { "version": 1, "capacity": 3, "ageMax": 14 } }),
            )
            .await;
        assert_eq!(
            a.data()["updateCaringFamily"]["version"],
            2,
            "{kind}: {}",
            a.body
        );
        assert_eq!(a.data()["updateCaringFamily"]["ageMax"], 14);
        let a = s
            .gql(
                Some(&centre),
                UPDATE,
                json!({ "id": wang, "i": { "version": 1, "capacity": 4 } }),
            )
            .await;
        assert_eq!(a.code(), "CONFLICT", "{kind}: {}", a.body);
        let a = s
            .gql(
                Some(&centre),
                UPDATE,
                json!({ "id": wang, "i": { "version": 2, "ageMin": 15 } }),
            )
            .await;
        assert_eq!(
            a.field().as_deref(),
            Some("input.ageMin"),
            "{kind}: against ageMax 14"
        );

        // Vetting: forward one step at a time; suspension both ways with a reason.
        let a = vet(&s, &centre, &wang, "APPROVED", None).await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{kind}: applied to approved");
        assert_eq!(a.field().as_deref(), Some("status"));
        approve(&s, &centre, &wang).await;
        let a = vet(&s, &centre, &wang, "TRAINED", None).await;
        assert_eq!(a.field().as_deref(), Some("status"), "{kind}: no way back");
        let a = vet(&s, &centre, &wang, "SUSPENDED", None).await;
        assert_eq!(a.field().as_deref(), Some("reason"), "{kind}: {}", a.body);
        let a = vet(&s, &centre, &wang, "SUSPENDED", Some("邻居投诉，核查中")).await;
        assert_eq!(a.data()["setFamilyVetting"]["vettingStatus"], "SUSPENDED");
        let a = vet(&s, &centre, &wang, "APPROVED", None).await;
        assert_eq!(a.field().as_deref(), Some("reason"), "{kind}: {}", a.body);
        let a = vet(&s, &centre, &wang, "VETTED", Some("x")).await;
        assert_eq!(a.field().as_deref(), Some("status"), "{kind}: {}", a.body);
        let a = vet(&s, &centre, &wang, "APPROVED", Some("核查完毕，投诉不实")).await;
        assert_eq!(a.data()["setFamilyVetting"]["vettingStatus"], "APPROVED");
        let a = s
            .gql(
                Some(&centre),
                "query($id: ID!) { caringFamily(id: $id) { vettingHistory { before after \
                 reason } } }",
                json!({ "id": wang }),
            )
            .await;
        let history = a.data()["caringFamily"]["vettingHistory"]
            .as_array()
            .expect("history")
            .clone();
        let steps: Vec<&str> = history
            .iter()
            .map(|h| h["after"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            steps,
            [
                "APPLIED",
                "VETTED",
                "TRAINED",
                "APPROVED",
                "SUSPENDED",
                "APPROVED"
            ],
            "{kind}"
        );
        assert_eq!(history[0]["before"], Value::Null);
        assert_eq!(history[4]["reason"], "邻居投诉，核查中");

        // Filters and paging, for the centre.
        let a = s
            .gql(
                Some(&centre),
                LIST,
                json!({ "f": { "status": "APPROVED" } }),
            )
            .await;
        assert!(ids(&a).contains(&wang) && !ids(&a).contains(&li), "{kind}");
        let a = s
            .gql(Some(&centre), LIST, json!({ "f": { "orgUnitId": yuexi } }))
            .await;
        assert!(ids(&a).contains(&li) && !ids(&a).contains(&wang), "{kind}");
        let a = s.gql(Some(&centre), LIST, json!({ "first": 1 })).await;
        assert_eq!(ids(&a).len(), 1);
        assert_eq!(a.data()["caringFamilies"]["pageInfo"]["hasNextPage"], true);
        let cursor = a.data()["caringFamilies"]["edges"][0]["cursor"].clone();
        let b = s
            .gql(
                Some(&centre),
                LIST,
                json!({ "first": 200, "after": cursor }),
            )
            .await;
        assert!(
            !ids(&b).contains(&ids(&a)[0]),
            "{kind}: pages do not overlap"
        );

        // A street officer sees their street's families only, and cannot write.
        let a = s.gql(Some(&changqiao), LIST, json!({ "first": 200 })).await;
        assert!(ids(&a).contains(&wang), "{kind}: {}", a.body);
        assert!(!ids(&a).contains(&li), "{kind}: 越溪's family");
        let read = "query($id: ID!) { caringFamily(id: $id) { id phone address } }";
        let a = s.gql(Some(&changqiao), read, json!({ "id": li })).await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}");
        let a = s.gql(Some(&changqiao), read, json!({ "id": wang })).await;
        assert_eq!(
            a.data()["caringFamily"]["phone"],
            "0512-6500 0000",
            "{kind}"
        );
        let a = s
            .gql(
                Some(&changqiao),
                LIST,
                json!({ "f": { "orgUnitId": yuexi } }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}: a filter outside the scope");
        let a = create(&s, &changqiao, family("张家", &community)).await;
        assert_eq!(a.code(), "FORBIDDEN", "{kind}");

        // Another district finds nothing.
        let a = s.gql(Some(&other_admin), read, json!({ "id": wang })).await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}");
        let a = vet(&s, &other_admin, &wang, "SUSPENDED", Some("x")).await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}");
        let a = s
            .gql(Some(&other_admin), LIST, json!({ "first": 200 }))
            .await;
        assert!(ids(&a).is_empty(), "{kind}: {}", a.body);

        // Every write is audited, by id.
        let admin = s.login("wuzhong", "admin").await;
        let a = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 200) { edges { node { action targetId } } } }",
                Value::Null,
            )
            .await;
        let text = a.body.to_string();
        for action in ["family.create", "family.update", "family.vetting"] {
            assert!(text.contains(action), "{kind}: {action} audited");
        }
        // The whole phone number: "0512" alone turns up by chance in ids.
        assert!(
            !text.contains("王家") && !text.contains("6500 0000"),
            "{kind}: no personal data"
        );
    }
}

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/matcher.wat");

/// Uploads and activates the test matcher as the district admin.
async fn install_matcher(s: &TestServer) {
    let admin = s.login("wuzhong", "admin").await;
    let module = wat::parse_file(FIXTURE).expect("the matcher fixture");
    let manifest = "id = \"in-order\"\nversion = \"1.0.0\"\nkind = \"family-matching\"\n\
                    abi = 1\n\n[limits]\nfuel = 10000000\nmemory_mib = 8\ntimeout_ms = 500\n";
    s.install_plugin(&admin, &module, manifest).await;
}

fn ranked(a: &Answer) -> Vec<String> {
    a.data()["matchFamilies"]["ranking"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", a.body))
        .iter()
        .map(|r| r["family"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_is_matched_and_placed_with_a_family() {
    for s in TestServer::all().await {
        let kind = s.kind();
        let centre = s.login("wuzhong", "centre").await;
        let changqiao = s.login("wuzhong", "changqiao").await;
        let yuexi = s.login("wuzhong", "yuexi").await;
        let community = s.unit_id("wuzhong", "320506001001").await;
        install_matcher(&s).await;

        let a = s
            .gql(
                Some(&centre),
                "mutation($i: MinorInputObject!) { createMinor(input: $i) { id } }",
                json!({ "i": { "name": "周小雨", "sex": "FEMALE", "birthDate": "2017-04-02",
                               "documentNumber": shouhu_e2e::resident_id("2017-04-02", 318),
                               "orgUnitId": community } }),
            )
            .await;
        let minor = a.data()["createMinor"]["id"]
            .as_str()
            .expect("minor")
            .to_owned();
        let a = s
            .gql(
                Some(&centre),
                "mutation($m: ID!) { openCase(minorId: $m, reason: \"监护缺失\") { id } }",
                json!({ "m": minor }),
            )
            .await;
        let case = a.data()["openCase"]["id"]
            .as_str()
            .expect("case")
            .to_owned();

        let mut one = family("赵家", &community);
        one["capacity"] = json!(1);
        let ready = created(&s, &centre, one).await;
        approve(&s, &centre, &ready).await;
        let mut away = family("钱家", &community);
        away["available"] = json!(false);
        let away = created(&s, &centre, away).await;
        approve(&s, &centre, &away).await;
        let applied = created(&s, &centre, family("孙家", &community)).await;

        let vars = json!({ "c": case, "n": ["school_nearby"], "l": ["zh-wuu"] });
        let a = s.gql(Some(&centre), MATCH, vars.clone()).await;
        assert_eq!(a.code(), "OK", "{kind}: {}", a.body);
        let result = a.data()["matchFamilies"].clone();
        assert_eq!(result["plugin"]["slug"], "in-order", "{kind}");
        let list = ranked(&a);
        assert!(list.contains(&ready), "{kind}: {}", a.body);
        assert!(!list.contains(&away) && !list.contains(&applied), "{kind}");
        assert!(
            !list.iter().any(|id| id.starts_with("00000000")),
            "{kind}: a family that was not a candidate is dropped"
        );
        let call = result["callId"].as_str().expect("call").to_owned();
        let mine = result["ranking"]
            .as_array()
            .expect("ranking")
            .iter()
            .find(|r| r["family"]["id"] == ready.as_str())
            .expect("ranked")
            .clone();
        assert_eq!(mine["score"], 50.0);
        assert_eq!(mine["explanation"], "listed by the test matcher");

        // Another street cannot match this child.
        let a = s.gql(Some(&yuexi), MATCH, vars.clone()).await;
        assert_eq!(a.code(), "NOT_FOUND", "{kind}");
        let a = s
            .gql(
                Some(&centre),
                MATCH,
                json!({ "c": case, "n": ["Not A Code"], "l": [] }),
            )
            .await;
        assert_eq!(a.field().as_deref(), Some("needs.0"), "{kind}: {}", a.body);

        // Placement is refused for families that cannot take the child.
        let reason = "紧急安置";
        let place =
            |family: &str, call: &str| json!({ "c": case, "f": family, "call": call, "r": reason });
        for (family, call, field) in [
            (&applied, call.as_str(), "familyId"),
            (&away, call.as_str(), "familyId"),
            (&ready, "0190f5d4-0000-7000-8000-000000000001", "callId"),
            (&ready, "not-a-call", "callId"),
        ] {
            let a = s.gql(Some(&centre), PLACE, place(family, call)).await;
            assert_eq!(a.code(), "BAD_USER_INPUT", "{kind} {field}: {}", a.body);
            assert_eq!(a.field().as_deref(), Some(field), "{kind}: {}", a.body);
        }
        // A family approved after the match is not in its ranking.
        let late = created(&s, &centre, family("吴家", &community)).await;
        approve(&s, &centre, &late).await;
        let a = s.gql(Some(&centre), PLACE, place(&late, &call)).await;
        assert_eq!(a.field().as_deref(), Some("familyId"), "{kind}: {}", a.body);

        // A ranking made for another child's case cannot place this one.
        let a = s
            .gql(
                Some(&centre),
                "mutation($i: MinorInputObject!) { createMinor(input: $i) { id } }",
                json!({ "i": { "name": "周小风", "sex": "MALE", "birthDate": "2016-05-03",
                               "documentNumber": shouhu_e2e::resident_id("2016-05-03", 319),
                               "orgUnitId": community } }),
            )
            .await;
        let other_minor = a.data()["createMinor"]["id"]
            .as_str()
            .expect("minor")
            .to_owned();
        let a = s
            .gql(
                Some(&centre),
                "mutation($m: ID!) { openCase(minorId: $m, reason: \"监护缺失\") { id } }",
                json!({ "m": other_minor }),
            )
            .await;
        let other_case = a.data()["openCase"]["id"]
            .as_str()
            .expect("case")
            .to_owned();
        let a = s
            .gql(
                Some(&centre),
                MATCH,
                json!({ "c": other_case, "n": [], "l": [] }),
            )
            .await;
        let other_call = a.data()["matchFamilies"]["callId"]
            .as_str()
            .expect("call")
            .to_owned();
        let a = s
            .gql(Some(&centre), PLACE, place(&ready, &other_call))
            .await;
        assert_eq!(a.field().as_deref(), Some("callId"), "{kind}: {}", a.body);
        assert!(
            a.body.to_string().contains("another case"),
            "{kind}: {}",
            a.body
        );

        let a = s.gql(Some(&centre), PLACE, place(&ready, &call)).await;
        assert_eq!(a.code(), "OK", "{kind}: {}", a.body);
        let placed = a.data()["placeWithFamily"].clone();
        assert_eq!(placed["familyId"], ready.as_str());
        assert_eq!(placed["callId"], call.as_str());
        assert_eq!(placed["score"], 50.0);
        assert!(placed["rank"].as_i64().unwrap_or(0) >= 1);

        // The case shows the casework placement, and the link to the family.
        let a = s
            .gql(
                Some(&changqiao),
                "query($c: ID!) { case(id: $c) { placements { id kind } } \
                 familyPlacements(caseId: $c) { placementId family { id } } }",
                json!({ "c": case }),
            )
            .await;
        assert_eq!(a.code(), "OK", "{kind}: {}", a.body);
        assert_eq!(
            a.data()["case"]["placements"][0]["kind"],
            "CARING_FAMILY",
            "{kind}"
        );
        assert_eq!(
            a.data()["familyPlacements"][0]["placementId"],
            a.data()["case"]["placements"][0]["id"],
            "{kind}"
        );
        assert_eq!(
            a.data()["familyPlacements"][0]["family"]["id"],
            ready.as_str()
        );

        // The family is full now, and the child is placed.
        let a = s.gql(Some(&centre), MATCH, vars.clone()).await;
        assert!(
            !ranked(&a).contains(&ready),
            "{kind}: a full family is no candidate"
        );
        let a = s.gql(Some(&centre), PLACE, place(&ready, &call)).await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "{kind}: {}", a.body);
        let a = s.gql(Some(&centre), MATCH, vars.clone()).await;
        let call2 = a.data()["matchFamilies"]["callId"]
            .as_str()
            .expect("call")
            .to_owned();
        let a = s.gql(Some(&centre), PLACE, place(&late, &call2)).await;
        assert_eq!(
            a.field().as_deref(),
            Some("caseId"),
            "{kind}: already placed"
        );
    }
}

/// A child's case in 长桥街道's first community and three approved families:
/// one in the same community who covers the need, one in another street,
/// one in the same community who covers nothing. Returns the case and the
/// families by name.
async fn case_and_families(s: &TestServer, seq: u32) -> (String, Vec<(String, String)>) {
    let centre = s.login("wuzhong", "centre").await;
    let community = s.unit_id("wuzhong", "320506001001").await;
    let elsewhere = s.unit_id("wuzhong", "320506003001").await;
    let a = s
        .gql(
            Some(&centre),
            "mutation($i: MinorInputObject!) { createMinor(input: $i) { id } }",
            json!({ "i": { "name": "陈小禾", "sex": "FEMALE", "birthDate": "2018-06-01",
                           "documentNumber": shouhu_e2e::resident_id("2018-06-01", seq),
                           "orgUnitId": community } }),
        )
        .await;
    let minor = a.data()["createMinor"]["id"]
        .as_str()
        .expect("minor")
        .to_owned();
    let a = s
        .gql(
            Some(&centre),
            "mutation($m: ID!) { openCase(minorId: $m, reason: \"事实无人抚养\") { id } }",
            json!({ "m": minor }),
        )
        .await;
    let case = a.data()["openCase"]["id"]
        .as_str()
        .expect("case")
        .to_owned();
    let mut families = Vec::new();
    for (name, unit, skills) in [
        ("近邻家", &community, json!(["tutoring"])),
        ("远方家", &elsewhere, json!(["tutoring"])),
        ("同社区家", &community, json!([])),
    ] {
        let mut input = family(name, unit);
        input["skills"] = skills;
        let id = created(s, &centre, input).await;
        approve(s, &centre, &id).await;
        families.push((name.to_owned(), id));
    }
    (case, families)
}

/// Until a district installs a matcher, the platform's default one ranks;
/// the AssemblyScript example, installed and activated, takes over, and a
/// rollback returns to its earlier version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_matcher_ranks_until_the_district_installs_its_own() {
    for s in TestServer::all().await {
        let kind = s.kind();
        let (case, families) = case_and_families(&s, 402).await;
        let centre = s.login("wuzhong", "centre").await;
        let vars = json!({ "c": case, "n": ["tutoring"], "l": ["zh-wuu"] });
        let a = s.gql(Some(&centre), MATCH, vars.clone()).await;
        let result = a.data()["matchFamilies"].clone();
        assert_eq!(result["plugin"]["slug"], "default-matcher", "{kind}");
        let ranking = result["ranking"].as_array().expect("ranking").clone();
        assert_eq!(ranking.len(), 3, "{kind}: {result}");
        // The family nearby who covers the need comes first, and says why.
        assert_eq!(ranking[0]["family"]["id"], families[0].1.as_str(), "{kind}");
        let why = ranking[0]["explanation"].as_str().unwrap_or_default();
        assert!(
            why.contains("same community") && why.contains("tutoring"),
            "{why}"
        );
        assert!(ranking[0]["score"].as_f64() > ranking[2]["score"].as_f64());

        // The district installs the AssemblyScript example.
        let Some((module, manifest)) =
            shouhu_e2e::example_plugin("as-matcher.wasm", "as-matcher/manifest.toml")
        else {
            continue;
        };
        let admin = s.login("wuzhong", "admin").await;
        let (plugin, v1) = s.install_plugin(&admin, &module, &manifest).await;
        let a = s.gql(Some(&centre), MATCH, vars.clone()).await;
        let result = a.data()["matchFamilies"].clone();
        assert_eq!(result["plugin"]["slug"], "near-first", "{kind}");
        assert_eq!(result["plugin"]["version"], "1.0.0");
        assert_eq!(
            result["ranking"][0]["family"]["id"],
            families[0].1.as_str(),
            "{kind}"
        );

        // Version 1.1.0, then a rollback to 1.0.0.
        let v2_manifest = manifest.replace("version = \"1.0.0\"", "version = \"1.1.0\"");
        let (_, v2) = s.install_plugin(&admin, &module, &v2_manifest).await;
        let a = s.gql(Some(&centre), MATCH, vars.clone()).await;
        assert_eq!(
            a.data()["matchFamilies"]["plugin"]["version"],
            "1.1.0",
            "{kind}"
        );
        let a = s
            .gql(
                Some(&admin),
                "mutation($p: ID!) { rollbackPlugin(pluginId: $p) { activeVersionId } }",
                json!({ "p": plugin }),
            )
            .await;
        assert_eq!(a.data()["rollbackPlugin"]["activeVersionId"], v1.as_str());
        assert_ne!(v1, v2);
        let a = s.gql(Some(&centre), MATCH, vars.clone()).await;
        assert_eq!(
            a.data()["matchFamilies"]["plugin"]["version"],
            "1.0.0",
            "{kind}"
        );

        // Disabled, the district's matcher gives way to the default again.
        let a = s
            .gql(
                Some(&admin),
                "mutation($p: ID!) { disablePlugin(pluginId: $p) { disabled } }",
                json!({ "p": plugin }),
            )
            .await;
        assert_eq!(a.data()["disablePlugin"]["disabled"], true);
        let a = s.gql(Some(&centre), MATCH, vars).await;
        assert_eq!(
            a.data()["matchFamilies"]["plugin"]["slug"],
            "default-matcher",
            "{kind}"
        );
    }
}
