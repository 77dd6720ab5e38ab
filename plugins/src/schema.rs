//! The JSON Schemas of each extension point's input and output, and the
//! checker that holds documents to them.
//!
//! The schema files in `plugins/schemas/` are what plugin authors read and
//! what the host enforces: they are compiled in and interpreted by the small
//! checker below, so the two cannot drift apart. The checker understands the
//! subset of JSON Schema the files use (`type`, `required`, `properties`,
//! `items`, `const`, `enum`, `minimum`, `maximum`, `minLength`, `maxLength`,
//! `maxItems`, `oneOf`); a test refuses a schema file with any other keyword,
//! so a keyword can never be silently ignored.

use std::sync::OnceLock;

use serde_json::Value;

use crate::Kind;

const ELIGIBILITY_INPUT: &str = include_str!("../schemas/assistance-eligibility.input.schema.json");
const ELIGIBILITY_OUTPUT: &str =
    include_str!("../schemas/assistance-eligibility.output.schema.json");
const MATCHING_INPUT: &str = include_str!("../schemas/family-matching.input.schema.json");
const MATCHING_OUTPUT: &str = include_str!("../schemas/family-matching.output.schema.json");

/// Keywords that only document a schema.
#[cfg(test)]
const ANNOTATIONS: &[&str] = &["$schema", "$id", "title", "description"];
/// Keywords the checker enforces.
#[cfg(test)]
const ENFORCED: &[&str] = &[
    "type",
    "required",
    "properties",
    "items",
    "const",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "maxItems",
    "oneOf",
];

/// Which side of a call a document is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
}

/// The schema text of one side of an extension point, as published.
pub fn schema_text(kind: Kind, direction: Direction) -> &'static str {
    match (kind, direction) {
        (Kind::AssistanceEligibility, Direction::Input) => ELIGIBILITY_INPUT,
        (Kind::AssistanceEligibility, Direction::Output) => ELIGIBILITY_OUTPUT,
        (Kind::FamilyMatching, Direction::Input) => MATCHING_INPUT,
        (Kind::FamilyMatching, Direction::Output) => MATCHING_OUTPUT,
    }
}

/// The variables an extension point provides to a manifest's input query.
pub fn variables(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::AssistanceEligibility => &["programmeId", "minorIds", "asOf"],
        Kind::FamilyMatching => &["caseId", "minorId"],
    }
}

/// Checks a document against the published schema of one side of an
/// extension point; the error names the first offending path.
pub fn check(kind: Kind, direction: Direction, doc: &Value) -> Result<(), String> {
    static PARSED: OnceLock<Vec<(Kind, Direction, Value)>> = OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        let mut all = Vec::new();
        for kind in Kind::ALL {
            for direction in [Direction::Input, Direction::Output] {
                // The files are compiled in and parsed by a test, so a parse
                // failure cannot reach a build that passed its tests; an
                // unparsable file would check nothing, which that test
                // forbids.
                let schema = serde_json::from_str(schema_text(*kind, direction))
                    .unwrap_or(Value::Bool(false));
                all.push((*kind, direction, schema));
            }
        }
        all
    });
    let schema = parsed
        .iter()
        .find(|(k, d, _)| *k == kind && *d == direction)
        .map(|(_, _, schema)| schema)
        .ok_or_else(|| format!("no schema for {}", kind.as_str()))?;
    if schema.is_boolean() {
        return Err(format!("the {} schema does not parse", kind.as_str()));
    }
    check_value(schema, doc, "$")
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        _ => false,
    }
}

