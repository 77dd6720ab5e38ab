//! `GET /exports/minors.xlsx`: a ledger of minors as an XLSX download.
//!
//! A file download is not a GraphQL answer, so it has a URL of its own, authenticated
//! exactly like `/graphql` (`Authorization: Bearer <token or API key>`, nothing else) and
//! refused with the same codes in the same JSON shape. The work, the permission checks,
//! the masking and the audit entry are the registry's (`RegistryService::export_ledger`);
//! this handler parses the query string, picks the status, names the file and streams it.
//!
//! Query parameters (all optional): `orgUnit` (an org-unit id; the caller's own unit by
//! default), `ledger` (`all`, the default, or `difficulty`), and the filters of the `minors`
//! list: `namePrefix`, `documentNumber`, `category`, `status`, `minAge`, `maxAge`,
//! `guardianSituation`. Enum values are accepted as the GraphQL enum (`ILL_DISABLED_POOR`),
//! the code (`ill_disabled_poor`) or the Chinese label. An unknown parameter is refused, so
//! that a misspelt filter cannot silently export more than was meant.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom};
use std::time::Instant;

use poem::http::{header, StatusCode};
use poem::web::Data;
use poem::{handler, Body, Request, Response};
use serde_json::json;
use shouhu_audit::{Actor, AuditEntry, Outcome};
use shouhu_kernel::ids::parse_id;
use shouhu_kernel::{ApiError, ErrorCode, Principal};
use shouhu_registry::model::{Category, GuardianSituation, MinorStatus};
use shouhu_registry::{ExportSummary, Ledger, MinorFilter};

use crate::app::App;
use crate::http::{bearer, request_id};

/// The media type of an XLSX workbook.
pub const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The query parameters the endpoint knows.
const PARAMETERS: &[&str] = &[
    "orgUnit",
    "ledger",
    "namePrefix",
    "documentNumber",
    "category",
    "status",
    "minAge",
    "maxAge",
    "guardianSituation",
];

/// An enum value given as the GraphQL name, the code or the Chinese label.
fn vocabulary<T>(
    params: &BTreeMap<String, String>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(value) => parse(value)
            .or_else(|| parse(&value.trim().to_ascii_lowercase()))
            .map(Some)
            .ok_or_else(|| ApiError::bad_input(name, format!("unknown value {value:?}"))),
    }
}

fn age(params: &BTreeMap<String, String>, name: &str) -> Result<Option<u32>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 150)
                .ok_or_else(|| ApiError::bad_input(name, "a whole number of years"))
        })
        .transpose()
}

/// What the query string asks for.
fn parse(query: &str) -> Result<(Option<uuid::Uuid>, Ledger, MinorFilter), ApiError> {
    let pairs: Vec<(String, String)> = query_pairs(query)?;
    let mut params = BTreeMap::new();
    for (key, value) in pairs {
        if !PARAMETERS.contains(&key.as_str()) {
            return Err(ApiError::bad_input(
                key,
                format!("unknown parameter; known: {}", PARAMETERS.join(", ")),
            ));
        }
        if params.insert(key.clone(), value).is_some() {
            return Err(ApiError::bad_input(key, "given twice"));
        }
    }
    let unit = params
        .get("orgUnit")
        .map(|id| parse_id(id, "org unit"))
        .transpose()?;
    let ledger = match params.get("ledger") {
        None => Ledger::All,
        Some(value) => Ledger::parse(value)
            .ok_or_else(|| ApiError::bad_input("ledger", "all or difficulty"))?,
    };
    let filter = MinorFilter {
        under: None,
        name_prefix: params.get("namePrefix").cloned(),
        document_number: params.get("documentNumber").cloned(),
        category: vocabulary(&params, "category", Category::parse)?,
        status: vocabulary(&params, "status", MinorStatus::parse)?,
        difficulty_only: false,
        min_age: age(&params, "minAge")?,
        max_age: age(&params, "maxAge")?,
        guardian_situation: vocabulary(&params, "guardianSituation", GuardianSituation::parse)?,
    };
    Ok((unit, ledger, filter))
}

