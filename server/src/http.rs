//! HTTP: the GraphQL endpoint with its limits, GraphiQL, health, readiness
//! and metrics.
//!
//! The GraphQL endpoint is written here rather than taken from
//! async-graphql-poem because it must do things that one does not: refuse
//! batches above a size, refuse bodies above a size before parsing them,
//! count aliases, refuse a mutation over GET with 405, authenticate from the
//! `Authorization` header only, give every error a code from the closed
//! set, audit permission denials, and log one line per request.

use std::collections::HashMap;
use std::time::Instant;

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use async_graphql::{BatchRequest, BatchResponse, Positioned, ServerError, Value};
use poem::http::{header, Method, StatusCode};
use poem::web::{Data, Html};
use poem::{get, handler, Body, EndpointExt, IntoResponse, Request, Response, Route};
use serde_json::json;
use shouhu_audit::{Actor, AuditEntry, Outcome};
use shouhu_kernel::{ClientAddr, ErrorCode, RequestCtx};
use tokio_util::compat::TokioAsyncReadCompatExt;

use crate::app::App;

/// The routes of a server.
pub fn routes(app: App) -> impl poem::Endpoint {
    Route::new()
        .at("/", get(graphiql))
        .at("/graphql", get(graphql_get).post(graphql_post))
        .at("/graphql/ws", get(crate::ws::graphql_ws))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics))
        .at("/exports/minors.xlsx", get(crate::export::minors_xlsx))
        .data(app)
}

#[handler]
fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}

#[handler]
async fn readyz(Data(app): Data<&App>) -> Response {
    if app.services.db.ping().await {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

#[handler]
fn metrics(Data(app): Data<&App>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(app.metrics.render())
}

/// A request id from the caller when it is short and plain, else a new one.
pub(crate) fn request_id(req: &Request) -> String {
    req.header("x-request-id")
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn error_body(code: ErrorCode, message: &str) -> serde_json::Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] })
}

/// Answers a request refused before execution; it is logged and counted
/// like any other.
fn refuse(
    app: &App,
    status: StatusCode,
    code: ErrorCode,
    message: &str,
    request_id: &str,
) -> Response {
    app.metrics.observe(code.as_str(), 0.0);
    tracing::info!(
        request_id = %request_id,
        status = status.as_u16(),
        outcome = %code,
        "graphql request refused"
    );
    Response::builder()
        .status(status)
        .header("x-request-id", request_id)
        .content_type("application/json")
        .body(error_body(code, message).to_string())
}

#[handler]
async fn graphql_get(req: &Request, Data(app): Data<&App>) -> Response {
    let wants_html = req
        .header(header::ACCEPT)
        .is_some_and(|a| a.contains("text/html"));
    let query = req.uri().query().unwrap_or("");
    if wants_html && query.is_empty() {
        return graphiql_page();
    }
    let rid = request_id(req);
    let gql: async_graphql::Request = match async_graphql::http::parse_query_string(query) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                app,
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &format!("bad query string: {e}"),
                &rid,
            )
        }
    };
    execute(req, app, BatchRequest::Single(gql), rid, Method::GET).await
}

fn graphiql_page() -> Response {
    Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
}

#[handler]
async fn graphql_post(req: &Request, body: Body, Data(app): Data<&App>) -> Response {
    let rid = request_id(req);
    let content_type = req.header(header::CONTENT_TYPE).unwrap_or("");
    if content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return graphql_multipart(req, content_type.to_owned(), body, app, rid).await;
    }
    let bytes = match read_capped(body, app.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(()) => {
            return refuse(
                app,
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::LimitExceeded,
                &format!(
                    "the request body is larger than {} bytes",
                    app.limits.max_body_bytes
                ),
                &rid,
            )
        }
    };
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return refuse(
                app,
                StatusCode::BAD_REQUEST,
                ErrorCode::BadUserInput,
                &format!("the body is not a GraphQL request: {e}"),
                &rid,
            )
        }
    };
    execute(req, app, batch, rid, Method::POST).await
}

/// Reads a body of at most `limit` bytes. A larger one is refused, but read
/// on and thrown away up to eight times the limit first: a connection closed
/// with unread data is reset by the kernel, and the client may then lose the
/// 413 answer it was sent before it reads it. Past that, the connection is
/// given up.
async fn read_capped(body: Body, limit: usize) -> Result<Vec<u8>, ()> {
    use futures_util::StreamExt;
    let mut stream = std::pin::pin!(body.into_bytes_stream());
    let mut out = Vec::new();
    let mut total = 0usize;
    let give_up = limit.saturating_mul(8);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ())?;
        total = total.saturating_add(chunk.len());
        if total <= limit {
            out.extend_from_slice(&chunk);
        } else if total > give_up {
            return Err(());
        }
    }
    if total > limit {
        Err(())
    } else {
        Ok(out)
    }
}

