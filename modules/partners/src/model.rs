//! The closed vocabularies of the caring-family pool, the vetting rules, and
//! the checks of what a caller types, all without I/O so that they are
//! tested on their own.

use shouhu_kernel::{vocabulary, ApiError};

use crate::error::PartnersError;

vocabulary! {
    /// Where a family stands in the district's vetting.
    VettingStatus {
        Applied = "applied" / "已申请",
        Vetted = "vetted" / "已审查",
        Trained = "trained" / "已培训",
        Approved = "approved" / "已批准",
        Suspended = "suspended" / "已暂停",
    }
}

vocabulary! {
    /// A sex of child a family can care for.
    FamilySex {
        Male = "male" / "男",
        Female = "female" / "女",
    }
}

impl VettingStatus {
    /// Whether a family may move from `self` to `to`, and whether that move
    /// needs a reason. Vetting only goes forward one step at a time;
    /// suspending is possible from anywhere and, like lifting a suspension
    /// (straight back to approved), has to say why.
    pub fn check_move(self, to: VettingStatus, reason: Option<&str>) -> Result<(), PartnersError> {
        use VettingStatus::*;
        let allowed = matches!(
            (self, to),
            (Applied, Vetted) | (Vetted, Trained) | (Trained, Approved) | (Suspended, Approved)
        ) || (to == Suspended && self != Suspended);
        if !allowed {
            return Err(PartnersError::Transition {
                from: self.code(),
                to: to.code(),
            });
        }
        let needs_reason = to == Suspended || self == Suspended;
        if needs_reason && reason.is_none() {
            return Err(PartnersError::ReasonRequired {
                from: self.code(),
                to: to.code(),
            });
        }
        Ok(())
    }
}

/// The most children one family may be registered to take at once.
pub const MAX_CAPACITY: i32 = 20;
/// Ages a family may state, in completed years (minors only).
pub const MAX_AGE: i32 = 17;

/// Checks the capacity a caller typed.
pub fn check_capacity(capacity: i32, field: &str) -> Result<(), ApiError> {
    if (1..=MAX_CAPACITY).contains(&capacity) {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            field,
            format!("a family takes 1 to {MAX_CAPACITY} children"),
        ))
    }
}

/// Checks an age range; `prefix` is the input object's path (`input`).
pub fn check_ages(age_min: i32, age_max: i32, prefix: &str) -> Result<(), ApiError> {
    for (value, name) in [(age_min, "ageMin"), (age_max, "ageMax")] {
        if !(0..=MAX_AGE).contains(&value) {
            return Err(ApiError::bad_input(
                format!("{prefix}.{name}"),
                format!("an age from 0 to {MAX_AGE}"),
            ));
        }
    }
    if age_min > age_max {
        return Err(ApiError::bad_input(
            format!("{prefix}.ageMin"),
            "greater than ageMax",
        ));
    }
    Ok(())
}

/// Parses the sexes a family can care for: at least one, known codes
/// only, kept in a fixed order so that the stored text does not depend on
/// how the caller listed them.
pub fn parse_sexes(values: &[String], field: &str) -> Result<Vec<FamilySex>, ApiError> {
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let sex = FamilySex::parse(value).ok_or_else(|| {
            ApiError::bad_input(format!("{field}.{i}"), "a sex is male or female (男, 女)")
        })?;
        if !out.contains(&sex) {
            out.push(sex);
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_input(field, "at least one sex"));
    }
    out.sort();
    Ok(out)
}

/// The longest list of skills or languages one family may carry.
pub const MAX_CODES: usize = 12;

