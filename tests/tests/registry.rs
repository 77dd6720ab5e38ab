//! The registry over HTTP: registering minors with every identity-number
//! rule enforced, duplicates, scope and masking, history, versions and the
//! ledgers' counts.

use serde_json::{json, Value};
use shouhu_e2e::{resident_id, TestServer};

const CREATE: &str = "mutation($i: MinorInputObject!, $why: String) { \
    createMinor(input: $i, createAnyway: $why) { id name documentNumber masked version age \
    categories { category } guardians { situation phone } address } }";

fn minor(name: &str, number: Option<&str>, unit: &str, birth: &str, sex: &str) -> Value {
    json!({
        "name": name, "documentNumber": number, "sex": sex, "birthDate": birth,
        "orgUnitId": unit, "address": "长桥街道某路1号", "phone": "13800001234",
        "health": "哮喘",
        "categories": [
            { "category": "PARENT_DETAINED", "since": "2024-01-01", "source": "公安通报" },
            { "category": "ILL_DISABLED_POOR", "since": "2024-02-01", "source": "入户核查" }
        ],
        "guardians": [
            { "name": "王·某", "relationship": "FATHER", "phone": "13900005678",
              "situation": "IMPRISONED" }
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_scope_mask_history_and_counts() {
    for s in TestServer::all().await {
        let centre = s.login("wuzhong", "centre").await;
        let community = s.unit_id("wuzhong", "320506001001").await;
        let yuexi_community = s.unit_id("wuzhong", "320506003001").await;
        let id_a = resident_id("2015-03-04", 123);
        // Registered by the centre, which may see sensitive fields.
        let a = s
            .gql(
                Some(&centre),
                CREATE,
                json!({ "i": minor("张小明", Some(&id_a), &community, "2015-03-04", "MALE") }),
            )
            .await;
        let created = a.data()["createMinor"].clone();
        assert_eq!(created["documentNumber"], id_a.as_str());
        assert_eq!(created["masked"], false);
        let minor_id = created["id"].as_str().unwrap().to_owned();

        // Each identity rule is enforced and named.
        let mut bad_check = id_a.clone();
        let last = if bad_check.ends_with('1') { "2" } else { "1" };
        bad_check.replace_range(17..18, last);
        for (number, birth, sex, rule) in [
            (bad_check.as_str(), "2015-03-04", "MALE", "check_digit"),
            ("3.20506E+17", "2015-03-04", "MALE", "excel_scientific"),
            (id_a.as_str(), "2015-03-05", "MALE", "birth_date_mismatch"),
            (id_a.as_str(), "2015-03-04", "FEMALE", "sex_mismatch"),
        ] {
            let a = s
                .gql(
                    Some(&centre),
                    CREATE,
                    json!({ "i": minor("李四", Some(number), &community, birth, sex) }),
                )
                .await;
            assert_eq!(a.code(), "BAD_USER_INPUT", "{number}: {}", a.body);
            assert_eq!(a.field().as_deref(), Some("input.documentNumber"));
            assert!(a.body.to_string().contains(rule), "{rule}: {}", a.body);
        }
        // The same number again is a CONFLICT naming the record.
        let a = s
            .gql(
                Some(&centre),
                CREATE,
                json!({ "i": minor("张小明", Some(&id_a), &community, "2015-03-04", "MALE") }),
            )
            .await;
        assert_eq!(a.code(), "CONFLICT");
        assert!(a.body.to_string().contains(&minor_id));
        // Without a document: a likely duplicate must be confirmed.
        let doc_less = minor("张小明", None, &community, "2015-03-04", "MALE");
        let a = s.gql(Some(&centre), CREATE, json!({ "i": doc_less })).await;
        assert_eq!(a.code(), "CONFLICT");
        let a = s
            .gql(
                Some(&centre),
                CREATE,
                json!({ "i": doc_less, "why": "双胞胎" }),
            )
            .await;
        assert_eq!(a.data()["createMinor"]["name"], "张小明");
        // A minor in 越溪.
        let id_b = resident_id("2012-07-01", 246);
        s.gql(
            Some(&centre),
            CREATE,
            json!({ "i": minor("赵丽", Some(&id_b), &yuexi_community, "2012-07-01", "FEMALE") }),
        )
        .await
        .data();

        // The street officer of 长桥 sees their street only, masked.
        let officer = s.login("wuzhong", "changqiao").await;
        let list = s
            .gql(
                Some(&officer),
                "{ minors(filter: { difficultyOnly: true }) { edges { node { name \
                 documentNumber masked address health phone categories { category } \
                 guardians { situation phone } } } } }",
                json!({}),
            )
            .await;
        let edges = list.data()["minors"]["edges"].as_array().unwrap().clone();
        assert_eq!(edges.len(), 2, "{}", list.body);
        for e in &edges {
            let n = &e["node"];
            assert_eq!(n["masked"], true);
            assert_eq!(n["address"], Value::Null);
            assert_eq!(n["health"], Value::Null);
            assert_eq!(n["guardians"][0]["situation"], Value::Null);
            assert!(!n.to_string().contains("PARENT_DETAINED"));
            assert!(!n.to_string().contains("13900005678"));
        }
        let masked = edges
            .iter()
            .find_map(|e| e["node"]["documentNumber"].as_str())
            .unwrap();
        assert_eq!(masked, format!("3205************{}", &id_a[16..]));
        // 越溪's minor is NOT_FOUND for 长桥, and unread reads are not audited.
        let b_id = s
            .gql(
                Some(&centre),
                "query($n: String) { minors(filter: { documentNumber: $n }) \
                 { edges { node { id } } } }",
                json!({ "n": id_b }),
            )
            .await;
        let b_id = b_id.data()["minors"]["edges"][0]["node"]["id"].clone();
        let a = s
            .gql(
                Some(&officer),
                "query($id: ID!) { minor(id: $id) { name } }",
                json!({ "id": b_id }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND");
        // Another district cannot find either.
        let other = s.login("huqiu", "admin").await;
        let a = s
            .gql(
                Some(&other),
                "query($id: ID!) { minor(id: $id) { name } }",
                json!({ "id": minor_id }),
            )
            .await;
        assert_eq!(a.code(), "NOT_FOUND");
        // Reporters and evaluators cannot list the registry.
        for who in ["teacher", "evaluator", "partner"] {
            let t = s.login("wuzhong", who).await;
            let a = s
                .gql(Some(&t), "{ minors { edges { node { id } } } }", json!({}))
                .await;
            assert_eq!(a.code(), "FORBIDDEN", "{who}");
        }

        // A change with a stale version is refused; a move keeps one record
        // with the move in its history.
        let update = "mutation($id: ID!, $v: Int!, $i: MinorInputObject!) { \
                      updateMinor(id: $id, version: $v, input: $i, reason: \"随父母搬迁\") \
                      { version orgUnitId } }";
        let moved = s
            .gql(
                Some(&centre),
                update,
                json!({ "id": minor_id, "v": 1, "i": { "orgUnitId": yuexi_community } }),
            )
            .await;
        assert_eq!(moved.data()["updateMinor"]["version"], 2);
        let stale = s
            .gql(
                Some(&centre),
                update,
                json!({ "id": minor_id, "v": 1, "i": { "school": "x" } }),
            )
            .await;
        assert_eq!(stale.code(), "CONFLICT");
        let history = s
            .gql(
                Some(&centre),
                "query($id: ID!) { minorHistory(id: $id) { change before after reason } }",
                json!({ "id": minor_id }),
            )
            .await;
        let text = history.data().to_string();
        assert!(
            text.contains("created") && text.contains("orgUnitId"),
            "{text}"
        );
        assert!(text.contains("随父母搬迁"));

        // Counts follow the same scope as the list.
        let counts = "{ ledgerCounts(filter: { difficultyOnly: true }) { total \
                      byCategory { category count } byStreet { count } } }";
        let all = s.gql(Some(&centre), counts, json!({})).await;
        assert_eq!(all.data()["ledgerCounts"]["total"], 3);
        let mine = s.gql(Some(&officer), counts, json!({})).await;
        // After the move, 长桥 holds only the twin.
        assert_eq!(mine.data()["ledgerCounts"]["total"], 1, "{}", mine.body);
        // The centre's unmasked list reads were audited with the records
        // they showed; the officer's masked ones were not.
        let admin = s.login("wuzhong", "admin").await;
        let lists = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 200, action: \"minor.list_sensitive\") \
                 { edges { node { actorKind detail } } } }",
                json!({}),
            )
            .await;
        let lists = lists.data()["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .clone();
        assert!(!lists.is_empty());
        // The centre's one list read showed 赵丽.
        let b = b_id.as_str().unwrap();
        assert!(lists
            .iter()
            .any(|e| e["node"]["detail"].as_str().unwrap().contains(b)));
        let log = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 200, action: \"minor.read_sensitive\") \
                 { edges { node { actorKind } } } }",
                json!({}),
            )
            .await;
        assert!(log.data()["auditLog"]["edges"]
            .as_array()
            .unwrap()
            .is_empty());
        s.gql(
            Some(&centre),
            "query($id: ID!) { minor(id: $id) { name address } }",
            json!({ "id": minor_id }),
        )
        .await
        .data();
        let log = s
            .gql(
                Some(&admin),
                "{ auditLog(first: 200, action: \"minor.read_sensitive\") \
                 { edges { node { actorKind } } } }",
                json!({}),
            )
            .await;
        assert_eq!(log.data()["auditLog"]["edges"].as_array().unwrap().len(), 1);
    }
}