/// A GraphQL multipart request (the upload format of graphql-multipart-request-spec): the
/// files go to anonymous temporary files, the whole request is capped at
/// `max_upload_bytes`, and at most two files are taken, since no operation takes more (a
/// plugin's upload has its module and its manifest).
async fn graphql_multipart(
    req: &Request,
    content_type: String,
    body: Body,
    app: &App,
    rid: String,
) -> Response {
    let limit = app.limits.max_upload_bytes;
    let too_large = |app: &App, rid: &str| {
        refuse(
            app,
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::LimitExceeded,
            &format!("the upload is larger than {limit} bytes"),
            rid,
        )
    };
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(app, &rid);
    }
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(limit)
        .max_num_files(2);
    let reader = body.into_async_read().compat();
    let batch =
        match async_graphql::http::receive_batch_body(Some(content_type), reader, options).await {
            Ok(b) => b,
            Err(async_graphql::ParseRequestError::PayloadTooLarge) => return too_large(app, &rid),
            Err(e) => {
                return refuse(
                    app,
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadUserInput,
                    &format!("the body is not a GraphQL multipart request: {e}"),
                    &rid,
                )
            }
        };
    // Only the file may be large: the operations themselves keep the limit of
    // a plain request, so that an upload is no way round it.
    let requests: &[async_graphql::Request] = match &batch {
        BatchRequest::Single(r) => std::slice::from_ref(r),
        BatchRequest::Batch(rs) => rs,
    };
    let operations: usize = requests
        .iter()
        .map(|r| {
            r.query.len()
                + serde_json::to_vec(&r.variables).map_or(usize::MAX, |v| v.len())
                + r.operation_name.as_ref().map_or(0, String::len)
        })
        .fold(0, usize::saturating_add);
    if operations > app.limits.max_body_bytes {
        return refuse(
            app,
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::LimitExceeded,
            &format!(
                "the operations of an upload are larger than {} bytes",
                app.limits.max_body_bytes
            ),
            &rid,
        );
    }
    execute(req, app, batch, rid, Method::POST).await
}

/// The operation name as it may appear in logs and the audit log: a
/// GraphQL name (letters, digits, `_`), cut short; anything else is
/// replaced, since the client chose it.
fn operation_label(name: Option<&str>) -> String {
    match name {
        Some(n)
            if !n.is_empty()
                && n.len() <= 64
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            n.to_owned()
        }
        Some(_) => "invalid_name".into(),
        None => "anonymous".into(),
    }
}

/// Counts the aliased fields a document would run: a fragment counts each
/// time it is spread, since each spread runs its fields again. Each
/// fragment's own count is worked out once and remembered, so a chain of
/// fragments that spread the next one twice costs one visit per fragment,
/// not two to the power of its length. A fragment cycle, or nesting deeper
/// than any legal query, counts as too many: the request is refused.
pub(crate) fn count_aliases(doc: &ExecutableDocument) -> usize {
    /// Per fragment: `None` while it is being counted (a cycle if met
    /// again), then its count.
    type Memo<'a> = HashMap<&'a str, Option<usize>>;
    const TOO_DEEP: usize = 64;

    fn set<'a>(
        doc: &'a ExecutableDocument,
        selections: &'a Positioned<SelectionSet>,
        depth: usize,
        memo: &mut Memo<'a>,
    ) -> usize {
        if depth > TOO_DEEP {
            return usize::MAX;
        }
        let mut total: usize = 0;
        for item in &selections.node.items {
            let n = match &item.node {
                Selection::Field(f) => usize::from(f.node.alias.is_some()).saturating_add(set(
                    doc,
                    &f.node.selection_set,
                    depth + 1,
                    memo,
                )),
                Selection::InlineFragment(i) => set(doc, &i.node.selection_set, depth + 1, memo),
                Selection::FragmentSpread(spread) => fragment(
                    doc,
                    spread.node.fragment_name.node.as_str(),
                    depth + 1,
                    memo,
                ),
            };
            total = total.saturating_add(n);
        }
        total
    }

    fn fragment<'a>(
        doc: &'a ExecutableDocument,
        name: &'a str,
        depth: usize,
        memo: &mut Memo<'a>,
    ) -> usize {
        match memo.get(name) {
            Some(Some(known)) => return *known,
            Some(None) => return usize::MAX,
            None => {}
        }
        memo.insert(name, None);
        let n = doc
            .fragments
            .get(name)
            .map(|f| set(doc, &f.node.selection_set, depth, memo))
            .unwrap_or(0);
        memo.insert(name, Some(n));
        n
    }

    let mut memo = Memo::new();
    match &doc.operations {
        DocumentOperations::Single(op) => set(doc, &op.node.selection_set, 0, &mut memo),
        DocumentOperations::Multiple(ops) => ops.values().fold(0, |total: usize, op| {
            total.saturating_add(set(doc, &op.node.selection_set, 0, &mut memo))
        }),
    }
}

