//! The subscription over WebSocket: a street officer authenticated in
//! `connection_init` hears of a new emergency report in their street at
//! once, and only of their own street's; a connection with a bad token is
//! refused.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use shouhu_e2e::TestServer;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(s: &TestServer) -> Socket {
    let url = format!("{}/graphql/ws", s.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    tokio_tungstenite::connect_async(req)
        .await
        .expect("connect")
        .0
}

async fn send(ws: &mut Socket, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// The next JSON message, or `None` when the server closed; waits at most
/// ten seconds so that a missing message fails instead of hanging.
async fn next(ws: &mut Socket) -> Option<Value> {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")?;
        match msg {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("json")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Connects, authenticates and subscribes; returns once the server has
/// answered a ping sent after the subscription, so the subscription is live.
async fn subscribe(s: &TestServer, token: &str) -> Socket {
    let mut ws = open(s).await;
    send(
        &mut ws,
        json!({ "type": "connection_init",
                "payload": { "Authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "connection_ack");
    send(
        &mut ws,
        json!({ "id": "1", "type": "subscribe",
                "payload": { "query": "subscription { reportNotices { kind reportId } }" } }),
    )
    .await;
    send(&mut ws, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut ws).await.unwrap()["type"], "pong");
    ws
}

async fn emergency_in(s: &TestServer, teacher: &str, unit: &str) -> String {
    let a = s
        .gql(
            Some(teacher),
            "mutation($i: CreateReportInput!) { createReport(input: $i) { id } }",
            json!({ "i": { "categories": ["IMMINENT_DANGER"], "description": "儿童被关在屋内",
                           "placeUnitId": unit } }),
        )
        .await;
    a.data()["createReport"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn street_officers_hear_of_their_emergencies() {
    for s in TestServer::all().await {
        let kind = s.kind();
        let teacher = s.login("wuzhong", "teacher").await;
        let changqiao = s.login("wuzhong", "changqiao").await;
        let yuexi = s.login("wuzhong", "yuexi").await;
        let changqiao_unit = s.unit_id("wuzhong", "320506001001").await;
        let yuexi_unit = s.unit_id("wuzhong", "320506003001").await;
        let mut cq = subscribe(&s, &changqiao).await;
        let mut yx = subscribe(&s, &yuexi).await;

        let first = emergency_in(&s, &teacher, &changqiao_unit).await;
        let heard = next(&mut cq).await.expect("a notice");
        assert_eq!(heard["type"], "next", "{kind}: {heard}");
        assert_eq!(
            heard["payload"]["data"]["reportNotices"]["reportId"],
            first.as_str()
        );
        assert_eq!(
            heard["payload"]["data"]["reportNotices"]["kind"],
            "emergency_report"
        );

        // 越溪 hears nothing of 长桥's report: its first notice is its own.
        let second = emergency_in(&s, &teacher, &yuexi_unit).await;
        let heard = next(&mut yx).await.expect("a notice");
        assert_eq!(
            heard["payload"]["data"]["reportNotices"]["reportId"],
            second.as_str(),
            "{kind}: {heard}"
        );

        // A bad token is refused at connection_init.
        let mut bad = open(&s).await;
        send(
            &mut bad,
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } }),
        )
        .await;
        let answer = next(&mut bad).await;
        assert!(
            answer
                .as_ref()
                .is_none_or(|m| m["type"] != "connection_ack"),
            "{kind}: {answer:?}"
        );
    }
}
