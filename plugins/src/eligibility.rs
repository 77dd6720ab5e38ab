//! The `assistance-eligibility` extension point in types: the minors a
//! screening hands to a plugin and the decisions that come back, in either
//! of the two ABIs a plugin of this point may speak.
//!
//! ABI 1 carries both as JSON, as every extension point does. ABI 2 exists
//! for this point alone, because a screening hands over a whole difficulty
//! ledger: the call's context stays one small JSON header, while each minor
//! and each decision becomes a fixed-size little-endian record, so that a
//! plugin reads a minor in a handful of instructions instead of parsing
//! some 150 bytes of JSON, and the host reads a decision the same way.
//!
//! ```text
//! stdin:  u32 header length | header (JSON) | u32 count | count x 8-byte minor
//! stdout: u32 header length | header (JSON) | u32 count | count x 16-byte decision
//! ```
//!
//! The layouts are [`MINOR_RECORD`] and [`DECISION_RECORD`]; `docs/plugins.md`
//! and `plugins/examples/c-eligibility-abi2/shouhu_abi2.h` spell them out for
//! plugin authors. Whatever the ABI, the server sees [`Decisions`], and a
//! call's record keeps the decisions in ABI 1's JSON shape, so that every
//! decision is explained the same way.

use serde_json::{json, Map, Value};

use crate::PluginError;

/// The bytes of one minor in ABI 2:
/// `[0]` age in whole years (255: unknown);
/// `[1]` sex (0 unknown, 1 male, 2 female);
/// `[2]` household economic status (0 unknown, then [`ECONOMIC_STATUSES`] from 1);
/// `[3]` disability grade (0 none recorded, 1-4 for 一级-四级, 255 another text);
/// `[4..8]` categories, bit `i` for [`CATEGORIES`]`[i]`.
pub const MINOR_RECORD: usize = 8;

/// The bytes of one decision in ABI 2:
/// `[0]` eligible (0 or 1);
/// `[1]` proposed benefit (0 none, 1-4 an amount per [`PERIODS`]`[b - 1]`, 5 in kind);
/// `[2..4]` u16, for help in kind: its index in the header's `inKind`;
/// `[4..8]` u32 reasons, bit `i` for the header's `reasons[i]`;
/// `[8..16]` i64 amount in cents, for an amount per period.
pub const DECISION_RECORD: usize = 16;

/// The categories of difficulty in ABI 2's bit order. New categories are
/// only ever appended, so a bit never changes its meaning.
pub const CATEGORIES: [&str; 9] = [
    "orphan",
    "abandoned",
    "street_begging",
    "hiv",
    "trafficked",
    "parent_detained",
    "abused",
    "de_facto_unsupported",
    "ill_disabled_poor",
];

/// Household economic statuses, coded from 1 in this order.
pub const ECONOMIC_STATUSES: [&str; 4] = ["none", "dibao", "dibao_edge", "tekun"];

/// Benefit periods, coded from 1 in this order.
pub const PERIODS: [&str; 4] = ["once", "month", "quarter", "year"];

/// Disability grades as the registry records them, coded from 1.
const DISABILITY_GRADES: [&str; 4] = ["一级", "二级", "三级", "四级"];

/// At most this many distinct reasons in one ABI 2 answer (a bit each).
pub const MAX_REASONS: usize = 32;

/// At most this many reasons in one decision, whatever the ABI (ABI 1's
/// output schema says the same with `maxItems`).
pub const MAX_REASONS_PER_DECISION: u32 = 20;

/// At most this many characters in one reason or one in-kind benefit,
/// whatever the ABI (ABI 1's output schema says the same with `maxLength`):
/// they are shown to caseworkers and kept on enrolments.
pub const MAX_TEXT_CHARS: usize = 200;

