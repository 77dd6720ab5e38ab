//! GraphQL subscriptions over WebSocket (`GET /graphql/ws`, the
//! graphql-transport-ws and graphql-ws protocols). The caller authenticates
//! in the `connection_init` payload (`{"Authorization": "Bearer …"}`), on the
//! same `IdentityService::authenticate` path as `/graphql`; a connection
//! without valid credentials is refused before any subscription starts.
//! Subscriptions decide what a caller may hear in their resolvers and the
//! services they call, as queries do.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::Data as GqlData;
use async_graphql_poem::{GraphQLProtocol, GraphQLWebSocket};
use poem::web::websocket::WebSocket;
use poem::web::Data;
use poem::{handler, IntoResponse, Request, Response};
use shouhu_kernel::RequestCtx;

use crate::app::App;

/// The bearer credential of a `connection_init` payload, whichever case the
/// client gave the key in.
fn credential(payload: &serde_json::Value) -> Option<String> {
    let obj = payload.as_object()?;
    let value = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())?;
    Some(value.strip_prefix("Bearer ").unwrap_or(value).to_owned())
}

#[handler]
pub async fn graphql_ws(
    req: &Request,
    protocol: GraphQLProtocol,
    websocket: WebSocket,
    Data(app): Data<&App>,
) -> Response {
    let rid = crate::http::request_id(req);
    let schema = app.schema.clone();
    let identity = app.services.identity.clone();
    websocket
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |stream| {
            GraphQLWebSocket::new(stream, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let token = credential(&payload).ok_or_else(|| {
                        async_graphql::Error::from(shouhu_kernel::ApiError::unauthenticated(
                            "send {\"Authorization\": \"Bearer …\"} in connection_init",
                        ))
                    })?;
                    let principal = identity
                        .authenticate(&token)
                        .await
                        .map_err(async_graphql::Error::from)?;
                    let mut ctx = RequestCtx::anonymous(rid);
                    ctx.principal = Some(principal);
                    let mut data = GqlData::default();
                    data.insert(ctx);
                    Ok(data)
                })
                .serve()
        })
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::credential;
    use serde_json::json;

    #[test]
    fn the_credential_is_read_from_the_payload() {
        assert_eq!(
            credential(&json!({ "Authorization": "Bearer abc" })).as_deref(),
            Some("abc")
        );
        assert_eq!(
            credential(&json!({ "authorization": "shk_x" })).as_deref(),
            Some("shk_x")
        );
        assert_eq!(credential(&json!({})), None);
        assert_eq!(credential(&json!(null)), None);
    }
}
