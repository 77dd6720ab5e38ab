//! Exporting a ledger (all minors, or the difficulty ledger) of one org unit as an XLSX
//! workbook, masked exactly as the GraphQL reads mask, and audited.
//!
//! The rows come from the same scoped, filtered query as the `minors` list, in the same
//! order (name, then id), a thousand at a time with their categories and guardians fetched
//! in one query each per page. They are written by `XlsxLedgerWriter` on the blocking pool,
//! fed page by page through a small channel, so that neither the rows nor the workbook sit
//! in memory and the async workers never wait on compression.
//!
//! Without `minor:sensitive` the identity number and phones are masked (`3205************1X`),
//! address, health and HIV status are left empty, sensitive categories are left out and a
//! guardian's imprisonment or drug rehabilitation is not shown; names stay, as in the
//! GraphQL reads. Every export, masked or not, leaves one audit entry naming the unit, the
//! ledger, the filters used (by name only: a name prefix or a document number is personal
//! data), the row count and whether it was masked.

use std::collections::HashMap;
use std::io::{Seek, Write};

use chrono::NaiveDate;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use shouhu_audit::{Actor, AuditEntry};
use shouhu_kernel::{ApiError, Principal, ScopedTx};
use shouhu_policies::Permission;
use shouhu_tenancy::{in_scope, subtree_ids};
use uuid::Uuid;

use super::{MinorFilter, MinorView, RegistryService};
use crate::entity::{guardian, minor, minor_category};
use crate::model::{
    Category, DocumentKind, EconomicStatus, GuardianSituation, MinorStatus, Relationship, SexCode,
};
use crate::sheet_in::SheetError;
use crate::{age_on, mask_id, OutCell, XlsxLedgerWriter};

/// Minors fetched and handed to the writer at a time.
const PAGE: u64 = 1_000;

/// Which ledger to export.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Ledger {
    /// Every minor of the unit (全部未成年人台账).
    All,
    /// Minors in at least one difficulty category (困境未成年人台账).
    Difficulty,
}

impl Ledger {
    pub fn code(self) -> &'static str {
        match self {
            Ledger::All => "all",
            Ledger::Difficulty => "difficulty",
        }
    }

    /// `all` or `difficulty` (either case).
    pub fn parse(text: &str) -> Option<Ledger> {
        match text.trim().to_ascii_lowercase().as_str() {
            "all" => Some(Ledger::All),
            "difficulty" => Some(Ledger::Difficulty),
            _ => None,
        }
    }

    /// The Chinese name, used for the sheet and the file name.
    pub fn label_zh(self) -> &'static str {
        match self {
            Ledger::All => "未成年人台账",
            Ledger::Difficulty => "困境未成年人台账",
        }
    }
}

/// What an export wrote, for the response headers and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    pub unit_id: Uuid,
    pub unit_name: String,
    pub district_code: String,
    pub district_name: String,
    pub ledger: Ledger,
    pub rows: u64,
    pub masked: bool,
    /// The district's today, for the file name.
    pub day: NaiveDate,
}

/// The columns of an exported ledger. Those that an import also reads carry its standard
/// headers, so an exported sheet can be corrected and imported again.
pub const EXPORT_HEADERS: &[&str] = &[
    "姓名",
    "证件类型",
    "公民身份号码",
    "性别",
    "出生日期",
    "年龄",
    "民族",
    "户籍地",
    "所属街道",
    "所在社区",
    "现住址",
    "联系电话",
    "学校",
    "年级",
    "健康状况",
    "残疾等级",
    "艾滋病病毒感染状况",
    "家庭经济状况",
    "困境类型",
    "困境认定日期",
    "认定来源",
    "监护人姓名",
    "与监护人关系",
    "监护人电话",
    "监护情况",
    "其他监护人",
    "状态",
    "待跟进",
];

/// Columns that hold numbers which must stay text (identity and phone numbers).
const TEXT_COLUMNS: &[&str] = &["公民身份号码", "联系电话", "监护人电话"];

/// Several values in one cell are joined with the ideographic enumeration comma.
const LIST: &str = "、";

/// A unit's name and its street's name, looked up once per export.
struct Units {
    names: HashMap<Uuid, (String, String)>,
}