/// Checks a list of free short codes (skills, languages): each 1-32
/// characters of `a-z`, `0-9`, `_` and `-`, at most [`MAX_CODES`] of them,
/// duplicates dropped and the rest kept in order. Codes rather than free
/// text, because they are handed to a plugin and must carry no personal
/// data.
pub fn parse_codes(values: &[String], field: &str) -> Result<Vec<String>, ApiError> {
    if values.len() > MAX_CODES {
        return Err(ApiError::bad_input(
            field,
            format!("at most {MAX_CODES} codes"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let code = value.trim();
        let valid = (1..=32).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err(ApiError::bad_input(
                format!("{field}.{i}"),
                "a code is 1-32 characters of a-z, 0-9, _ and -",
            ));
        }
        if !out.iter().any(|c| c == code) {
            out.push(code.to_owned());
        }
    }
    Ok(out)
}

/// A stored list (comma-separated codes) as a list.
pub fn split_codes(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks a phone number as typed: digits, spaces, `+` and `-`, 3-32
/// characters. Only its shape is checked, never logged.
pub fn check_phone(phone: &str, field: &str) -> Result<(), ApiError> {
    let ok = (3..=32).contains(&phone.chars().count())
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_input(
            field,
            "a phone number is 3-32 digits, spaces, + or -",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shouhu_kernel::ErrorCode;
    use VettingStatus::*;

    #[test]
    fn vetting_goes_forward_one_step() {
        assert!(Applied.check_move(Vetted, None).is_ok());
        assert!(Vetted.check_move(Trained, None).is_ok());
        assert!(Trained.check_move(Approved, None).is_ok());
        assert!(Applied.check_move(Approved, None).is_err());
        assert!(Approved.check_move(Trained, None).is_err());
        assert!(Approved.check_move(Approved, None).is_err());
        for s in VettingStatus::ALL {
            assert!(s.check_move(*s, Some("x")).is_err(), "{s:?} to itself");
        }
    }

    #[test]
    fn suspension_needs_a_reason_both_ways() {
        for from in [Applied, Vetted, Trained, Approved] {
            assert!(matches!(
                from.check_move(Suspended, None),
                Err(PartnersError::ReasonRequired { .. })
            ));
            assert!(from.check_move(Suspended, Some("投诉核查中")).is_ok());
        }
        assert!(Suspended.check_move(Approved, None).is_err());
        assert!(Suspended.check_move(Approved, Some("核查完毕")).is_ok());
        assert!(Suspended.check_move(Vetted, Some("x")).is_err());
    }

    #[test]
    fn input_checks_name_their_field() {
        let err = check_ages(10, 5, "input").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("input.ageMin"));
        let err = check_ages(0, 18, "input").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("input.ageMax"));
        assert!(check_ages(3, 3, "input").is_ok());
        assert_eq!(
            check_capacity(0, "input.capacity").unwrap_err().code,
            ErrorCode::BadUserInput
        );
        assert!(check_capacity(21, "input.capacity").is_err());
        assert!(check_capacity(20, "input.capacity").is_ok());
        let err = parse_sexes(&["male".into(), "x".into()], "input.sexes").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("input.sexes.1"));
        let sexes = parse_sexes(&["女".into(), "male".into(), "female".into()], "s").unwrap();
        assert_eq!(sexes, vec![FamilySex::Male, FamilySex::Female]);
        assert!(parse_sexes(&[], "s").is_err());
    }

    #[test]
    fn codes_are_short_and_plain() {
        let ok = parse_codes(&["zh-wuu".into(), "first_aid".into(), "zh-wuu".into()], "f");
        assert_eq!(ok.unwrap(), vec!["zh-wuu", "first_aid"]);
        for bad in ["", "Sign", "a b", "粤语", &"x".repeat(33), "a,b"] {
            let err = parse_codes(&["ok".into(), bad.into()], "input.skills").unwrap_err();
            assert_eq!(err.field.as_deref(), Some("input.skills.1"), "{bad}");
        }
        assert_eq!(split_codes("a,b"), vec!["a", "b"]);
        assert!(split_codes("").is_empty());
        assert!(check_phone("+86 512-6666 0000", "p").is_ok());
        assert!(check_phone("call me", "p").is_err());
    }
}
