//! What masking hides stays hidden through every other path: filters,
//! counts, exports, no-op updates and duplicate messages. One row per
//! probe: the account, the request, and the code it must get; adding a
//! probe adds a row.

use serde_json::{json, Value};
use shouhu_e2e::{resident_id, TestServer};

const CREATE: &str = "mutation($i: MinorInputObject!) { createMinor(input: $i) { id version } }";

/// The probes a masked reader might try, as (account, query, variables
/// beyond `id`/`version`, expected code).
const PROBES: &[(&str, &str, &str)] = &[
    // Filters that would list the children masking hides.
    (
        "changqiao",
        "{ minors(filter: { category: HIV }, first: 5) { edges { node { id } } } }",
        "FORBIDDEN",
    ),
    (
        "changqiao",
        "{ minors(filter: { guardianSituation: IMPRISONED }, first: 5) \
         { edges { node { id } } } }",
        "FORBIDDEN",
    ),
    (
        "changqiao",
        "{ ledgerCounts(filter: { category: ABUSED }) { total } }",
        "FORBIDDEN",
    ),
    // A search by full number confirms a guess at a masked one.
    (
        "changqiao",
        "{ minors(filter: { documentNumber: \"$NUMBER\" }, first: 5) \
         { edges { node { id } } } }",
        "FORBIDDEN",
    ),
    // Writing a hidden field blind (and learning from the version).
    (
        "changqiao",
        "mutation { updateMinor(id: \"$ID\", version: $VERSION, reason: \"核实\", \
         input: { hivStatus: \"阴性\" }) { version } }",
        "FORBIDDEN",
    ),
    (
        "changqiao",
        "mutation { updateMinor(id: \"$ID\", version: $VERSION, reason: \"核实\", \
         input: { address: \"新址\" }) { version } }",
        "FORBIDDEN",
    ),
    // The same probes are the centre's daily work.
    (
        "centre",
        "{ minors(filter: { category: HIV }, first: 5) { edges { node { id } } } }",
        "OK",
    ),
    (
        "centre",
        "{ minors(filter: { documentNumber: \"$NUMBER\" }, first: 5) \
         { edges { node { id } } } }",
        "OK",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masked_readers_cannot_probe_what_masking_hides() {
    for s in TestServer::all().await {
        let centre = s.login("wuzhong", "centre").await;
        let officer = s.login("wuzhong", "changqiao").await;
        let community = s.unit_id("wuzhong", "320506001001").await;
        let number = resident_id("2016-05-06", 211);
        let created = s
            .gql(
                Some(&centre),
                CREATE,
                json!({ "i": {
                    "name": "周小安", "documentNumber": number, "sex": "MALE",
                    "birthDate": "2016-05-06", "orgUnitId": community,
                    "hivStatus": "阳性", "address": "长桥街道某路2号",
                    "categories": [
                        { "category": "HIV", "since": "2024-01-01", "source": "疾控通报" },
                        { "category": "ILL_DISABLED_POOR", "since": "2024-02-01",
                          "source": "入户核查" }
                    ],
                    "guardians": [{ "name": "周某", "relationship": "FATHER",
                                    "situation": "IMPRISONED" }]
                } }),
            )
            .await;
        let id = created.data()["createMinor"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let version = created.data()["createMinor"]["version"].to_string();

        for (account, query, expected) in PROBES {
            let token = if *account == "centre" {
                &centre
            } else {
                &officer
            };
            let query = query
                .replace("$NUMBER", &number)
                .replace("$ID", &id)
                .replace("$VERSION", &version);
            let a = s.gql(Some(token), &query, Value::Null).await;
            assert_eq!(
                &a.code(),
                expected,
                "{} {account}: {query}: {}",
                s.kind(),
                a.body
            );
        }

        // Counts shown to a masked reader leave out the hidden categories.
        let counts = "{ ledgerCounts(filter: { difficultyOnly: true }) \
                      { total byCategory { category count } } }";
        let masked = s.gql(Some(&officer), counts, Value::Null).await;
        let text = masked.data().to_string();
        assert!(!text.contains("HIV"), "{text}");

        // A masked caller's change to the visible categories keeps the hidden
        // ones: nothing it cannot see is lost.
        let a = s
            .gql(
                Some(&officer),
                "mutation($id: ID!, $v: Int!) { updateMinor(id: $id, version: $v, \
                 reason: \"复核\", input: { categories: [{ category: ORPHAN, \
                 since: \"2024-03-01\", source: \"复核\" }] }) { version } }",
                json!({ "id": id, "v": version.parse::<i64>().unwrap() }),
            )
            .await;
        a.data();
        let full = s
            .gql(
                Some(&centre),
                "query($id: ID!) { minor(id: $id) { categories { category } } }",
                json!({ "id": id }),
            )
            .await;
        let text = full.data().to_string();
        assert!(text.contains("HIV") && text.contains("ORPHAN"), "{text}");
        assert!(!text.contains("ILL_DISABLED_POOR"), "{text}");

        // Registering the same number again from a street that does not
        // hold the record does not name it.
        let yuexi = s.login("wuzhong", "yuexi").await;
        let yuexi_community = s.unit_id("wuzhong", "320506003001").await;
        let a = s
            .gql(
                Some(&yuexi),
                CREATE,
                json!({ "i": { "name": "周小安", "documentNumber": number, "sex": "MALE",
                               "birthDate": "2016-05-06", "orgUnitId": yuexi_community } }),
            )
            .await;
        assert_eq!(a.code(), "CONFLICT");
        assert!(!a.body.to_string().contains(&id), "{}", a.body);
    }
}