impl Units {
    async fn of(
        &mut self,
        service: &RegistryService,
        tx: &ScopedTx,
        id: Uuid,
    ) -> Result<(String, String), ApiError> {
        if let Some(hit) = self.names.get(&id) {
            return Ok(hit.clone());
        }
        let unit = service.tenancy.unit_in(tx, id).await?;
        let (name, street) = match unit {
            Some(u) => {
                let street = match u.parent_id {
                    Some(parent) if u.depth >= 2 => service
                        .tenancy
                        .unit_in(tx, parent)
                        .await?
                        .map(|p| p.name)
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                (u.name, street)
            }
            None => (String::new(), String::new()),
        };
        self.names.insert(id, (name.clone(), street.clone()));
        Ok((name, street))
    }
}

/// One row of the sheet, masked unless `open`; the same rules as the GraphQL `Minor`.
fn row_cells(
    row: &minor::Model,
    categories: &[minor_category::Model],
    guardians: &[guardian::Model],
    (community, street): (String, String),
    open: bool,
    today: NaiveDate,
) -> Vec<OutCell> {
    let text = |v: &Option<String>| OutCell::from(v.clone());
    let hide = |v: &Option<String>| if open { text(v) } else { OutCell::Empty };
    let mask = |v: &Option<String>| match v {
        Some(s) if !open => OutCell::Text(mask_id(s)),
        other => text(other),
    };
    let birth = NaiveDate::parse_from_str(&row.birth_date, "%Y-%m-%d").ok();
    let shown: Vec<(Category, &minor_category::Model)> = categories
        .iter()
        .filter_map(|c| Category::parse(&c.category).map(|k| (k, c)))
        .filter(|(k, _)| open || !k.is_sensitive())
        .collect();
    let joined = |f: &dyn Fn(&(Category, &minor_category::Model)) -> String| {
        let parts: Vec<String> = shown.iter().map(f).collect();
        if parts.is_empty() {
            OutCell::Empty
        } else {
            OutCell::Text(parts.join(LIST))
        }
    };
    let situation = |g: &guardian::Model| {
        GuardianSituation::parse(&g.situation)
            .filter(|s| open || !s.is_sensitive())
            .map(|s| s.label_zh().to_owned())
    };
    let relationship = |g: &guardian::Model| {
        Relationship::parse(&g.relationship).map_or_else(String::new, |r| r.label_zh().to_owned())
    };
    let first = guardians.first();
    let others: Vec<String> = guardians
        .iter()
        .skip(1)
        .map(|g| {
            let mut details = vec![relationship(g)];
            if let Some(phone) = &g.phone {
                details.push(if open { phone.clone() } else { mask_id(phone) });
            }
            if let Some(s) = situation(g) {
                details.push(s);
            }
            let details: Vec<String> = details.into_iter().filter(|d| !d.is_empty()).collect();
            format!("{}（{}）", g.name, details.join("，"))
        })
        .collect();
    vec![
        OutCell::Text(row.name.clone()),
        row.doc_type
            .as_deref()
            .and_then(DocumentKind::parse)
            .map_or(OutCell::Empty, |k| OutCell::Text(k.label_zh().to_owned())),
        mask(&row.doc_number),
        SexCode::parse(&row.sex).map_or(OutCell::Empty, |s| OutCell::from(s.label_zh())),
        birth.map_or_else(|| OutCell::Text(row.birth_date.clone()), OutCell::Date),
        birth.map_or(OutCell::Empty, |b| {
            OutCell::Number(f64::from(age_on(b, today)))
        }),
        text(&row.ethnicity),
        text(&row.hukou_place),
        OutCell::Text(street),
        OutCell::Text(community),
        hide(&row.address),
        mask(&row.phone),
        text(&row.school),
        text(&row.grade),
        hide(&row.health),
        text(&row.disability_grade),
        hide(&row.hiv_status),
        EconomicStatus::parse(&row.economic_status)
            .map_or(OutCell::Empty, |e| OutCell::from(e.label_zh())),
        joined(&|(k, _)| k.label_zh().to_owned()),
        joined(&|(_, c)| c.since.clone()),
        joined(&|(_, c)| c.source.clone()),
        first.map_or(OutCell::Empty, |g| OutCell::Text(g.name.clone())),
        first.map_or(OutCell::Empty, |g| OutCell::Text(relationship(g))),
        first.map_or(OutCell::Empty, |g| mask(&g.phone)),
        first.map_or(OutCell::Empty, |g| OutCell::from(situation(g))),
        if others.is_empty() {
            OutCell::Empty
        } else {
            OutCell::Text(others.join("；"))
        },
        MinorStatus::parse(&row.status).map_or(OutCell::Empty, |s| OutCell::from(s.label_zh())),
        OutCell::from(if row.needs_follow_up { "是" } else { "否" }),
    ]
}

fn sheet_error(err: SheetError) -> ApiError {
    match err {
        SheetError::TooManyRows => ApiError::limit(
            "the ledger has more rows than one worksheet holds (1,048,575); narrow it with \
             filters or a smaller org unit",
        ),
        other => ApiError::internal(format!("writing the export: {other}")),
    }
}

impl RegistryService {
    /// The ids of the units under the narrower of the caller's scope and `under_path`, to
    /// bound a ledger's category rows with (see `filtered`); `None` when that is the whole
    /// district, which the tenant already bounds.
    pub(super) async fn ledger_units(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        under_path: Option<&str>,
    ) -> Result<Option<Vec<Uuid>>, ApiError> {
        // `under_path` was checked to lie within the scope, so it is the narrower one.
        let Some(path) = under_path.or(who.scope_path()) else {
            return Ok(None);
        };
        // A district's root path is `/<code>/`; a deeper one has more segments.
        if path.trim_matches('/').split('/').count() < 2 {
            return Ok(None);
        }
        let statement = tx
            .conn()
            .get_database_backend()
            .build(&subtree_ids(who.tenant, path));
        let mut ids = Vec::new();
        for row in tx.conn().query_all(statement).await? {
            ids.push(row.try_get_by_index::<Uuid>(0)?);
        }
        Ok(Some(ids))
    }