/// Refuses a reason or an in-kind text a caseworker should not be shown:
/// too long, or holding a control character or a bidirectional override,
/// which could make a screen show other words than the ones kept.
fn check_text(what: &dyn std::fmt::Display, text: &str) -> Result<(), PluginError> {
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(PluginError::BadOutput(format!(
            "{what} is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}')
            || matches!(c, '\u{2066}'..='\u{2069}')
    };
    if text.chars().any(hidden) {
        return Err(PluginError::BadOutput(format!(
            "{what} holds a control or bidirectional formatting character"
        )));
    }
    Ok(())
}

/// One minor as an eligibility rule sees it: the registry's codes, never a
/// name, document or address. Masked categories are simply absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Minor {
    pub id: String,
    pub age: Option<u32>,
    pub sex: Option<String>,
    pub categories: Vec<String>,
    pub economic_status: Option<String>,
    pub disability_grade: Option<String>,
}

/// A proposed benefit.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Benefit {
    None,
    Amount { cents: i64, period: u8 },
    InKind(u32),
}

#[derive(Clone, Debug)]
struct Row {
    eligible: bool,
    /// `reason_ids[reasons.0 .. reasons.1]` are this decision's reasons.
    reasons: (u32, u32),
    benefit: Benefit,
}

/// A plugin's decisions, one per minor it was asked about, in the order
/// of the minors. Reasons and in-kind texts are kept once per call and
/// referred to by index, so reading an answer allocates per call, not per
/// decision.
#[derive(Clone, Debug, Default)]
pub struct Decisions {
    texts: Vec<String>,
    reason_ids: Vec<u32>,
    rows: Vec<Row>,
}

impl Decisions {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether the `i`-th minor is eligible.
    pub fn eligible(&self, i: usize) -> bool {
        self.rows[i].eligible
    }

    /// The reasons given for the `i`-th minor.
    pub fn reasons(&self, i: usize) -> impl Iterator<Item = &str> + '_ {
        let (from, to) = self.rows[i].reasons;
        self.reason_ids[from as usize..to as usize]
            .iter()
            .map(|&t| self.texts[t as usize].as_str())
    }

    /// The benefit proposed for the `i`-th minor, in ABI 1's JSON shape.
    pub fn benefit(&self, i: usize) -> Option<Value> {
        match self.rows[i].benefit {
            Benefit::None => None,
            Benefit::Amount { cents, period } => Some(json!({
                "amountCents": cents,
                "period": PERIODS[usize::from(period) - 1],
            })),
            Benefit::InKind(t) => Some(json!({ "inKind": self.texts[t as usize] })),
        }
    }

    /// The decisions as an ABI 1 answer about the minors `ids` (in order),
    /// as a dry run shows it.
    pub fn to_json<S: AsRef<str>>(&self, ids: &[S]) -> Value {
        serde_json::to_value(self.answer(ids)).unwrap_or(Value::Null)
    }

    /// [`Self::to_json`] as text, written straight from the decisions:
    /// what a call's record keeps.
    pub fn to_json_string<S: AsRef<str>>(&self, ids: &[S]) -> String {
        serde_json::to_string(&self.answer(ids)).unwrap_or_default()
    }

    fn answer<'a, S: AsRef<str>>(&'a self, ids: &'a [S]) -> JsonAnswer<'a> {
        let decisions = ids
            .iter()
            .zip(&self.rows)
            .map(|(id, row)| JsonDecision {
                minor_id: id.as_ref(),
                eligible: row.eligible,
                reasons: self.reason_ids[row.reasons.0 as usize..row.reasons.1 as usize]
                    .iter()
                    .map(|&t| self.texts[t as usize].as_str())
                    .collect(),
                benefit: match row.benefit {
                    Benefit::None => None,
                    Benefit::Amount { cents, period } => Some(JsonBenefit::Amount {
                        amount_cents: cents,
                        period: PERIODS[usize::from(period) - 1],
                    }),
                    Benefit::InKind(t) => Some(JsonBenefit::InKind {
                        in_kind: &self.texts[t as usize],
                    }),
                },
            })
            .collect();
        JsonAnswer { decisions }
    }

    /// Reads an ABI 1 answer (already checked against the output schema)
    /// into decisions about `ids`, in their order. A decision about a minor
    /// not asked about is ignored; a minor without one is PLUGIN_BAD_OUTPUT.
    pub fn from_json<S: AsRef<str>>(output: &Value, ids: &[S]) -> Result<Decisions, PluginError> {
        let answered: std::collections::HashMap<&str, &Value> = output["decisions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["minorId"].as_str().map(|id| (id, d)))
            .collect();
        let mut out = Decisions::default();
        let mut missing = 0usize;
        for id in ids {
            let Some(d) = answered.get(id.as_ref()) else {
                missing += 1;
                continue;
            };
            let from = out.reason_ids.len() as u32;
            for (j, reason) in d["reasons"].as_array().into_iter().flatten().enumerate() {
                if let Some(text) = reason.as_str() {
                    check_text(
                        &format_args!("the decision on {}: reasons[{j}]", id.as_ref()),
                        text,
                    )?;
                    out.reason_ids.push(out.texts.len() as u32);
                    out.texts.push(text.to_owned());
                }
            }
            let benefit = match d.get("benefit") {
                Some(b) if b.get("inKind").is_some() => {
                    let text = b["inKind"].as_str().unwrap_or_default();
                    check_text(
                        &format_args!("the decision on {}: benefit.inKind", id.as_ref()),
                        text,
                    )?;
                    out.texts.push(text.to_owned());
                    Benefit::InKind(out.texts.len() as u32 - 1)
                }
                Some(b) if b.get("amountCents").is_some() => Benefit::Amount {
                    cents: b["amountCents"].as_i64().ok_or_else(|| {
                        PluginError::BadOutput(format!(
                            "the decision on {}: benefit.amountCents is beyond any budget",
                            id.as_ref()
                        ))
                    })?,
                    period: b["period"]
                        .as_str()
                        .and_then(|p| PERIODS.iter().position(|q| *q == p))
                        .map_or(0, |p| p as u8 + 1),
                },
                _ => Benefit::None,
            };
            if matches!(benefit, Benefit::Amount { period: 0, .. }) {
                return Err(PluginError::BadOutput(
                    "a benefit's period is not once, month, quarter or year".into(),
                ));
            }
            out.rows.push(Row {
                eligible: d["eligible"].as_bool().unwrap_or(false),
                reasons: (from, out.reason_ids.len() as u32),
                benefit,
            });
        }
        if missing > 0 {
            return Err(PluginError::BadOutput(format!(
                "the plugin gave no decision for {missing} of the minors it was asked about"
            )));
        }
        Ok(out)
    }
}

