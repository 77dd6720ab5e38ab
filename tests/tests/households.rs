//! Guardians and households over HTTP: every change needs the minor's
//! version and a reason and leaves history; the history is masked like the
//! record for a reader without `minor:sensitive`; households are scoped
//! like minors.

use serde_json::{json, Value};
use shouhu_e2e::{resident_id, TestServer, OTHER_SLUG};

const CREATE: &str = "mutation($i: MinorInputObject!) { createMinor(input: $i) { id version \
    guardians { id } } }";
const MINOR: &str = "query($id: ID!) { minor(id: $id) { version householdId \
    guardians { id name relationship phone situation } } }";
const HISTORY: &str = "query($id: ID!) { minorHistory(id: $id) { change before after reason \
    masked } }";

fn child(name: &str, number: &str, unit: &str, birth: &str) -> Value {
    json!({
        "name": name, "documentNumber": number, "sex": "MALE", "birthDate": birth,
        "orgUnitId": unit, "address": "长桥街道某路1号",
        "guardians": [
            { "name": "王·某", "relationship": "FATHER", "phone": "13900005678",
              "situation": "IMPRISONED" }
        ]
    })
}

fn history_of(answer: &Value, change: &str) -> Vec<Value> {
    answer["minorHistory"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| h["change"] == change)
        .cloned()
        .collect()
}

