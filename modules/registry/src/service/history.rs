//! The history of a minor, shown through the same lens as the record.
//!
//! History keeps every value as it was, so that a change can be explained
//! later. A reader without `minor:sensitive` must not learn from the
//! history what the record itself hides: identity numbers and phones are
//! masked, addresses, health and HIV status withheld, and sensitive
//! categories and guardianship situations left out. A reader with it sees
//! everything, and that read is audited like any other sensitive read.

use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use shouhu_audit::{Actor, AuditEntry};
use shouhu_kernel::{ApiError, Principal};
use shouhu_policies::Permission;
use uuid::Uuid;

use super::RegistryService;
use crate::entity::minor_history;
use crate::mask_id;
use crate::model::{Category, GuardianSituation};

/// One history entry as the caller may see it.
#[derive(Clone, Debug)]
pub struct HistoryView {
    pub row: minor_history::Model,
    /// Whether `before` and `after` were masked for this caller.
    pub masked: bool,
}

/// Fields whose values are withheld entirely without `minor:sensitive`.
const WITHHELD: &[&str] = &["address", "health", "hivStatus"];
/// Fields whose values are shown masked without `minor:sensitive`.
const MASKED: &[&str] = &["phone", "documentNumber"];

fn mask_text(value: &Value) -> Value {
    match value.as_str() {
        Some(text) => json!(mask_id(text)),
        None => value.clone(),
    }
}

/// A guardian as the history keeps it, with phone masked and a sensitive
/// situation withheld.
fn mask_guardian(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(obj) = value.as_object_mut() {
        if let Some(phone) = obj.get("phone").map(mask_text) {
            obj.insert("phone".into(), phone);
        }
        let sensitive = obj
            .get("situation")
            .and_then(Value::as_str)
            .and_then(GuardianSituation::parse)
            .is_some_and(GuardianSituation::is_sensitive);
        if sensitive {
            obj.insert("situation".into(), Value::Null);
        }
    }
    value
}

/// Categories as the history keeps them (`[code, since, source]`
/// triples), without the sensitive ones.
fn mask_categories(value: &Value) -> Value {
    match value.as_array() {
        Some(items) => Value::Array(
            items
                .iter()
                .filter(|item| {
                    let code = item.get(0).and_then(Value::as_str).unwrap_or("");
                    !Category::parse(code).is_some_and(Category::is_sensitive)
                })
                .cloned()
                .collect(),
        ),
        None => value.clone(),
    }
}