fn check_value(schema: &Value, value: &Value, path: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Ok(());
    };
    if let Some(expected) = schema.get("type") {
        let names: Vec<&str> = match expected {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.iter().any(|name| type_matches(name, value)) {
            return Err(format!("{path} must be of type {}", names.join(" or ")));
        }
    }
    if let Some(expected) = schema.get("const") {
        if value != expected {
            return Err(format!("{path} must be {expected}"));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            return Err(format!(
                "{path} must be one of {}",
                Value::Array(options.clone())
            ));
        }
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if number < min {
                return Err(format!("{path} must be at least {min}"));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if number > max {
                return Err(format!("{path} must be at most {max}"));
            }
        }
    }
    if let Some(text) = value.as_str() {
        let length = text.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if length < min {
                return Err(format!("{path} must have at least {min} characters"));
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if length > max {
                return Err(format!("{path} must have at most {max} characters"));
            }
        }
    }
    if let Some(object) = value.as_object() {
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    return Err(format!("{path}.{name} is required"));
                }
            }
        }
        if let Some(Value::Object(properties)) = schema.get("properties") {
            for (name, sub) in properties {
                if let Some(field) = object.get(name) {
                    check_value(sub, field, &format!("{path}.{name}"))?;
                }
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if items.len() as u64 > max {
                return Err(format!("{path} must have at most {max} items"));
            }
        }
        if let Some(sub) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check_value(sub, item, &format!("{path}[{i}]"))?;
            }
        }
    }
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let matching = options
            .iter()
            .filter(|option| check_value(option, value, path).is_ok())
            .count();
        if matching != 1 {
            return Err(format!(
                "{path} must match exactly one of {} shapes, it matches {matching}",
                options.len()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn keywords_are_known(schema: &Value, path: &str) {
        let Some(object) = schema.as_object() else {
            return;
        };
        for (key, sub) in object {
            assert!(
                ANNOTATIONS.contains(&key.as_str()) || ENFORCED.contains(&key.as_str()),
                "{path}: the checker does not enforce {key}"
            );
            match key.as_str() {
                "properties" => {
                    for (name, prop) in sub.as_object().expect("properties is an object") {
                        keywords_are_known(prop, &format!("{path}.{name}"));
                    }
                }
                "items" => keywords_are_known(sub, &format!("{path}[]")),
                "oneOf" => {
                    for option in sub.as_array().expect("oneOf is an array") {
                        keywords_are_known(option, path);
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn every_schema_parses_and_uses_only_enforced_keywords() {
        for kind in Kind::ALL {
            for direction in [Direction::Input, Direction::Output] {
                let schema: Value = serde_json::from_str(schema_text(*kind, direction)).unwrap();
                keywords_are_known(&schema, kind.as_str());
            }
        }
    }

    #[test]
    fn eligibility_output_is_held_to_its_schema() {
        let good = json!({"decisions": [
            {"minorId": "m1", "eligible": true, "reasons": ["orphan"],
             "benefit": {"amountCents": 50000, "period": "month"}},
            {"minorId": "m2", "eligible": true, "reasons": [], "benefit": {"inKind": "school bag"}},
            {"minorId": "m3", "eligible": false, "reasons": ["too old"]}
        ]});
        check(Kind::AssistanceEligibility, Direction::Output, &good).unwrap();
        let bad = [
            (json!([]), "$ must be of type object"),
            (json!({}), "$.decisions is required"),
            (
                json!({"decisions": [{"minorId": "m", "eligible": "yes", "reasons": []}]}),
                "$.decisions[0].eligible must be of type boolean",
            ),
            (
                json!({"decisions": [{"minorId": "m", "eligible": true, "reasons": [],
                                      "benefit": {"amountCents": -1, "period": "month"}}]}),
                "$.decisions[0].benefit must match exactly one",
            ),
            (
                json!({"decisions": [{"minorId": "m", "eligible": true, "reasons": [],
                                      "benefit": {"amountCents": 1, "period": "week"}}]}),
                "$.decisions[0].benefit must match exactly one",
            ),
        ];
        for (doc, expected) in bad {
            let err = check(Kind::AssistanceEligibility, Direction::Output, &doc).unwrap_err();
            assert!(err.starts_with(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn matching_output_is_held_to_its_schema() {
        let good = json!({"ranking": [{"familyId": "f", "score": 87.5, "explanation": "near"}]});
        check(Kind::FamilyMatching, Direction::Output, &good).unwrap();
        let over = json!({"ranking": [{"familyId": "f", "score": 101, "explanation": "x"}]});
        let err = check(Kind::FamilyMatching, Direction::Output, &over).unwrap_err();
        assert_eq!(err, "$.ranking[0].score must be at most 100");
        let empty = json!({"ranking": [{"familyId": "f", "score": 1, "explanation": ""}]});
        assert!(check(Kind::FamilyMatching, Direction::Output, &empty).is_err());
    }

    #[test]
    fn inputs_name_their_kind() {
        let input = json!({"abi": 1, "kind": "family-matching", "child": {}, "candidates": []});
        check(Kind::FamilyMatching, Direction::Input, &input).unwrap();
        let err = check(Kind::AssistanceEligibility, Direction::Input, &input).unwrap_err();
        assert!(
            err.contains("$.kind must be") || err.contains("is required"),
            "{err}"
        );
    }
}