    /// The views of a page of minors, with their categories and guardians fetched in one
    /// query each (categories by code, guardians in the order they were entered), as
    /// `view_in` gives them one minor at a time.
    pub(super) async fn views_in(
        &self,
        tx: &ScopedTx,
        who: &Principal,
        rows: Vec<minor::Model>,
    ) -> Result<Vec<MinorView>, ApiError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut categories: HashMap<Uuid, Vec<minor_category::Model>> = HashMap::new();
        for c in tx
            .select::<minor_category::Entity>()
            .filter(minor_category::Column::MinorId.is_in(ids.clone()))
            .order_by_asc(minor_category::Column::Category)
            .all(tx.conn())
            .await?
        {
            categories.entry(c.minor_id).or_default().push(c);
        }
        let mut guardians: HashMap<Uuid, Vec<guardian::Model>> = HashMap::new();
        for g in tx
            .select::<guardian::Entity>()
            .filter(guardian::Column::MinorId.is_in(ids))
            .order_by_asc(guardian::Column::CreatedAtMs)
            .order_by_asc(guardian::Column::Id)
            .all(tx.conn())
            .await?
        {
            guardians.entry(g.minor_id).or_default().push(g);
        }
        let unmasked = who.has(Permission::MinorSensitive);
        Ok(rows
            .into_iter()
            .map(|row| MinorView {
                categories: categories.remove(&row.id).unwrap_or_default(),
                guardians: guardians.remove(&row.id).unwrap_or_default(),
                row,
                unmasked,
            })
            .collect())
    }