fn json_of(text: &Value) -> Value {
    serde_json::from_str(text.as_str().expect("JSON text")).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardians_change_with_version_reason_and_masked_history() {
    for s in TestServer::all().await {
        let centre = s.login("wuzhong", "centre").await;
        let community = s.unit_id("wuzhong", "320506001001").await;
        let created = s
            .gql(
                Some(&centre),
                CREATE,
                json!({ "i": child("王小虎", &resident_id("2014-05-06", 111), &community,
                    "2014-05-06") }),
            )
            .await;
        let minor = created.data()["createMinor"].clone();
        let id = minor["id"].as_str().expect("id").to_owned();
        let father = minor["guardians"][0]["id"]
            .as_str()
            .expect("guardian")
            .to_owned();

        let add = "mutation($m: ID!, $v: Int!, $g: GuardianInputObject!) { \
            addGuardian(minorId: $m, version: $v, guardian: $g, reason: \"外出务工返乡\") { \
            version guardians { relationship situation } } }";
        let mother = json!({ "name": "李某", "relationship": "MOTHER",
            "phone": "13700001111", "situation": "WORKING_AWAY" });
        let a = s
            .gql(Some(&centre), add, json!({ "m": id, "v": 1, "g": mother }))
            .await;
        assert_eq!(a.data()["addGuardian"]["version"], 2);
        assert_eq!(
            a.data()["addGuardian"]["guardians"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        // The same version again is stale: CONFLICT, nothing added.
        let a = s
            .gql(Some(&centre), add, json!({ "m": id, "v": 1, "g": mother }))
            .await;
        assert_eq!(a.code(), "CONFLICT", "{}", a.body);

        // The father is released: the situation changes, with a reason.
        let update = "mutation($m: ID!, $g: ID!, $v: Int!, $why: String!) { \
            updateGuardian(minorId: $m, guardianId: $g, version: $v, \
            patch: { situation: PRESENT, phone: \"13900009999\" }, reason: $why) { version } }";
        let a = s
            .gql(
                Some(&centre),
                update,
                json!({ "m": id, "g": father, "v": 2, "why": "刑满释放" }),
            )
            .await;
        assert_eq!(a.data()["updateGuardian"]["version"], 3);
        let a = s
            .gql(
                Some(&centre),
                update,
                json!({ "m": id, "g": father, "v": 3, "why": "  " }),
            )
            .await;
        assert_eq!(a.code(), "BAD_USER_INPUT");
        assert_eq!(a.field().as_deref(), Some("reason"));
        // A guardian id that is not this minor's is NOT_FOUND.
        let a = s
            .gql(
                Some(&centre),
                update,
                json!({ "m": id, "g": uuid_like(), "v": 3, "why": "x" }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND");
        // An address change, to see it withheld from the street officer.
        let a = s
            .gql(
                Some(&centre),
                "mutation($m: ID!) { updateMinor(id: $m, version: 3, \
                 input: { address: \"长桥街道新址2号\" }, reason: \"搬家\") { version } }",
                json!({ "m": id }),
            )
            .await;
        assert_eq!(a.data()["updateMinor"]["version"], 4);

        // The centre sees the history as it was, and that read is audited.
        let full = s.gql(Some(&centre), HISTORY, json!({ "id": id })).await;
        let changed = history_of(full.data(), "guardian.changed");
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0]["reason"], "刑满释放");
        assert_eq!(changed[0]["masked"], false);
        assert_eq!(json_of(&changed[0]["before"])["situation"], "imprisoned");
        assert_eq!(json_of(&changed[0]["after"])["phone"], "13900009999");
        assert_eq!(history_of(full.data(), "guardian.added").len(), 1);
        let admin = s.login("wuzhong", "admin").await;
        let log = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 50) { edges { node { action } } } }",
                Value::Null,
            )
            .await;
        let text = log.data().to_string();
        assert!(text.contains("minor.history_sensitive"), "{text}");
        assert!(text.contains("guardian.update"), "{text}");

        // The street officer (no minor:sensitive) sees neither the
        // imprisonment, the phones nor the addresses in the history.
        let officer = s.login("wuzhong", "changqiao").await;
        let masked = s.gql(Some(&officer), HISTORY, json!({ "id": id })).await;
        let text = masked.data().to_string();
        for secret in ["imprisoned", "13900009999", "13900005678", "新址", "某路"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        let changed = history_of(masked.data(), "guardian.changed");
        assert_eq!(changed[0]["masked"], true);
        assert_eq!(json_of(&changed[0]["before"])["situation"], Value::Null);
        assert_eq!(json_of(&changed[0]["after"])["situation"], "present");

        // Removing the mother leaves her in the history.
        let mother_id = s
            .gql(Some(&centre), MINOR, json!({ "id": id }))
            .await
            .data()["minor"]["guardians"]
            .as_array()
            .expect("guardians")
            .iter()
            .find(|g| g["relationship"] == "MOTHER")
            .expect("mother")["id"]
            .clone();
        let a = s
            .gql(
                Some(&centre),
                "mutation($m: ID!, $g: ID!) { removeGuardian(minorId: $m, guardianId: $g, \
                 version: 4, reason: \"录入错误\") { version guardians { id } } }",
                json!({ "m": id, "g": mother_id }),
            )
            .await;
        assert_eq!(a.data()["removeGuardian"]["version"], 5);
        assert_eq!(
            a.data()["removeGuardian"]["guardians"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        let full = s.gql(Some(&centre), HISTORY, json!({ "id": id })).await;
        let removed = history_of(full.data(), "guardian.removed");
        assert_eq!(json_of(&removed[0]["before"])["name"], "李某");
    }
}

fn uuid_like() -> String {
    "00000000-0000-4000-8000-000000000001".to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn households_group_siblings_within_scope() {
    for s in TestServer::all().await {
        let officer = s.login("wuzhong", "changqiao").await;
        let community = s.unit_id("wuzhong", "320506001001").await;
        let street = s.unit_id("wuzhong", "320506001").await;
        let mut ids = Vec::new();
        for (name, birth, seq) in [("陈大宝", "2012-01-02", 131), ("陈二宝", "2016-03-04", 151)]
        {
            let a = s
                .gql(
                    Some(&officer),
                    CREATE,
                    json!({ "i": child(name, &resident_id(birth, seq), &community, birth) }),
                )
                .await;
            ids.push(
                a.data()["createMinor"]["id"]
                    .as_str()
                    .expect("id")
                    .to_owned(),
            );
        }
        let create = "mutation($u: ID!) { createHousehold(orgUnitId: $u, address: \"某路3号\") \
            { id address members { id } } }";
        // A household lives in a community, not a street.
        let a = s.gql(Some(&officer), create, json!({ "u": street })).await;
        assert_eq!(a.code(), "BAD_USER_INPUT");
        let a = s
            .gql(Some(&officer), create, json!({ "u": community }))
            .await;
        let household = a.data()["createHousehold"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        // Without minor:sensitive the address is withheld.
        assert_eq!(a.data()["createHousehold"]["address"], Value::Null);

        let join = "mutation($m: ID!, $v: Int!, $h: ID) { setHousehold(minorId: $m, \
            version: $v, householdId: $h, reason: \"同户兄弟\") { version householdId } }";
        for id in &ids {
            let a = s
                .gql(
                    Some(&officer),
                    join,
                    json!({ "m": id, "v": 1, "h": household }),
                )
                .await;
            assert_eq!(a.data()["setHousehold"]["householdId"], household.as_str());
            assert_eq!(a.data()["setHousehold"]["version"], 2);
        }
        let a = s
            .gql(
                Some(&officer),
                join,
                json!({ "m": ids[0], "v": 2, "h": household }),
            )
            .await;
        assert_eq!(a.code(), "BAD_USER_INPUT", "already a member");

        let read = "query($h: ID!) { household(id: $h) { members { id name } } }";
        let a = s.gql(Some(&officer), read, json!({ "h": household })).await;
        let members: Vec<&str> = a.data()["household"]["members"]
            .as_array()
            .expect("members")
            .iter()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(
            members,
            vec![ids[0].as_str(), ids[1].as_str()],
            "oldest first"
        );

        // Another street's officer and another district see nothing.
        let yuexi = s.login("wuzhong", "yuexi").await;
        assert_eq!(
            s.gql(Some(&yuexi), read, json!({ "h": household }))
                .await
                .code(),
            "NOT_FOUND"
        );
        let a = s
            .gql(
                Some(&yuexi),
                join,
                json!({ "m": ids[0], "v": 2, "h": Value::Null }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND");
        let other = s.login(OTHER_SLUG, "admin").await;
        assert_eq!(
            s.gql(Some(&other), read, json!({ "h": household }))
                .await
                .code(),
            "NOT_FOUND"
        );

        // Leaving the household is a change with history.
        let a = s
            .gql(
                Some(&officer),
                join,
                json!({ "m": ids[1], "v": 2, "h": Value::Null }),
            )
            .await;
        assert_eq!(a.data()["setHousehold"]["householdId"], Value::Null);
        let h = s
            .gql(Some(&officer), HISTORY, json!({ "id": ids[1] }))
            .await;
        assert_eq!(history_of(h.data(), "household").len(), 2);
    }
}