/// The operation a request would run, if the document names one.
fn operation_type(doc: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) => {
            // Without a name, several operations cannot run; report any
            // mutation so that GET refuses it.
            ops.values()
                .find(|op| op.node.ty != OperationType::Query)
                .or_else(|| ops.values().next())
                .map(|op| op.node.ty)
        }
    }
}

async fn execute(
    req: &Request,
    app: &App,
    batch: BatchRequest,
    rid: String,
    method: Method,
) -> Response {
    let started = Instant::now();
    let mut requests = match batch {
        BatchRequest::Single(r) => vec![r],
        BatchRequest::Batch(rs) => rs,
    };
    let batched = requests.len() != 1;
    if requests.is_empty() || requests.len() > app.limits.max_batch {
        return refuse(
            app,
            StatusCode::BAD_REQUEST,
            ErrorCode::LimitExceeded,
            &format!(
                "a batch holds between 1 and {} operations",
                app.limits.max_batch
            ),
            &rid,
        );
    }
    // Static checks before anything runs. The document is parsed once: the
    // request keeps it, and the executor takes it from there.
    let mut names = Vec::with_capacity(requests.len());
    for r in &mut requests {
        names.push(operation_label(r.operation_name.as_deref()));
        let operation_name = r.operation_name.clone();
        let Ok(doc) = r.parsed_query() else {
            continue; // The executor parses again and reports the error with a code.
        };
        if count_aliases(doc) > app.limits.max_aliases {
            return refuse(
                app,
                StatusCode::BAD_REQUEST,
                ErrorCode::LimitExceeded,
                &format!("at most {} aliases per operation", app.limits.max_aliases),
                &rid,
            );
        }
        let ty = operation_type(doc, operation_name.as_deref());
        if method == Method::GET && ty.is_some_and(|t| t != OperationType::Query) {
            let mut resp = refuse(
                app,
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::BadUserInput,
                "mutations and subscriptions must be sent with POST",
                &rid,
            );
            resp.headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
            return resp;
        }
    }
    let mut ctx = RequestCtx::anonymous(rid.clone());
    if let Some(credential) = bearer(req) {
        match app.services.identity.authenticate(credential).await {
            Ok(p) => ctx.principal = Some(p),
            Err(e) => ctx.auth_error = Some(e),
        }
    }
    let client = ClientAddr(client_addr(req));
    let mut responses = Vec::with_capacity(requests.len());
    for r in requests {
        let mut resp = app
            .schema
            .execute(r.data(ctx.clone()).data(client.clone()))
            .await;
        for err in &mut resp.errors {
            classify(err);
        }
        responses.push(resp);
    }
    audit_denials(app, &ctx, &responses, &names).await;
    let outcome = responses
        .iter()
        .flat_map(|r| r.errors.iter())
        .find_map(|e| code_of(e).map(str::to_owned))
        .unwrap_or_else(|| "ok".to_owned());
    let elapsed = started.elapsed();
    app.metrics.observe(&outcome, elapsed.as_secs_f64());
    // The line's fields are only built when the line is written.
    if tracing::enabled!(tracing::Level::INFO) {
        let tenant = ctx
            .principal
            .as_ref()
            .map(|p| p.tenant.to_string())
            .unwrap_or_else(|| "-".into());
        let actor = ctx
            .principal
            .as_ref()
            .map(|p| format!("{}:{}", p.actor_kind.as_str(), p.actor_id))
            .unwrap_or_else(|| "anonymous".into());
        tracing::info!(
            request_id = %rid,
            tenant = %tenant,
            actor = %actor,
            operation = %names.join(","),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            outcome = %outcome,
            "graphql request"
        );
    }
    let body = if batched {
        serde_json::to_string(&BatchResponse::Batch(responses))
    } else {
        serde_json::to_string(&responses.remove(0))
    };
    match body {
        Ok(body) => Response::builder()
            .header("x-request-id", rid.as_str())
            .content_type("application/json")
            .body(body),
        Err(_) => refuse(
            app,
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error",
            &rid,
        ),
    }
}