/// Splits an `application/x-www-form-urlencoded` query string into decoded pairs.
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_decode(&s.replace('+', " "))
                .ok_or_else(|| ApiError::bad_input("query", "the query string is not UTF-8"))
        };
        out.push((decode(key)?, decode(value)?));
    }
    Ok(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// RFC 8187 encoding of a file name for `filename*`: every byte outside the attribute
/// characters as `%XX`.
fn rfc8187(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `attachment` with an ASCII fallback name and the Chinese name (district, unit, ledger,
/// day) for clients that read `filename*`.
fn disposition(summary: &ExportSummary) -> String {
    let day = summary.day.format("%Y-%m-%d");
    let ascii = format!(
        "minors-{}-{}-{}.xlsx",
        summary.district_code,
        summary.ledger.code(),
        summary.day.format("%Y%m%d")
    );
    let unit = if summary.unit_name == summary.district_name {
        summary.district_name.clone()
    } else {
        format!("{}-{}", summary.district_name, summary.unit_name)
    };
    let full = format!("{unit}-{}-{day}.xlsx", summary.ledger.label_zh());
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        rfc8187(&full)
    )
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::BadUserInput => StatusCode::BAD_REQUEST,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::LimitExceeded => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // An export runs no plugin; were one ever to fail here, the fault
        // is the plugin's, not the caller's.
        ErrorCode::PluginInvalid => StatusCode::BAD_REQUEST,
        ErrorCode::PluginTimeout
        | ErrorCode::PluginFuelExhausted
        | ErrorCode::PluginMemoryLimit
        | ErrorCode::PluginTrap
        | ErrorCode::PluginBadOutput => StatusCode::BAD_GATEWAY,
    }
}

/// The refusal, in the shape of a GraphQL error so that clients handle both alike.
fn refusal(err: &ApiError, request_id: &str) -> Response {
    let mut extensions = json!({ "code": err.code.as_str() });
    if let Some(field) = &err.field {
        extensions["field"] = json!(field);
    }
    if let Some(permission) = err.permission {
        extensions["permission"] = json!(permission);
    }
    let body = json!({ "errors": [{ "message": err.message, "extensions": extensions }] });
    let mut resp = Response::builder()
        .status(status_of(err.code))
        .header("x-request-id", request_id)
        .content_type("application/json")
        .body(body.to_string());
    if err.code == ErrorCode::Unauthenticated {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

async fn authenticate(req: &Request, app: &App) -> Result<std::sync::Arc<Principal>, ApiError> {
    match bearer(req) {
        Some(credential) => app.services.identity.authenticate(credential).await,
        None => Err(ApiError::unauthenticated(
            "sign in and send the token as Authorization: Bearer <token>",
        )),
    }
}

/// Runs the export into an anonymous temporary file and returns it rewound.
async fn export(
    app: &App,
    who: &Principal,
    actor: &Actor,
    query: &str,
) -> Result<(ExportSummary, std::fs::File, u64), ApiError> {
    let (unit, ledger, filter) = parse(query)?;
    let mut file = tempfile::tempfile()
        .map_err(|e| ApiError::internal(format!("no temporary file for an export: {e}")))?;
    let sink = file
        .try_clone()
        .map_err(|e| ApiError::internal(format!("temporary file: {e}")))?;
    let summary = app
        .services
        .registry
        .export_ledger(who, actor, unit, ledger, filter, sink)
        .await?;
    let length = file
        .seek(SeekFrom::End(0))
        .and_then(|len| file.seek(SeekFrom::Start(0)).map(|_| len))
        .map_err(|e| ApiError::internal(format!("temporary file: {e}")))?;
    Ok((summary, file, length))
}

#[handler]
pub async fn minors_xlsx(req: &Request, Data(app): Data<&App>) -> Response {
    let started = Instant::now();
    let rid = request_id(req);
    let query = req.uri().query().unwrap_or("");
    let who = authenticate(req, app).await;
    let result = match &who {
        Ok(who) => export(app, who, &Actor::of(who, &rid), query).await,
        Err(e) => Err(e.clone()),
    };
    let (tenant, actor) = match &who {
        Ok(p) => (
            p.tenant.to_string(),
            format!("{}:{}", p.actor_kind.as_str(), p.actor_id),
        ),
        Err(_) => ("-".to_owned(), "anonymous".to_owned()),
    };
    let outcome = result
        .as_ref()
        .err()
        .map_or("ok", |e| e.code.as_str())
        .to_owned();
    let rows = result.as_ref().map_or(0, |(s, _, _)| s.rows);
    tracing::info!(
        request_id = %rid,
        tenant = %tenant,
        actor = %actor,
        operation = "exportMinors",
        rows,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        outcome = %outcome,
        "export request"
    );
    match result {
        Ok((summary, file, length)) => Response::builder()
            .header("x-request-id", rid.as_str())
            .header(header::CONTENT_TYPE, XLSX)
            .header(header::CONTENT_DISPOSITION, disposition(&summary))
            .header(header::CONTENT_LENGTH, length)
            // Personal data: no cache along the way may keep a copy.
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::from_async_read(tokio::fs::File::from_std(file))),
        Err(err) => {
            if let (Ok(who), Some(permission)) = (&who, err.permission) {
                let entry = AuditEntry::ok("permission.denied", "permission", permission)
                    .with_outcome(Outcome::Denied)
                    .with_detail(json!({ "operation": "exportMinors" }));
                let actor = Actor::of(who, &rid);
                if let Err(e) = app
                    .services
                    .audit
                    .append_now(who.tenant, &actor, entry)
                    .await
                {
                    tracing::error!(error.code = %e.code, "could not audit a denial");
                }
            }
            refusal(&err, &rid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_strictly() {
        let (unit, ledger, filter) = parse(
            "ledger=difficulty&category=ILL_DISABLED_POOR&namePrefix=%E5%BC%A0&minAge=6&\
             guardianSituation=working_away",
        )
        .expect("parses");
        assert_eq!(unit, None);
        assert_eq!(ledger, Ledger::Difficulty);
        assert_eq!(filter.category, Some(Category::IllDisabledPoor));
        assert_eq!(filter.name_prefix.as_deref(), Some("张"));
        assert_eq!(filter.min_age, Some(6));
        assert_eq!(
            filter.guardian_situation,
            Some(GuardianSituation::WorkingAway)
        );
        let (_, _, filter) = parse("category=%E5%AD%A4%E5%84%BF").expect("a Chinese label");
        assert_eq!(filter.category, Some(Category::Orphan));
        for (bad, field) in [
            ("ledgr=all", "ledgr"),
            ("ledger=some", "ledger"),
            ("category=cats", "category"),
            ("minAge=-1", "minAge"),
            ("ledger=all&ledger=all", "ledger"),
        ] {
            let err = parse(bad).expect_err(bad);
            assert_eq!(err.code, ErrorCode::BadUserInput, "{bad}");
            assert_eq!(err.field.as_deref(), Some(field), "{bad}");
        }
        assert_eq!(
            parse("orgUnit=nonsense").expect_err("bad id").code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn file_names_carry_district_unit_ledger_and_day() {
        let summary = ExportSummary {
            unit_id: uuid::Uuid::nil(),
            unit_name: "长桥街道".into(),
            district_code: "320506".into(),
            district_name: "吴中区".into(),
            ledger: Ledger::Difficulty,
            rows: 3,
            masked: true,
            day: chrono::NaiveDate::from_ymd_opt(2026, 12, 3).expect("date"),
        };
        let value = disposition(&summary);
        assert!(value.starts_with(
            "attachment; filename=\"minors-320506-difficulty-20261203.xlsx\"; filename*=UTF-8''"
        ));
        let encoded = value.rsplit("''").next().expect("encoded name");
        assert_eq!(
            percent_decode(encoded).as_deref(),
            Some("吴中区-长桥街道-困境未成年人台账-2026-12-03.xlsx")
        );
    }
}