/// An answer in ABI 1's shape, borrowed from [`Decisions`].
#[derive(serde::Serialize)]
struct JsonAnswer<'a> {
    decisions: Vec<JsonDecision<'a>>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonDecision<'a> {
    minor_id: &'a str,
    eligible: bool,
    reasons: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    benefit: Option<JsonBenefit<'a>>,
}

#[derive(serde::Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
enum JsonBenefit<'a> {
    Amount {
        amount_cents: i64,
        period: &'static str,
    },
    InKind {
        in_kind: &'a str,
    },
}

/// The ABI 1 input document: the header (`abi`, `kind`, `asOf`,
/// `programme`, `data`) with the minors added under `minors`.
pub fn input_json(header: &Map<String, Value>, minors: &[Minor]) -> Value {
    let mut doc = header.clone();
    let minors: Vec<Value> = minors
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "age": m.age,
                "sex": m.sex,
                "categories": m.categories,
                "economicStatus": m.economic_status,
                "disabilityGrade": m.disability_grade,
            })
        })
        .collect();
    doc.insert("minors".into(), Value::Array(minors));
    Value::Object(doc)
}

/// Splits an ABI 1 input document (a dry run's, typed by a person) into its
/// header and its minors, so that an ABI 2 plugin can be dry-run on the
/// same document as an ABI 1 plugin. The document has been checked against
/// the input schema.
pub fn split_input(doc: &Value) -> (Map<String, Value>, Vec<Minor>) {
    let mut header = doc.as_object().cloned().unwrap_or_default();
    let minors = match header.remove("minors") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| {
                let text = |key: &str| m[key].as_str().map(str::to_owned);
                Minor {
                    id: text("id").unwrap_or_default(),
                    age: m["age"]
                        .as_u64()
                        .map(|a| u32::try_from(a).unwrap_or(u32::MAX)),
                    sex: text("sex"),
                    categories: m["categories"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect(),
                    economic_status: text("economicStatus"),
                    disability_grade: text("disabilityGrade"),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    (header, minors)
}

/// Writes a call's stdin in `abi`: `header` is the call's context
/// (`asOf`, `programme`, `data`), to which the `abi` and `kind` are added.
/// An ABI 1 document is checked against the input schema.
pub fn write_input(
    abi: u32,
    mut header: Map<String, Value>,
    minors: &[Minor],
) -> Result<Vec<u8>, PluginError> {
    let kind = crate::Kind::AssistanceEligibility;
    header.insert("abi".into(), Value::from(abi));
    header.insert("kind".into(), Value::from(kind.as_str()));
    if abi == 2 {
        return encode(&header, minors);
    }
    let doc = input_json(&header, minors);
    crate::schema::check(kind, crate::Direction::Input, &doc).map_err(PluginError::BadInput)?;
    serde_json::to_vec(&doc).map_err(|e| PluginError::Host(e.to_string()))
}

/// Writes an ABI 2 call's stdin. A value the layout has no code for is
/// BAD_USER_INPUT naming the minor and the field (the server's own
/// vocabularies always fit; a dry run's typed input may not).
pub fn encode(header: &Map<String, Value>, minors: &[Minor]) -> Result<Vec<u8>, PluginError> {
    let header = serde_json::to_vec(header).map_err(|e| PluginError::Host(e.to_string()))?;
    let mut out = Vec::with_capacity(8 + header.len() + minors.len() * MINOR_RECORD);
    out.extend_from_slice(&len_u32(header.len())?.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&len_u32(minors.len())?.to_le_bytes());
    for (i, m) in minors.iter().enumerate() {
        let bad =
            |field: &str, why: String| PluginError::BadInput(format!("minors[{i}].{field}: {why}"));
        let age = match m.age {
            None => 255,
            Some(a) if a < 255 => a as u8,
            Some(a) => return Err(bad("age", format!("{a} is not an age"))),
        };
        let sex = match m.sex.as_deref() {
            None => 0,
            Some("male") => 1,
            Some("female") => 2,
            Some(s) => return Err(bad("sex", format!("{s:?} is not male or female"))),
        };
        let economic = match m.economic_status.as_deref() {
            None => 0,
            Some(s) => code_of(&ECONOMIC_STATUSES, s).ok_or_else(|| {
                bad(
                    "economicStatus",
                    format!("{s:?} is not one of {}", ECONOMIC_STATUSES.join(", ")),
                )
            })?,
        };
        let disability = match m.disability_grade.as_deref() {
            None => 0,
            Some(g) => code_of(&DISABILITY_GRADES, g).unwrap_or(255),
        };
        let mut categories = 0u32;
        for c in &m.categories {
            let bit = CATEGORIES.iter().position(|k| k == c).ok_or_else(|| {
                bad(
                    "categories",
                    format!("{c:?} is not one of {}", CATEGORIES.join(", ")),
                )
            })?;
            categories |= 1 << bit;
        }
        out.extend_from_slice(&[age, sex, economic, disability]);
        out.extend_from_slice(&categories.to_le_bytes());
    }
    Ok(out)
}

fn code_of(table: &[&str], value: &str) -> Option<u8> {
    table.iter().position(|t| *t == value).map(|p| p as u8 + 1)
}

fn len_u32(n: usize) -> Result<u32, PluginError> {
    u32::try_from(n).map_err(|_| PluginError::Host("an input larger than 4 GiB".into()))
}

/// The header of an ABI 2 answer: the texts its records refer to.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AnswerHeader {
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    in_kind: Vec<String>,
}

/// Reads an ABI 2 plugin's stdout: exactly one decision per minor it was
/// given (`count`), every byte accounted for. Anything else is
/// PLUGIN_BAD_OUTPUT, naming the record and the field.
///
/// A record names its texts by index, so a short answer could stand for an
/// enormous one once every decision's reasons are written out (in a call's
/// record, on screening candidates). The texts the decisions refer to,
/// counted once per decision, may come to at most `max_text_bytes`: the
/// same bound the plugin's ABI 1 answer, which spells them out, would have.
pub fn decode(
    stdout: &[u8],
    count: usize,
    max_text_bytes: usize,
) -> Result<Decisions, PluginError> {
    let bad = |why: String| PluginError::BadOutput(why);
    let mut at = 0usize;
    let mut take = |n: usize, what: &str| -> Result<&[u8], PluginError> {
        let end = at
            .checked_add(n)
            .filter(|end| *end <= stdout.len())
            .ok_or_else(|| bad(format!("the output ends inside {what}")))?;
        let part = &stdout[at..end];
        at = end;
        Ok(part)
    };
    let header_len = u32_at(take(4, "the header length")?) as usize;
    let header: AnswerHeader = serde_json::from_slice(take(header_len, "the header")?)
        .map_err(|e| bad(format!("the header is not the expected JSON: {e}")))?;
    if header.reasons.len() > MAX_REASONS {
        return Err(bad(format!(
            "the header has {} reasons, more than {MAX_REASONS}",
            header.reasons.len()
        )));
    }
    for (list, texts) in [("reasons", &header.reasons), ("inKind", &header.in_kind)] {
        for (i, text) in texts.iter().enumerate() {
            if text.is_empty() {
                return Err(bad(format!("{list}[{i}] is empty")));
            }
            check_text(&format_args!("{list}[{i}]"), text)?;
        }
    }
    let answered = u32_at(take(4, "the count")?) as usize;
    if answered != count {
        return Err(bad(format!(
            "{answered} decisions for the {count} minors the plugin was given (the count \
             is the u32 right after the header)"
        )));
    }
    // What follows the two lengths and the header (all read above).
    let left = stdout.len() - 8 - header_len;
    if left < count * DECISION_RECORD {
        return Err(bad(format!(
            "the output ends inside the decisions: {count} decisions of {DECISION_RECORD} \
             bytes need {} bytes after the count, {left} follow",
            count * DECISION_RECORD
        )));
    }
    let records = take(count * DECISION_RECORD, "the decisions")?;
    if at != stdout.len() {
        return Err(bad(format!(
            "{} bytes after the last decision",
            stdout.len() - at
        )));
    }
    let n_reasons = header.reasons.len();
    let n_kind = header.in_kind.len() as u32;
    let mut out = Decisions {
        texts: header.reasons,
        reason_ids: Vec::with_capacity(count * 2),
        rows: Vec::with_capacity(count),
    };
    out.texts.extend(header.in_kind);
    let mut text_bytes = 0usize;
    for (i, r) in records.chunks_exact(DECISION_RECORD).enumerate() {
        let eligible = match r[0] {
            0 => false,
            1 => true,
            b => return Err(bad(format!("decision {i}: eligible is {b}, not 0 or 1"))),
        };
        let kind_index = u32::from(u16::from_le_bytes([r[2], r[3]]));
        let mut mask = u32_at(&r[4..8]);
        let cents = i64::from_le_bytes(r[8..16].try_into().expect("8 bytes"));
        if mask.count_ones() > MAX_REASONS_PER_DECISION {
            return Err(bad(format!(
                "decision {i}: {} reasons, more than {MAX_REASONS_PER_DECISION}",
                mask.count_ones()
            )));
        }
        let benefit = match r[1] {
            0 => Benefit::None,
            p @ 1..=4 if cents >= 0 => Benefit::Amount { cents, period: p },
            1..=4 => return Err(bad(format!("decision {i}: a negative amount, {cents}"))),
            5 if kind_index < n_kind => Benefit::InKind(n_reasons as u32 + kind_index),
            5 => {
                return Err(bad(format!(
                    "decision {i}: inKind {kind_index} is not in the header's {n_kind}"
                )))
            }
            b => return Err(bad(format!("decision {i}: benefit {b} is not 0 to 5"))),
        };
        // A field the benefit does not use is zero, so that a later ABI may
        // give it a meaning without an old plugin's leftovers passing for it.
        if r[1] != 5 && kind_index != 0 {
            return Err(bad(format!(
                "decision {i}: inKind is set without help in kind"
            )));
        }
        if !matches!(r[1], 1..=4) && cents != 0 {
            return Err(bad(format!("decision {i}: an amount without a period")));
        }
        if n_reasons < 32 && mask >> n_reasons != 0 {
            return Err(bad(format!(
                "decision {i}: a reason bit beyond the header's {n_reasons} reasons"
            )));
        }
        let from = out.reason_ids.len() as u32;
        while mask != 0 {
            let t = mask.trailing_zeros();
            text_bytes += out.texts[t as usize].len();
            out.reason_ids.push(t);
            mask &= mask - 1;
        }
        if let Benefit::InKind(t) = benefit {
            text_bytes += out.texts[t as usize].len();
        }
        if text_bytes > max_text_bytes {
            return Err(bad(format!(
                "decision {i}: the reasons and in-kind texts the decisions refer to, written \
                 out once per decision, pass limits.max_output_bytes ({max_text_bytes} bytes)"
            )));
        }
        out.rows.push(Row {
            eligible,
            reasons: (from, out.reason_ids.len() as u32),
            benefit,
        });
    }
    Ok(out)
}

fn u32_at(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(id: &str, age: u32, categories: &[&str], economic: &str) -> Minor {
        Minor {
            id: id.into(),
            age: Some(age),
            sex: Some("female".into()),
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            economic_status: Some(economic.into()),
            disability_grade: Some("二级".into()),
        }
    }

    fn answer(header: &str, records: &[[u8; DECISION_RECORD]]) -> Vec<u8> {
        let mut out = (header.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&(records.len() as u32).to_le_bytes());
        for r in records {
            out.extend_from_slice(r);
        }
        out
    }

    fn record(eligible: u8, benefit: u8, kind: u16, reasons: u32, cents: i64) -> [u8; 16] {
        let mut r = [0u8; 16];
        r[0] = eligible;
        r[1] = benefit;
        r[2..4].copy_from_slice(&kind.to_le_bytes());
        r[4..8].copy_from_slice(&reasons.to_le_bytes());
        r[8..16].copy_from_slice(&cents.to_le_bytes());
        r
    }

    #[test]
    fn minors_are_written_in_the_documented_layout() {
        let mut header = Map::new();
        header.insert("abi".into(), json!(2));
        let minors = [
            minor("a", 9, &["orphan", "ill_disabled_poor"], "dibao"),
            Minor {
                id: "b".into(),
                ..Minor::default()
            },
        ];
        let bytes = encode(&header, &minors).unwrap();
        let header_len = u32_at(&bytes) as usize;
        assert_eq!(&bytes[4..4 + header_len], br#"{"abi":2}"#);
        let rest = &bytes[4 + header_len..];
        assert_eq!(u32_at(rest), 2);
        assert_eq!(&rest[4..8], &[9, 2, 2, 2]);
        assert_eq!(u32_at(&rest[8..12]), 1 | 1 << 8);
        assert_eq!(&rest[12..20], &[255, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(rest.len(), 4 + 2 * MINOR_RECORD);
    }

    #[test]
    fn values_without_a_code_are_refused_by_field() {
        let cases = [
            (
                Minor {
                    age: Some(300),
                    ..Minor::default()
                },
                "minors[0].age",
            ),
            (
                Minor {
                    sex: Some("x".into()),
                    ..Minor::default()
                },
                "minors[0].sex",
            ),
            (
                Minor {
                    economic_status: Some("rich".into()),
                    ..Minor::default()
                },
                "minors[0].economicStatus: \"rich\" is not one of none, dibao, dibao_edge, tekun",
            ),
            (
                Minor {
                    categories: vec!["unknown".into()],
                    ..Minor::default()
                },
                "minors[0].categories: \"unknown\" is not one of orphan, abandoned,",
            ),
        ];
        for (m, field) in cases {
            let err = encode(&Map::new(), &[m]).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT");
            assert!(err.to_string().contains(field), "{err}");
        }
        // A disability grade is free text in the registry: another text
        // is coded 255, not refused.
        let m = Minor {
            disability_grade: Some("待评定".into()),
            ..Minor::default()
        };
        assert_eq!(encode(&Map::new(), &[m]).unwrap()[4 + 2 + 4 + 3], 255);
    }

    #[test]
    fn answers_are_read_with_their_reasons_and_benefits() {
        let out = answer(
            r#"{"reasons":["age ok","in need","not in need"],"inKind":["school bag"]}"#,
            &[
                record(1, 3, 0, 0b011, 60_000),
                record(0, 0, 0, 0b101, 0),
                record(1, 5, 0, 0b001, 0),
            ],
        );
        let d = decode(&out, 3, 1 << 20).unwrap();
        assert_eq!(d.len(), 3);
        assert!(d.eligible(0) && !d.eligible(1) && d.eligible(2));
        assert_eq!(d.reasons(0).collect::<Vec<_>>(), ["age ok", "in need"]);
        assert_eq!(d.reasons(1).collect::<Vec<_>>(), ["age ok", "not in need"]);
        assert_eq!(
            d.benefit(0),
            Some(json!({"amountCents": 60000, "period": "quarter"}))
        );
        assert_eq!(d.benefit(1), None);
        assert_eq!(d.benefit(2), Some(json!({"inKind": "school bag"})));
        let record_json = d.to_json(&["a", "b", "c"]);
        let text: Value = serde_json::from_str(&d.to_json_string(&["a", "b", "c"])).unwrap();
        assert_eq!(text, record_json);
        assert_eq!(record_json["decisions"][1]["minorId"], "b");
        assert_eq!(record_json["decisions"][2]["reasons"], json!(["age ok"]));
        // The ABI 1 shape reads back to the same decisions.
        let again = Decisions::from_json(&record_json, &["c", "a", "b"]).unwrap();
        assert!(again.eligible(0) && again.eligible(1) && !again.eligible(2));
        assert_eq!(again.benefit(1), d.benefit(0));
        assert_eq!(
            again.reasons(2).collect::<Vec<_>>(),
            ["age ok", "not in need"]
        );
    }

    #[test]
    fn malformed_answers_are_bad_output_with_the_reason() {
        let ok = record(1, 0, 0, 1, 0);
        let header = r#"{"reasons":["r"]}"#;
        let mut trailing = answer(header, &[ok]);
        let cut = trailing[..trailing.len() - 3].to_vec();
        trailing.push(0);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "ends inside the header length"),
            (
                answer("{nope", &[ok]),
                "the header is not the expected JSON",
            ),
            (
                answer(r#"{"other":1}"#, &[ok]),
                "the header is not the expected JSON",
            ),
            (answer(r#"{"reasons":[""]}"#, &[ok]), "reasons[0] is empty"),
            (answer(header, &[]), "0 decisions for the 1 minors"),
            (
                answer(header, &[ok, ok]),
                "2 decisions for the 1 minors the plugin was given (the count is the u32",
            ),
            (
                cut,
                "ends inside the decisions: 1 decisions of 16 bytes need 16 bytes after the \
                 count, 13 follow",
            ),
            (trailing, "1 bytes after the last decision"),
            (answer(header, &[record(2, 0, 0, 1, 0)]), "eligible is 2"),
            (
                answer(header, &[record(1, 6, 0, 1, 0)]),
                "benefit 6 is not 0 to 5",
            ),
            (
                answer(header, &[record(1, 2, 0, 1, -5)]),
                "a negative amount",
            ),
            (
                answer(header, &[record(1, 5, 0, 1, 0)]),
                "inKind 0 is not in",
            ),
            (
                answer(header, &[record(1, 0, 0, 0b10, 0)]),
                "a reason bit beyond",
            ),
            (
                answer(header, &[record(1, 0, 3, 1, 0)]),
                "inKind is set without help in kind",
            ),
            (
                answer(header, &[record(1, 0, 0, 1, 7)]),
                "an amount without a period",
            ),
            (
                answer(r#"{"inKind":["bag"]}"#, &[record(1, 5, 0, 0, 7)]),
                "an amount without a period",
            ),
            (
                answer(&format!(r#"{{"reasons":["{}"]}}"#, "长".repeat(201)), &[ok]),
                "reasons[0] is longer than 200 characters",
            ),
            (
                answer(r#"{"inKind":["bag\nof rice"]}"#, &[ok]),
                "inKind[0] holds a control",
            ),
            (
                answer("{\"reasons\":[\"\u{202e}elbigile\"]}", &[ok]),
                "reasons[0] holds a control or bidirectional",
            ),
        ];
        for (bytes, expected) in cases {
            let err = decode(&bytes, 1, 1 << 20).unwrap_err();
            assert_eq!(err.code(), "PLUGIN_BAD_OUTPUT");
            assert!(err.to_string().contains(expected), "{err} / {expected}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("\"r{i}\"")).collect();
        let header = format!(r#"{{"reasons":[{}]}}"#, many.join(","));
        let err = decode(&answer(&header, &[ok]), 1, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("more than 32"), "{err}");
        let header = format!(r#"{{"reasons":[{}]}}"#, many[..21].join(","));
        let err = decode(
            &answer(&header, &[record(1, 0, 0, (1 << 21) - 1, 0)]),
            1,
            1 << 20,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("21 reasons, more than 20"),
            "{err}"
        );
    }

    /// The amplification ABI 2's indexes would allow: a few long texts,
    /// named by every decision, written out per decision in a call's record.
    #[test]
    fn texts_named_by_every_decision_count_against_the_output_limit() {
        let long: Vec<String> = (0..20)
            .map(|i| format!("\"{i:03}{}\"", "x".repeat(197)))
            .collect();
        let header = format!(
            r#"{{"reasons":[{}],"inKind":["{}"]}}"#,
            long.join(","),
            "y".repeat(200)
        );
        let every = record(1, 5, 0, (1 << 20) - 1, 0);
        let per_decision = 21 * 200;
        let bytes = answer(&header, &vec![every; 100]);
        assert!(decode(&bytes, 100, 100 * per_decision).is_ok());
        let err = decode(&bytes, 100, 100 * per_decision - 1).unwrap_err();
        assert_eq!(err.code(), "PLUGIN_BAD_OUTPUT");
        assert!(err.to_string().contains("decision 99:"), "{err}");
        assert!(err.to_string().contains("limits.max_output_bytes"), "{err}");
    }

    #[test]
    fn an_abi1_answer_obeys_the_same_text_rules() {
        let cases = [
            (
                json!({"reasons": ["a\u{7}b"]}),
                "reasons[0] holds a control",
            ),
            (
                json!({"reasons": [], "benefit": {"inKind": "书".repeat(201)}}),
                "benefit.inKind is longer than 200",
            ),
            (
                json!({"reasons": [], "benefit": {"amountCents": u64::MAX, "period": "once"}}),
                "benefit.amountCents is beyond any budget",
            ),
        ];
        for (mut decision, expected) in cases {
            decision["minorId"] = json!("m");
            decision["eligible"] = json!(true);
            let err =
                Decisions::from_json(&json!({ "decisions": [decision] }), &["m"]).unwrap_err();
            assert_eq!(err.code(), "PLUGIN_BAD_OUTPUT");
            assert!(err.to_string().contains(expected), "{err} / {expected}");
            assert!(err.to_string().contains("the decision on m"), "{err}");
        }
    }

    #[test]
    fn an_abi1_answer_must_cover_every_minor() {
        let output = json!({"decisions": [
            {"minorId": "a", "eligible": true, "reasons": []},
            {"minorId": "zzz", "eligible": true, "reasons": []},
        ]});
        let err = Decisions::from_json(&output, &["a", "b"]).unwrap_err();
        assert!(
            err.to_string().contains("no decision for 1 of the minors"),
            "{err}"
        );
        let d = Decisions::from_json(&output, &["a"]).unwrap();
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_dry_run_document_splits_into_header_and_minors() {
        let doc = json!({
            "abi": 1, "kind": "assistance-eligibility", "asOf": "2026-12-04",
            "minors": [{"id": "m1", "age": 7, "sex": "male", "categories": ["orphan"],
                        "economicStatus": null, "disabilityGrade": null}],
        });
        let (header, minors) = split_input(&doc);
        assert!(!header.contains_key("minors"));
        assert_eq!(header["asOf"], "2026-12-04");
        assert_eq!(
            minors,
            [Minor {
                id: "m1".into(),
                age: Some(7),
                sex: Some("male".into()),
                categories: vec!["orphan".into()],
                economic_status: None,
                disability_grade: None,
            }]
        );
        assert_eq!(input_json(&header, &minors)["minors"][0]["id"], "m1");
    }
}
