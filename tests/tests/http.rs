//! The HTTP surface: limits, GET rules, health, readiness and metrics.

use serde_json::json;
use shouhu_e2e::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_and_say_so() {
    for s in TestServer::all().await {
        let t = s.login("wuzhong", "admin").await;
        // Batches: two run, eleven are refused.
        let two = json!([{ "query": "{ me { id } }" }, { "query": "{ me { kind } }" }]);
        let a = s.post_raw(Some(&t), &two.to_string()).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body.as_array().map(Vec::len), Some(2));
        let many: Vec<_> = (0..11)
            .map(|_| json!({ "query": "{ me { id } }" }))
            .collect();
        let a = s.post_raw(Some(&t), &json!(many).to_string()).await;
        assert_eq!(a.code(), "LIMIT_EXCEEDED");
        // Depth.
        let mut deep = String::from("id");
        for _ in 0..14 {
            deep = format!("parent {{ {deep} }}");
        }
        let a = s
            .gql(
                Some(&t),
                &format!("{{ orgUnits(first: 1) {{ edges {{ node {{ {deep} }} }} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(a.code(), "LIMIT_EXCEEDED", "{}", a.body);
        // Aliases.
        let aliases: Vec<String> = (0..31).map(|i| format!("a{i}: me {{ id }}")).collect();
        let a = s
            .gql(Some(&t), &format!("{{ {} }}", aliases.join(" ")), json!({}))
            .await;
        assert_eq!(a.code(), "LIMIT_EXCEEDED");
        // Complexity counts every item of a page: the same selection is
        // fine for 10 units and too much for 200.
        let unit = "id code name path depth kind kindLabel";
        let selection = format!(
            "edges {{ node {{ {unit} parent {{ {unit} parent {{ {unit} parent {{ id }} }} }} }} }}"
        );
        let a = s
            .gql(
                Some(&t),
                &format!("{{ orgUnits(first: 200) {{ {selection} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(a.code(), "LIMIT_EXCEEDED", "{}", a.body);
        let a = s
            .gql(
                Some(&t),
                &format!("{{ orgUnits(first: 10) {{ {selection} }} }}"),
                json!({}),
            )
            .await;
        assert_eq!(a.code(), "OK", "{}", a.body);
        // Aliases count once per use of a fragment.
        let fields: Vec<String> = (0..16).map(|i| format!("p{i}: id")).collect();
        let a = s
            .gql(
                Some(&t),
                &format!(
                    "{{ me {{ orgUnit {{ ...F }} }} u: me {{ orgUnit {{ ...F }} }} }} \
                     fragment F on OrgUnit {{ {} }}",
                    fields.join(" ")
                ),
                json!({}),
            )
            .await;
        assert_eq!(a.code(), "LIMIT_EXCEEDED", "{}", a.body);
        // Body size.
        let big = format!(
            "{{\"query\":\"{{ me {{ id }} }}\",\"x\":\"{}\"}}",
            "a".repeat(1 << 21)
        );
        let a = s.post_raw(Some(&t), &big).await;
        assert_eq!(a.status, 413);
        assert_eq!(a.code(), "LIMIT_EXCEEDED");
        // Syntax and validation errors are bad input.
        assert_eq!(
            s.gql(Some(&t), "{ me { ", json!({})).await.code(),
            "BAD_USER_INPUT"
        );
        assert_eq!(
            s.gql(Some(&t), "{ nope }", json!({})).await.code(),
            "BAD_USER_INPUT"
        );
        assert_eq!(
            s.post_raw(Some(&t), "not json").await.code(),
            "BAD_USER_INPUT"
        );
        // A required variable left out is the caller's mistake, not an internal error.
        assert_eq!(
            s.gql(
                Some(&t),
                "query($id: ID!) { orgUnit(id: $id) { id } }",
                json!({})
            )
            .await
            .code(),
            "BAD_USER_INPUT"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_runs_queries_only() {
    for s in TestServer::all().await {
        let t = s.login("wuzhong", "admin").await;
        let (status, body) = s
            .get("/graphql?query=%7B%20me%20%7B%20kind%20%7D%20%7D", Some(&t))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"kind\":\"user\""));
        let (status, _) = s
            .get("/graphql?query=mutation%20%7B%20logout%20%7D", Some(&t))
            .await;
        assert_eq!(status, 405);
        // The token still works: the mutation did not run.
        assert_eq!(
            s.gql(Some(&t), "{ me { id } }", json!({})).await.code(),
            "OK"
        );
        let (status, page) = s.get("/", None).await;
        assert_eq!(status, 200);
        assert!(page.to_lowercase().contains("graphiql"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    for s in TestServer::all().await {
        assert_eq!(s.get("/healthz", None).await.0, 200);
        assert_eq!(s.get("/readyz", None).await, (200, "ready".into()));
        let _ = s.gql(None, "{ me { id } }", json!({})).await;
        let (status, text) = s.get("/metrics", None).await;
        assert_eq!(status, 200);
        assert!(text.contains("shouhu_graphql_requests_total{outcome=\"UNAUTHENTICATED\"}"));
        assert!(text.contains("shouhu_graphql_request_duration_seconds_bucket"));
    }
}