    /// Writes the ledger of `unit` (the caller's own unit when `None`) as an XLSX workbook
    /// into `sink`, with the filters of the `minors` list, and audits it. Needs `minor:read`
    /// and `minor:export`; a unit outside the caller's subtree or district is NOT_FOUND.
    pub async fn export_ledger<W>(
        &self,
        who: &Principal,
        actor: &Actor,
        unit: Option<Uuid>,
        ledger: Ledger,
        filter: MinorFilter,
        sink: W,
    ) -> Result<ExportSummary, ApiError>
    where
        W: Write + Seek + Send + 'static,
    {
        who.require(Permission::MinorRead)?;
        who.require(Permission::MinorExport)?;
        super::require_open_filter(who, &filter)?;
        let open = who.has(Permission::MinorSensitive);
        let today = self.today();
        let tenant = self
            .tenancy
            .tenant(who.tenant)
            .await?
            .ok_or_else(|| ApiError::not_found("district"))?;
        let tx = self.db.read(who.tenant).await?;
        let unit = match unit.or(who.org_unit_id) {
            Some(id) => self.tenancy.unit_in(&tx, id).await?,
            None => Some(self.tenancy.root_in(&tx).await?),
        }
        .filter(|u| in_scope(who, &u.path))
        .ok_or_else(|| ApiError::not_found("org unit"))?;
        let filter = MinorFilter {
            under: Some(unit.id),
            difficulty_only: filter.difficulty_only || ledger == Ledger::Difficulty,
            ..filter
        };

        let sheet = ledger.label_zh();
        let (pages, mut receive) = tokio::sync::mpsc::channel::<Vec<Vec<OutCell>>>(2);
        let writing = tokio::task::spawn_blocking(move || -> Result<u64, SheetError> {
            let mut writer = XlsxLedgerWriter::new(sheet, EXPORT_HEADERS)?;
            for (index, header) in EXPORT_HEADERS.iter().enumerate() {
                if TEXT_COLUMNS.contains(header) {
                    writer.mark_text_column(index)?;
                }
            }
            while let Some(page) = receive.blocking_recv() {
                for row in &page {
                    writer.push_row(row)?;
                }
            }
            let rows = u64::from(writer.rows_written());
            writer.finish_to_writer(sink)?;
            Ok(rows)
        });

        let units = self.ledger_units(&tx, who, Some(&unit.path)).await?;
        let mut places = Units {
            names: HashMap::new(),
        };
        let mut after: Option<(String, Uuid)> = None;
        loop {
            let mut query = self
                .filtered(&tx, who, &filter, Some(&unit.path), units.as_deref())
                .order_by_asc(minor::Column::Name)
                .order_by_asc(minor::Column::Id)
                .limit(PAGE);
            if let Some((name, id)) = after.take() {
                query = query.filter(
                    Condition::any()
                        .add(minor::Column::Name.gt(name.clone()))
                        .add(
                            Condition::all()
                                .add(minor::Column::Name.eq(name))
                                .add(minor::Column::Id.gt(id)),
                        ),
                );
            }
            let rows = query.all(tx.conn()).await?;
            let Some(last) = rows.last() else { break };
            after = Some((last.name.clone(), last.id));
            let full = rows.len() as u64 == PAGE;
            let views = self.views_in(&tx, who, rows).await?;
            let mut page = Vec::with_capacity(views.len());
            for view in &views {
                let place = places.of(self, &tx, view.row.org_unit_id).await?;
                page.push(row_cells(
                    &view.row,
                    &view.categories,
                    &view.guardians,
                    place,
                    open,
                    today,
                ));
            }
            if pages.send(page).await.is_err() {
                // The writer stopped: its error is reported below.
                break;
            }
            if !full {
                break;
            }
        }
        drop(pages);
        tx.commit().await?;
        let rows = writing
            .await
            .map_err(|e| ApiError::internal(format!("the export writer failed: {e}")))?
            .map_err(sheet_error)?;

        let mut filters = Vec::new();
        let mut mark = |used: bool, name: &str| {
            if used {
                filters.push(name.to_owned());
            }
        };
        mark(filter.name_prefix.is_some(), "namePrefix");
        mark(filter.document_number.is_some(), "documentNumber");
        mark(filter.category.is_some(), "category");
        mark(filter.status.is_some(), "status");
        mark(filter.min_age.is_some(), "minAge");
        mark(filter.max_age.is_some(), "maxAge");
        mark(filter.guardian_situation.is_some(), "guardianSituation");
        self.audit
            .append_now(
                who.tenant,
                actor,
                AuditEntry::ok("minor.export", "org_unit", unit.id).with_detail(json!({
                    "ledger": ledger.code(),
                    "rows": rows,
                    "masked": !open,
                    "filters": filters,
                    "category": filter.category.map(|c| c.code()),
                    "status": filter.status.map(|s| s.code()),
                })),
            )
            .await?;
        Ok(ExportSummary {
            unit_id: unit.id,
            unit_name: unit.name,
            district_code: tenant.code,
            district_name: tenant.name,
            ledger,
            rows,
            masked: !open,
            day: today,
        })
    }
}