/// The peer's IP address (without the port), for per-address limits. A
/// forwarding header is not trusted: a client could set it to anything.
fn client_addr(req: &Request) -> String {
    match req.remote_addr().as_socket_addr() {
        Some(addr) => addr.ip().to_string(),
        None => req.remote_addr().to_string(),
    }
}

pub(crate) fn bearer(req: &Request) -> Option<&str> {
    req.header(header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn code_of(err: &ServerError) -> Option<&str> {
    match err.extensions.as_ref()?.get("code")? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

/// Gives an error that left the executor without a code (a syntax error, a
/// validation error, a limit of the executor) one from the closed set.
fn classify(err: &mut ServerError) {
    if code_of(err).is_some() {
        return;
    }
    // async-graphql's own limit errors carry no code; these are their
    // messages ("Query is nested too deep.", "Query is too complex.", "The
    // recursion depth of the query cannot be greater than …", "The number
    // of directives on the field … cannot be greater than …").
    let code = if err.message.contains("nested too deep")
        || err.message.contains("too complex")
        || err.message.contains("cannot be greater than")
    {
        ErrorCode::LimitExceeded
    } else if (err.message.starts_with("Variable ") && err.message.ends_with(" is not defined."))
        || err.message.starts_with("Failed to parse \"")
        || err.message.starts_with("Expected input type \"")
    {
        // A variable left out or of the wrong shape: the executor reports it at the field
        // that reads it, so it carries a path, but the caller is at fault.
        ErrorCode::BadUserInput
    } else if err.path.is_empty() {
        // Parse and validation errors carry locations but no path.
        ErrorCode::BadUserInput
    } else {
        ErrorCode::Internal
    };
    if code == ErrorCode::Internal {
        tracing::error!(error.detail = %err.message, "uncoded resolver error");
        err.message = "internal error".into();
    }
    err.extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
}

/// Records each FORBIDDEN answer in the caller's district's audit log.
async fn audit_denials(
    app: &App,
    ctx: &RequestCtx,
    responses: &[async_graphql::Response],
    names: &[String],
) {
    let Some(who) = &ctx.principal else { return };
    for (resp, name) in responses.iter().zip(names) {
        for err in &resp.errors {
            if code_of(err) != Some(ErrorCode::Forbidden.as_str()) {
                continue;
            }
            let permission = match err.extensions.as_ref().and_then(|e| e.get("permission")) {
                Some(Value::String(p)) => p.clone(),
                _ => "unknown".into(),
            };
            let entry = AuditEntry::ok("permission.denied", "permission", &permission)
                .with_outcome(Outcome::Denied)
                .with_detail(json!({ "operation": name }));
            let actor = Actor::of(who, &ctx.request_id);
            if let Err(e) = app
                .services
                .audit
                .append_now(who.tenant, &actor, entry)
                .await
            {
                tracing::error!(error.code = %e.code, "could not audit a denial");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_everywhere() {
        let doc = async_graphql::parser::parse_query(
            "query { a: me { id } b: me { x: id } ...F ...F } \
             fragment F on QueryRoot { c: me { id } }",
        )
        .unwrap();
        // Each spread of F runs its alias again.
        assert_eq!(count_aliases(&doc), 5);
        let cyclic = async_graphql::parser::parse_query(
            "{ ...A } fragment A on QueryRoot { x: me { id } ...A }",
        )
        .unwrap();
        assert!(count_aliases(&cyclic) > 30);
    }

    #[test]
    fn a_chain_of_doubling_fragments_is_counted_in_linear_time() {
        // Each fragment spreads the next one twice: 2^40 visits without
        // remembering each fragment's count, which would hang the server.
        let mut text = String::from("query { ...F0 }");
        for i in 0..40 {
            text.push_str(&format!(
                " fragment F{i} on QueryRoot {{ ...F{n} ...F{n} }}",
                n = i + 1
            ));
        }
        text.push_str(" fragment F40 on QueryRoot { a: __typename }");
        let doc = async_graphql::parser::parse_query(&text).unwrap();
        // 2^40 aliases in all: far over any limit, and counted at once.
        assert_eq!(count_aliases(&doc), 1usize << 40);
    }

    #[test]
    fn mutations_are_recognised() {
        let doc = async_graphql::parser::parse_query("mutation { logout }").unwrap();
        assert_eq!(operation_type(&doc, None), Some(OperationType::Mutation));
        let doc = async_graphql::parser::parse_query("query A { me { id } } mutation B { logout }")
            .unwrap();
        assert_eq!(operation_type(&doc, Some("A")), Some(OperationType::Query));
        assert_eq!(
            operation_type(&doc, Some("B")),
            Some(OperationType::Mutation)
        );
        assert_eq!(operation_type(&doc, None), Some(OperationType::Mutation));
    }
}