/// `(before, after, masked)` of one change as a caller without
/// `minor:sensitive` may see it.
fn masked_values(change: &str, before: &Value, after: &Value) -> (Value, Value, bool) {
    let both = |f: fn(&Value) -> Value| (f(before), f(after), true);
    if WITHHELD.contains(&change) {
        (Value::Null, Value::Null, true)
    } else if MASKED.contains(&change) {
        both(mask_text)
    } else if change == "categories" {
        both(mask_categories)
    } else if change.starts_with("guardian.") {
        both(mask_guardian)
    } else {
        (before.clone(), after.clone(), false)
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// The entry as a caller without `minor:sensitive` may see it.
pub(crate) fn mask_entry(mut row: minor_history::Model) -> HistoryView {
    let (before, after, masked) =
        masked_values(&row.change, &parse(&row.before), &parse(&row.after));
    if masked {
        row.before = before.to_string();
        row.after = after.to_string();
    }
    HistoryView { row, masked }
}

/// An entry as a masked reader sees it in a minor's history, or `None` when
/// all it changed is hidden: an entry saying that `hivStatus` changed, or a
/// guardian's situation, would tell what masking withholds. The reason of a
/// masked entry is withheld too, since it is free text written about the
/// hidden values.
fn masked_history_entry(row: minor_history::Model) -> Option<HistoryView> {
    let mut view = mask_entry(row);
    if !view.masked {
        return Some(view);
    }
    if view.row.before == view.row.after && view.row.change != "created" {
        return None;
    }
    view.row.reason = String::new();
    Some(view)
}

impl RegistryService {
    /// The history of one minor, oldest first: masked without
    /// `minor:sensitive`, audited with it.
    pub async fn history(
        &self,
        who: &Principal,
        actor: &Actor,
        id: Uuid,
    ) -> Result<Vec<HistoryView>, ApiError> {
        who.require(Permission::MinorRead)?;
        let (tx, sensitive) = self.reading_tx(who).await?;
        self.visible(&tx, who, id).await?;
        let rows = tx
            .select::<minor_history::Entity>()
            .filter(minor_history::Column::MinorId.eq(id))
            .order_by_asc(minor_history::Column::AtMs)
            .order_by_asc(minor_history::Column::Id)
            .all(tx.conn())
            .await?;
        if sensitive {
            self.audit
                .append(
                    &tx,
                    actor,
                    AuditEntry::ok("minor.history_sensitive", "minor", id),
                )
                .await?;
        }
        tx.commit().await?;
        if sensitive {
            return Ok(rows
                .into_iter()
                .map(|row| HistoryView { row, masked: false })
                .collect());
        }
        Ok(rows.into_iter().filter_map(masked_history_entry).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(change: &str, before: Value, after: Value) -> minor_history::Model {
        minor_history::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::nil(),
            minor_id: Uuid::nil(),
            at_ms: 0,
            actor_kind: "user".into(),
            actor_id: Uuid::nil(),
            change: change.into(),
            before: before.to_string(),
            after: after.to_string(),
            reason: "test".into(),
        }
    }

    #[test]
    fn a_masked_history_leaves_out_hidden_changes_and_their_reasons() {
        let hidden = entry("hivStatus", json!("阴性"), json!("阳性"));
        assert!(masked_history_entry(hidden).is_none());
        let hidden = entry(
            "categories",
            json!([["hiv", "2024-01-01", "x"]]),
            json!([["hiv", "2024-01-01", "x"], ["abused", "2024-02-01", "y"]]),
        );
        assert!(masked_history_entry(hidden).is_none());
        let mixed = entry(
            "categories",
            json!([["hiv", "2024-01-01", "x"]]),
            json!([["hiv", "2024-01-01", "x"], ["orphan", "2024-02-01", "y"]]),
        );
        let shown = masked_history_entry(mixed).expect("a visible change");
        assert!(shown.masked && shown.row.reason.is_empty());
        assert!(!shown.row.after.contains("hiv"));
        let open = entry("name", json!("张三"), json!("张叁"));
        let shown = masked_history_entry(open).expect("an open change");
        assert_eq!(shown.row.reason, "test");
    }

    /// Each row: change, before, after, expected before, expected after,
    /// masked.
    #[test]
    fn sensitive_values_never_reach_a_reader_without_the_permission() {
        let cases = [
            (
                "address",
                json!("苏州市吴中区长桥街道 1 号"),
                json!("2 号"),
                Value::Null,
                Value::Null,
                true,
            ),
            (
                "hivStatus",
                json!(null),
                json!("positive"),
                Value::Null,
                Value::Null,
                true,
            ),
            (
                "health",
                json!("ok"),
                json!("ill"),
                Value::Null,
                Value::Null,
                true,
            ),
            (
                "phone",
                json!("13800001234"),
                json!("13900005678"),
                json!(mask_id("13800001234")),
                json!(mask_id("13900005678")),
                true,
            ),
            (
                "categories",
                json!([
                    ["hiv", "2024-01-01", "hospital"],
                    ["orphan", "2024-01-01", "x"]
                ]),
                json!([["orphan", "2024-01-01", "x"]]),
                json!([["orphan", "2024-01-01", "x"]]),
                json!([["orphan", "2024-01-01", "x"]]),
                true,
            ),
            (
                "guardian.changed",
                json!({"name": "张三", "phone": "13800001234", "situation": "imprisoned"}),
                json!({"name": "张三", "phone": "13800001234", "situation": "present"}),
                json!({"name": "张三", "phone": mask_id("13800001234"), "situation": null}),
                json!({"name": "张三", "phone": mask_id("13800001234"), "situation": "present"}),
                true,
            ),
            (
                "school",
                json!("一中"),
                json!("二中"),
                json!("一中"),
                json!("二中"),
                false,
            ),
            (
                "status",
                json!("active"),
                json!("moved"),
                json!("active"),
                json!("moved"),
                false,
            ),
        ];
        for (change, before, after, want_before, want_after, masked) in cases {
            let view = mask_entry(entry(change, before, after));
            assert_eq!(parse(&view.row.before), want_before, "{change} before");
            assert_eq!(parse(&view.row.after), want_after, "{change} after");
            assert_eq!(view.masked, masked, "{change}");
        }
    }
}
