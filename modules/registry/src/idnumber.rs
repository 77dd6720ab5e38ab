//! Identity documents: the resident identity number (公民身份号码, GB 11643-1999) checked in
//! full, the legacy 15-digit number upgraded to 18 digits, numbers a spreadsheet has mangled,
//! the other documents a minor may hold instead, and masking for display.
//!
//! # Area codes
//!
//! The six-digit area prefix is checked for plausibility, not against the full GB/T 2260
//! table, because that table changes every year and old numbers keep their old codes. A
//! prefix is accepted when:
//!
//! - its first two digits are a province-level code (11-15, 21-23, 31-37, 41-46, 50-54,
//!   61-65, or 71 for Taiwan) and the last four digits are not `0000`, since a whole
//!   province is never the place a number is registered; or
//! - it is exactly `810000`, `820000` or `830000`, the prefixes GB 11643 numbers on the
//!   residence permits of Hong Kong, Macao and Taiwan residents carry. These are the only
//!   `0000` prefixes in use, and the only prefixes that begin 81, 82 or 83.
//!
//! # Messages
//!
//! Every [`IdError`] message starts with the rule's name and says what is wrong (for example
//! `check digit: expected 7, found 3`). Messages never repeat the whole number, because error
//! messages end up in logs and import reports that are wider audiences than the record.

use std::fmt::Display;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::fold_width;

/// The ISO 7064 MOD 11-2 weights of the first 17 digits (2^(17-i) mod 11).
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The check character for each remainder of the weighted sum modulo 11.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";

/// The earliest birth date accepted; nobody alive and registered was born earlier.
const EARLIEST_BIRTH: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    // 1900-01-01 is a real date, so this arm is unreachable; being a constant, a mistake here
    // would fail the build rather than panic at run time.
    None => panic!("1900-01-01 is a valid date"),
};

/// The rule an identity document number failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdRule {
    /// Nothing was given.
    Empty,
    /// Neither 18 nor 15 characters long.
    Length,
    /// Something other than digits and a final `X`.
    Characters,
    /// A spreadsheet showed the number in scientific notation, losing digits.
    ExcelScientific,
    /// A spreadsheet stored the number as a number, keeping only 15 significant digits.
    ExcelTruncated,
    /// The six-digit area prefix is not a plausible place of registration.
    AreaCode,
    /// The embedded birth date is not a real date, or is before 1900.
    BirthDate,
    /// The embedded birth date is after today.
    FutureBirthDate,
    /// The final character does not match the ISO 7064 MOD 11-2 check.
    CheckDigit,
    /// The embedded birth date differs from the record's birth date.
    BirthDateMismatch,
    /// The sex the sequence number encodes differs from the record's sex.
    SexMismatch,
    /// A document other than a resident identity card has the wrong form.
    OtherDocumentFormat,
}

impl IdRule {
    /// Every rule, in declaration order; used by tests and by reports that list all rules.
    pub const ALL: [IdRule; 12] = [
        IdRule::Empty,
        IdRule::Length,
        IdRule::Characters,
        IdRule::ExcelScientific,
        IdRule::ExcelTruncated,
        IdRule::AreaCode,
        IdRule::BirthDate,
        IdRule::FutureBirthDate,
        IdRule::CheckDigit,
        IdRule::BirthDateMismatch,
        IdRule::SexMismatch,
        IdRule::OtherDocumentFormat,
    ];

    /// A stable snake_case code for import reports and API error extensions.
    pub fn code(self) -> &'static str {
        match self {
            IdRule::Empty => "empty",
            IdRule::Length => "length",
            IdRule::Characters => "characters",
            IdRule::ExcelScientific => "excel_scientific",
            IdRule::ExcelTruncated => "excel_truncated",
            IdRule::AreaCode => "area_code",
            IdRule::BirthDate => "birth_date",
            IdRule::FutureBirthDate => "future_birth_date",
            IdRule::CheckDigit => "check_digit",
            IdRule::BirthDateMismatch => "birth_date_mismatch",
            IdRule::SexMismatch => "sex_mismatch",
            IdRule::OtherDocumentFormat => "other_document_format",
        }
    }

    /// The rule's name as the first words of a message: the code with spaces.
    fn label(self) -> &'static str {
        match self {
            IdRule::Empty => "empty",
            IdRule::Length => "length",
            IdRule::Characters => "characters",
            IdRule::ExcelScientific => "excel scientific",
            IdRule::ExcelTruncated => "excel truncated",
            IdRule::AreaCode => "area code",
            IdRule::BirthDate => "birth date",
            IdRule::FutureBirthDate => "future birth date",
            IdRule::CheckDigit => "check digit",
            IdRule::BirthDateMismatch => "birth date mismatch",
            IdRule::SexMismatch => "sex mismatch",
            IdRule::OtherDocumentFormat => "other document format",
        }
    }
}

/// A rejected identity document number: the rule it failed and an English explanation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IdError {
    /// The rule that failed.
    pub rule: IdRule,
    /// An English sentence that starts with the rule's name and says what is wrong.
    pub message: String,
}

impl IdError {
    /// Builds an error whose message is the rule's name followed by the detail.
    fn new(rule: IdRule, detail: impl Display) -> Self {
        IdError {
            rule,
            message: format!("{}: {detail}", rule.label()),
        }
    }

    /// The stable code of the failed rule, as [`IdRule::code`].
    pub fn code(&self) -> &'static str {
        self.rule.code()
    }
}

/// The sex encoded in a resident identity number's sequence digits.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// An odd sequence number.
    Male,
    /// An even sequence number.
    Female,
}

impl Sex {
    /// A stable snake_case code, the same as the serde form.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }

    /// The Chinese label shown to users.
    pub fn label_zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }

    /// The sex the last sequence digit encodes: odd for male, even for female.
    fn from_sequence_digit(digit: u8) -> Sex {
        if (digit - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }
}

/// A resident identity number that passed every check, with what it encodes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResidentId {
    /// The 18-character number, with an uppercase `X` check character where there is one.
    pub number: String,
    /// The six-digit area prefix.
    pub area_code: String,
    /// The birth date embedded in the number.
    pub birth_date: NaiveDate,
    /// The sex the sequence number encodes.
    pub sex: Sex,
    /// Whether the number was given in the legacy 15-digit form and upgraded.
    pub upgraded_from_15: bool,
}

/// Parses and checks a resident identity number in full, upgrading a 15-digit one.
///
/// Surrounding and internal whitespace is removed, full-width digits and `Ｘ` are folded to
/// ASCII and a lowercase `x` is uppercased. The checks run in this order, so that the most
/// useful explanation wins: empty, spreadsheet mangling, characters, length, spreadsheet
/// truncation, area code, birth date (real, from 1900, not after `today`), check digit.
pub fn parse_resident_id(raw: &str, today: NaiveDate) -> Result<ResidentId, IdError> {
    let s = normalise_input(raw);
    if s.is_empty() {
        return Err(IdError::new(IdRule::Empty, "no identity number was given"));
    }
    refuse_spreadsheet_forms(&s)?;
    check_characters(&s)?;
    match s.len() {
        18 => parse_18(&s, today),
        15 => parse_15(&s, today),
        n => Err(IdError::new(
            IdRule::Length,
            format!("expected 18 characters (or 15 for an old number), found {n}"),
        )),
    }
}

/// Checks an 18-character number whose characters are already known to be valid.
fn parse_18(s: &str, today: NaiveDate) -> Result<ResidentId, IdError> {
    let bytes = s.as_bytes();
    let expected = check_char(&bytes[..17]);
    let found = bytes[17];
    // Truncation is judged first: once a spreadsheet has replaced the last three digits with
    // zeros the check digit is bound to be wrong, and "check digit" would hide the real cause.
    if expected != found && s.ends_with("000") {
        return Err(IdError::new(
            IdRule::ExcelTruncated,
            "the number ends in 000 and its check digit is wrong, so a spreadsheet has kept \
             only its first 15 digits; format the column as text and enter the number again",
        ));
    }
    check_area(&s[..6])?;
    let birth_date = check_birth(&s[6..14], today)?;
    if expected != found {
        return Err(IdError::new(
            IdRule::CheckDigit,
            format!(
                "expected {}, found {}",
                char::from(expected),
                char::from(found)
            ),
        ));
    }
    Ok(ResidentId {
        number: s.to_string(),
        area_code: s[..6].to_string(),
        birth_date,
        sex: Sex::from_sequence_digit(bytes[16]),
        upgraded_from_15: false,
    })
}

/// Checks a legacy 15-digit number and upgrades it: `19` goes before the two-digit year and
/// the check digit is computed, as GB 11643-1999 prescribes.
fn parse_15(s: &str, today: NaiveDate) -> Result<ResidentId, IdError> {
    check_area(&s[..6])?;
    let mut number = String::with_capacity(18);
    number.push_str(&s[..6]);
    number.push_str("19");
    number.push_str(&s[6..]);
    let birth_date = check_birth(&number[6..14], today)?;
    let check = check_char(number.as_bytes());
    number.push(char::from(check));
    Ok(ResidentId {
        area_code: s[..6].to_string(),
        birth_date,
        sex: Sex::from_sequence_digit(s.as_bytes()[14]),
        upgraded_from_15: true,
        number,
    })
}

/// Compares the number's birth date and sex with what the record says, where it says it.
pub fn check_matches(
    id: &ResidentId,
    birth_date: Option<NaiveDate>,
    sex: Option<Sex>,
) -> Result<(), IdError> {
    if let Some(date) = birth_date {
        if date != id.birth_date {
            return Err(IdError::new(
                IdRule::BirthDateMismatch,
                format!(
                    "the identity number gives {} but the record says {date}",
                    id.birth_date
                ),
            ));
        }
    }
    if let Some(sex) = sex {
        if sex != id.sex {
            return Err(IdError::new(
                IdRule::SexMismatch,
                format!(
                    "the identity number gives {} but the record says {}",
                    id.sex.code(),
                    sex.code()
                ),
            ));
        }
    }
    Ok(())
}

/// The kinds of identity document a minor's record can carry.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    /// 居民身份证: the resident identity card and its 18-digit number.
    ResidentId,
    /// 港澳居民来往内地通行证: the mainland travel permit of Hong Kong and Macao residents.
    HkMacaoPermit,
    /// 台湾居民来往大陆通行证: the mainland travel permit of Taiwan residents.
    TaiwanPermit,
    /// 护照: a passport of any country.
    Passport,
    /// 出生医学证明: the medical birth certificate, for children not yet registered.
    BirthCertificate,
}

impl DocumentType {
    /// Every document type, in declaration order.
    pub const ALL: [DocumentType; 5] = [
        DocumentType::ResidentId,
        DocumentType::HkMacaoPermit,
        DocumentType::TaiwanPermit,
        DocumentType::Passport,
        DocumentType::BirthCertificate,
    ];

    /// A stable snake_case code, the same as the serde form.
    pub fn code(self) -> &'static str {
        match self {
            DocumentType::ResidentId => "resident_id",
            DocumentType::HkMacaoPermit => "hk_macao_permit",
            DocumentType::TaiwanPermit => "taiwan_permit",
            DocumentType::Passport => "passport",
            DocumentType::BirthCertificate => "birth_certificate",
        }
    }

    /// The document's Chinese name as printed on it.
    pub fn label_zh(self) -> &'static str {
        match self {
            DocumentType::ResidentId => "居民身份证",
            DocumentType::HkMacaoPermit => "港澳居民来往内地通行证",
            DocumentType::TaiwanPermit => "台湾居民来往大陆通行证",
            DocumentType::Passport => "护照",
            DocumentType::BirthCertificate => "出生医学证明",
        }
    }

    /// The document's English name, used in messages.
    fn label_en(self) -> &'static str {
        match self {
            DocumentType::ResidentId => "resident identity number",
            DocumentType::HkMacaoPermit => "Hong Kong/Macao residents' permit number",
            DocumentType::TaiwanPermit => "Taiwan residents' permit number",
            DocumentType::Passport => "passport number",
            DocumentType::BirthCertificate => "birth certificate number",
        }
    }
}

/// Checks a document number of the given kind and returns its normalised form.
///
/// Whitespace is removed, full-width characters are folded to ASCII and letters uppercased.
/// The accepted forms are:
///
/// - resident identity number: everything [`parse_resident_id`] accepts, returned as 18
///   characters;
/// - Hong Kong/Macao permit: `H` or `M` followed by 8 or 10 digits;
/// - Taiwan permit: 8 digits, or 10 digits where older permits carry a two-digit issue count
///   after the 8-digit number. The count must be written without brackets or letters, which
///   keeps the rule simple; `12345678(01)` is refused and should be entered as `1234567801`;
/// - passport: 5 to 17 letters and digits, since formats differ between countries;
/// - birth certificate: one letter followed by 9 digits.
pub fn normalise_document(
    kind: DocumentType,
    raw: &str,
    today: NaiveDate,
) -> Result<String, IdError> {
    if kind == DocumentType::ResidentId {
        return parse_resident_id(raw, today).map(|id| id.number);
    }
    let s = normalise_input(raw);
    if s.is_empty() {
        return Err(IdError::new(
            IdRule::Empty,
            format!("no {} was given", kind.label_en()),
        ));
    }
    // Only the all-digit Taiwan permit can have passed through a numeric spreadsheet cell; a
    // passport such as `12E45678` merely looks like scientific notation and must not be
    // refused as one.
    if kind == DocumentType::TaiwanPermit {
        refuse_spreadsheet_forms(&s)?;
    }
    let bytes = s.as_bytes();
    let (ok, expected) = match kind {
        DocumentType::HkMacaoPermit => (
            matches!(bytes.first(), Some(b'H' | b'M'))
                && matches!(bytes.len(), 9 | 11)
                && all_digits(&bytes[1..]),
            "H or M followed by 8 or 10 digits",
        ),
        DocumentType::TaiwanPermit => (
            matches!(bytes.len(), 8 | 10) && all_digits(bytes),
            "8 digits, or 10 digits for an older permit with its issue count",
        ),
        DocumentType::Passport => (
            (5..=17).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "5 to 17 letters and digits",
        ),
        DocumentType::BirthCertificate => (
            bytes.len() == 10 && bytes[0].is_ascii_uppercase() && all_digits(&bytes[1..]),
            "one letter followed by 9 digits",
        ),
        // Handled by the early return above; kept so that the match stays exhaustive.
        DocumentType::ResidentId => (false, "18 digits"),
    };
    if ok {
        Ok(s)
    } else {
        Err(IdError::new(
            IdRule::OtherDocumentFormat,
            format!(
                "a {} is {expected}, but {} characters were given",
                kind.label_en(),
                s.chars().count()
            ),
        ))
    }
}

/// Masks a document number for display, keeping the first 4 and last 2 characters.
///
/// Strings of 6 characters or fewer would show everything that way, so for them all but the
/// first and last character are masked, and a one- or two-character string keeps at most its
/// first character. Characters, not bytes, are counted.
pub fn mask_id(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0 => return String::new(),
        1 => (0, 0),
        2 => (1, 0),
        3..=6 => (1, 1),
        _ => (4, 2),
    };
    let mut out = String::with_capacity(number.len());
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

/// Folds full-width forms, drops all whitespace and uppercases ASCII letters.
fn normalise_input(raw: &str) -> String {
    raw.chars()
        .map(fold_width)
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Refuses the forms a number takes after a spreadsheet has treated it as a number.
fn refuse_spreadsheet_forms(s: &str) -> Result<(), IdError> {
    if is_scientific(s) {
        return Err(IdError::new(
            IdRule::ExcelScientific,
            "the number is in scientific notation (such as 3.2E+17), so a spreadsheet has \
             lost its digits; format the column as text and enter the number again",
        ));
    }
    if is_float_cell(s) {
        // A `.0` ending means the cell held a floating-point number. Such a cell keeps only 15
        // significant digits, so it is reported as truncation even when, for a short number,
        // nothing was lost yet: the next number in the column will not be so lucky.
        return Err(IdError::new(
            IdRule::ExcelTruncated,
            "the number ends in .0, so a spreadsheet stored it as a number, which keeps only \
             15 significant digits; format the column as text and enter the number again",
        ));
    }
    Ok(())
}

/// Whether `s` (already uppercased) is a number in scientific notation: digits, an optional
/// decimal point or comma with digits, `E`, an optional sign and digits.
fn is_scientific(s: &str) -> bool {
    let Some((mantissa, exponent)) = s.split_once('E') else {
        return false;
    };
    let mantissa_ok = match mantissa.split_once(['.', ',']) {
        Some((int, frac)) => is_digits(int) && is_digits(frac),
        None => is_digits(mantissa),
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    mantissa_ok && is_digits(exponent)
}

/// Whether `s` is digits followed by a decimal point or comma and only zeros, as a spreadsheet
/// writes a whole number stored in a floating-point cell.
fn is_float_cell(s: &str) -> bool {
    match s.rsplit_once(['.', ',']) {
        Some((int, frac)) => is_digits(int) && !frac.is_empty() && frac.bytes().all(|b| b == b'0'),
        None => false,
    }
}

/// Whether `s` is one or more ASCII digits.
fn is_digits(s: &str) -> bool {
    !s.is_empty() && all_digits(s.as_bytes())
}

/// Whether every byte is an ASCII digit (true for an empty slice).
fn all_digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

/// Refuses anything but ASCII digits with an optional final `X`; a 15-digit number has no
/// check character, so an `X` there is refused too.
fn check_characters(s: &str) -> Result<(), IdError> {
    let count = s.chars().count();
    for (i, c) in s.chars().enumerate() {
        let last = i + 1 == count;
        if c.is_ascii_digit() || (c == 'X' && last && count != 15) {
            continue;
        }
        let detail = if c == 'X' && last {
            "an old 15-digit number has no check character, so it cannot end in X".to_string()
        } else if c == 'X' {
            format!(
                "X may only be the last character, found at position {}",
                i + 1
            )
        } else {
            format!(
                "only digits and a final X are allowed, found `{}` at position {}",
                c.escape_debug(),
                i + 1
            )
        };
        return Err(IdError::new(IdRule::Characters, detail));
    }
    Ok(())
}

/// Checks that a six-digit area prefix is plausible; see the module documentation.
fn check_area(area: &str) -> Result<(), IdError> {
    let province = number(&area.as_bytes()[..2]);
    let rest = &area[2..];
    let detail = match province {
        81..=83 if rest == "0000" => return Ok(()),
        81..=83 => format!(
            "{area} is not used; residents of Hong Kong, Macao and Taiwan have 810000, 820000 \
             and 830000"
        ),
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 if rest != "0000" => {
            return Ok(())
        }
        11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 => {
            format!("{area} names a whole province, not a place of registration")
        }
        _ => format!("{area} does not start with a province-level code"),
    };
    Err(IdError::new(IdRule::AreaCode, detail))
}

/// Checks the eight-digit birth date: a real date, from 1900, not after `today`.
fn check_birth(yyyymmdd: &str, today: NaiveDate) -> Result<NaiveDate, IdError> {
    let bytes = yyyymmdd.as_bytes();
    let (year, month, day) = (
        number(&bytes[..4]),
        number(&bytes[4..6]),
        number(&bytes[6..8]),
    );
    // The year has four digits, so it is below 10,000 and fits an i32 without loss.
    let date = i32::try_from(year)
        .ok()
        .and_then(|year| NaiveDate::from_ymd_opt(year, month, day))
        .ok_or_else(|| {
            IdError::new(
                IdRule::BirthDate,
                format!("{year:04}-{month:02}-{day:02} is not a real date"),
            )
        })?;
    if date < EARLIEST_BIRTH {
        return Err(IdError::new(
            IdRule::BirthDate,
            format!("{date} is before 1900"),
        ));
    }
    if date > today {
        return Err(IdError::new(
            IdRule::FutureBirthDate,
            format!("{date} is after today ({today})"),
        ));
    }
    Ok(date)
}

/// The ISO 7064 MOD 11-2 check character of the first 17 digits (ASCII digits only; the
/// synthetic-data generator builds numbers with it too).
pub(crate) fn check_char(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    // The remainder is below 11, the length of the table, so the index is always in bounds.
    CHECK_CHARS[(sum % 11) as usize]
}

/// The value of a run of ASCII digits that the caller has already checked.
fn number(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test dates are valid")
    }

    fn today() -> NaiveDate {
        date(2025, 6, 1)
    }

    /// Builds a valid 18-digit number by computing the check digit independently of the code
    /// under test, so that a wrong weight or table in the library cannot pass unnoticed.
    fn valid(area: &str, birth: &str, seq: &str) -> String {
        let body = format!("{area}{birth}{seq}");
        assert_eq!(body.len(), 17);
        let sum: u32 = body
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let weight = (1u32 << (17 - i)) % 11;
                c.to_digit(10).expect("digits") * weight
            })
            .sum();
        let check = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'][(sum % 11) as usize];
        format!("{body}{check}")
    }

    fn rule_of(raw: &str) -> IdRule {
        parse_resident_id(raw, today())
            .expect_err("should be refused")
            .rule
    }

    #[test]
    fn helper_weights_match_the_standard_table() {
        let derived: Vec<u32> = (0..17).map(|i| (1u32 << (17 - i)) % 11).collect();
        assert_eq!(derived, WEIGHTS);
    }

    #[test]
    fn accepts_a_valid_number() {
        let number = valid("320506", "20150304", "123");
        assert_eq!(number, "320506201503041236");
        let id = parse_resident_id(&number, today()).expect("valid");
        assert_eq!(id.number, number);
        assert_eq!(id.area_code, "320506");
        assert_eq!(id.birth_date, date(2015, 3, 4));
        assert_eq!(id.sex, Sex::Male);
        assert!(!id.upgraded_from_15);
    }

    #[test]
    fn even_sequence_is_female() {
        let id = parse_resident_id(&valid("320506", "20150304", "124"), today()).expect("valid");
        assert_eq!(id.sex, Sex::Female);
    }

    #[test]
    fn standard_example_with_uppercase_and_lowercase_x() {
        assert_eq!(valid("110105", "19491231", "002"), "11010519491231002X");
        let upper = parse_resident_id("11010519491231002X", today()).expect("valid");
        assert_eq!(upper.number, "11010519491231002X");
        assert_eq!(upper.sex, Sex::Female);
        let lower = parse_resident_id("11010519491231002x", today()).expect("valid");
        assert_eq!(lower, upper);
    }

    #[test]
    fn full_width_and_spaces_are_normalised() {
        let id = parse_resident_id("  １１０１０５　１９４９１２３１　００２ｘ \t", today())
            .expect("valid");
        assert_eq!(id.number, "11010519491231002X");
        let id = parse_resident_id("110105 19491231 002Ｘ", today()).expect("valid");
        assert_eq!(id.number, "11010519491231002X");
    }

    #[test]
    fn upgrades_a_15_digit_number() {
        // The pair from GB 11643-1999 itself: 110105491231002 became 11010519491231002X.
        let id = parse_resident_id("110105491231002", today()).expect("valid");
        assert_eq!(id.number, "11010519491231002X");
        assert_eq!(id.area_code, "110105");
        assert_eq!(id.birth_date, date(1949, 12, 31));
        assert_eq!(id.sex, Sex::Female);
        assert!(id.upgraded_from_15);
        let id = parse_resident_id("130503670401001", today()).expect("valid");
        assert_eq!(id.number, valid("130503", "19670401", "001"));
        assert_eq!(id.sex, Sex::Male);
    }

    #[test]
    fn rule_empty() {
        assert_eq!(rule_of(""), IdRule::Empty);
        assert_eq!(rule_of(" \t　"), IdRule::Empty);
    }

    #[test]
    fn rule_length() {
        let number = valid("320506", "20150304", "123");
        assert_eq!(rule_of(&number[..17]), IdRule::Length);
        assert_eq!(rule_of(&format!("{number}1")), IdRule::Length);
        assert_eq!(rule_of("12345"), IdRule::Length);
        let err = parse_resident_id(&number[..17], today()).expect_err("short");
        assert_eq!(
            err.message,
            "length: expected 18 characters (or 15 for an old number), found 17"
        );
    }

    #[test]
    fn rule_characters() {
        assert_eq!(rule_of("3205062015030412A6"), IdRule::Characters);
        assert_eq!(rule_of("32050620150304X236"), IdRule::Characters);
        assert_eq!(rule_of("32050615030412X"), IdRule::Characters);
        assert_eq!(rule_of("320506-20150304-1236"), IdRule::Characters);
        assert_eq!(rule_of("身份证"), IdRule::Characters);
        let err = parse_resident_id("3205062015030412A6", today()).expect_err("letter");
        assert_eq!(
            err.message,
            "characters: only digits and a final X are allowed, found `A` at position 17"
        );
    }

    #[test]
    fn rule_excel_scientific() {
        for raw in [
            "3.20506E+17",
            "3.20506e+17",
            "3.20506201503041e17",
            "3.20506201503041E+17",
            "3,20506E+17",
            "3,20506201503041E17",
            "３．２０５０６Ｅ＋１７",
        ] {
            assert_eq!(rule_of(raw), IdRule::ExcelScientific, "{raw}");
        }
    }

    #[test]
    fn rule_excel_truncated() {
        // 320506201503041236 as a spreadsheet keeps it: 15 significant digits, then zeros.
        assert_eq!(rule_of("320506201503041000"), IdRule::ExcelTruncated);
        // A float cell written out with its decimal part is refused the same way.
        assert_eq!(rule_of("320506201503041000.0"), IdRule::ExcelTruncated);
        assert_eq!(rule_of("110105491231002.0"), IdRule::ExcelTruncated);
        assert_eq!(rule_of("110105491231002,00"), IdRule::ExcelTruncated);
        // A number that really ends in 000 with a correct check digit is not truncated.
        let number = (1..=28)
            .map(|day| valid("320506", &format!("201503{day:02}"), "000"))
            .find(|n| n.ends_with("000"))
            .expect("one in eleven numbers has the check digit 0");
        assert!(parse_resident_id(&number, today()).is_ok());
    }

    #[test]
    fn rule_area_code() {
        assert_eq!(
            rule_of(&valid("990101", "20150304", "123")),
            IdRule::AreaCode
        );
        assert_eq!(
            rule_of(&valid("100101", "20150304", "123")),
            IdRule::AreaCode
        );
        assert_eq!(
            rule_of(&valid("320000", "20150304", "123")),
            IdRule::AreaCode
        );
        assert_eq!(
            rule_of(&valid("810101", "20150304", "123")),
            IdRule::AreaCode
        );
        assert_eq!(rule_of("990101150304123"), IdRule::AreaCode);
        for area in ["810000", "820000", "830000", "710101", "650102", "110101"] {
            assert!(
                parse_resident_id(&valid(area, "20150304", "123"), today()).is_ok(),
                "{area}"
            );
        }
    }

    #[test]
    fn rule_birth_date() {
        assert_eq!(
            rule_of(&valid("320506", "20230229", "123")),
            IdRule::BirthDate
        );
        assert_eq!(
            rule_of(&valid("320506", "20151301", "123")),
            IdRule::BirthDate
        );
        assert_eq!(
            rule_of(&valid("320506", "20150400", "123")),
            IdRule::BirthDate
        );
        assert_eq!(
            rule_of(&valid("320506", "18991231", "123")),
            IdRule::BirthDate
        );
        assert_eq!(rule_of("320506150231123"), IdRule::BirthDate);
        let err = parse_resident_id(&valid("320506", "20230229", "123"), today()).expect_err("");
        assert_eq!(err.message, "birth date: 2023-02-29 is not a real date");
        assert!(parse_resident_id(&valid("320506", "20240229", "123"), today()).is_ok());
        assert!(parse_resident_id(&valid("320506", "19000101", "123"), today()).is_ok());
    }

    #[test]
    fn rule_future_birth_date() {
        assert_eq!(
            rule_of(&valid("320506", "20250602", "123")),
            IdRule::FutureBirthDate
        );
        assert!(parse_resident_id(&valid("320506", "20250601", "123"), today()).is_ok());
    }

    #[test]
    fn rule_check_digit() {
        let err = parse_resident_id("320506201503041237", today()).expect_err("bad check");
        assert_eq!(err.rule, IdRule::CheckDigit);
        assert_eq!(err.message, "check digit: expected 6, found 7");
        assert_eq!(err.to_string(), err.message);
        assert_eq!(err.code(), "check_digit");
        let err = parse_resident_id("110105194912310021", today()).expect_err("bad check");
        assert_eq!(err.message, "check digit: expected X, found 1");
    }

    #[test]
    fn rule_birth_date_mismatch_and_sex_mismatch() {
        let id = parse_resident_id(&valid("320506", "20150304", "123"), today()).expect("valid");
        assert_eq!(check_matches(&id, None, None), Ok(()));
        assert_eq!(
            check_matches(&id, Some(date(2015, 3, 4)), Some(Sex::Male)),
            Ok(())
        );
        let err = check_matches(&id, Some(date(2015, 3, 5)), None).expect_err("date");
        assert_eq!(err.rule, IdRule::BirthDateMismatch);
        assert_eq!(
            err.message,
            "birth date mismatch: the identity number gives 2015-03-04 but the record says \
             2015-03-05"
        );
        let err = check_matches(&id, None, Some(Sex::Female)).expect_err("sex");
        assert_eq!(err.rule, IdRule::SexMismatch);
        assert_eq!(
            err.message,
            "sex mismatch: the identity number gives male but the record says female"
        );
    }

    #[test]
    fn rule_other_document_format_and_other_documents() {
        let t = today();
        let ok = |kind, raw: &str| normalise_document(kind, raw, t).expect("valid");
        let bad = |kind, raw: &str| normalise_document(kind, raw, t).expect_err("invalid").rule;
        use DocumentType::*;

        assert_eq!(ok(ResidentId, "11010519491231002x"), "11010519491231002X");
        assert_eq!(bad(ResidentId, "11010519491231002"), IdRule::Length);

        assert_eq!(ok(HkMacaoPermit, "h1234567 8"), "H12345678");
        assert_eq!(ok(HkMacaoPermit, "M1234567890"), "M1234567890");
        assert_eq!(bad(HkMacaoPermit, "C12345678"), IdRule::OtherDocumentFormat);
        assert_eq!(
            bad(HkMacaoPermit, "H123456789"),
            IdRule::OtherDocumentFormat
        );
        assert_eq!(bad(HkMacaoPermit, "H1234567A"), IdRule::OtherDocumentFormat);

        assert_eq!(ok(TaiwanPermit, "１２３４５６７８"), "12345678");
        assert_eq!(ok(TaiwanPermit, "1234567801"), "1234567801");
        assert_eq!(bad(TaiwanPermit, "123456789"), IdRule::OtherDocumentFormat);
        assert_eq!(
            bad(TaiwanPermit, "12345678(01)"),
            IdRule::OtherDocumentFormat
        );
        assert_eq!(bad(TaiwanPermit, "T1234567"), IdRule::OtherDocumentFormat);
        assert_eq!(bad(TaiwanPermit, "1.23457E+7"), IdRule::ExcelScientific);
        assert_eq!(bad(TaiwanPermit, "12345678.0"), IdRule::ExcelTruncated);

        assert_eq!(ok(Passport, "e12345678"), "E12345678");
        assert_eq!(ok(Passport, "12E45"), "12E45");
        assert_eq!(ok(Passport, "AB1234567890CDEFG"), "AB1234567890CDEFG");
        assert_eq!(bad(Passport, "E123"), IdRule::OtherDocumentFormat);
        assert_eq!(
            bad(Passport, "AB1234567890CDEFGH"),
            IdRule::OtherDocumentFormat
        );
        assert_eq!(bad(Passport, "E1234-5678"), IdRule::OtherDocumentFormat);

        assert_eq!(ok(BirthCertificate, "o320012345"), "O320012345");
        assert_eq!(
            bad(BirthCertificate, "3200123456"),
            IdRule::OtherDocumentFormat
        );
        assert_eq!(
            bad(BirthCertificate, "O32001234"),
            IdRule::OtherDocumentFormat
        );

        for kind in DocumentType::ALL {
            assert_eq!(bad(kind, "  "), IdRule::Empty);
        }
        let err = normalise_document(HkMacaoPermit, "C12345678", t).expect_err("invalid");
        assert_eq!(
            err.message,
            "other document format: a Hong Kong/Macao residents' permit number is H or M \
             followed by 8 or 10 digits, but 9 characters were given"
        );
    }

    #[test]
    fn every_rule_has_a_distinct_code_matching_its_label_and_serde_form() {
        let mut codes: Vec<&str> = IdRule::ALL.iter().map(|r| r.code()).collect();
        for rule in IdRule::ALL {
            assert_eq!(rule.label(), rule.code().replace('_', " "));
            let json = serde_json::to_string(&rule).expect("serialisable");
            assert_eq!(json, format!("\"{}\"", rule.code()));
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), IdRule::ALL.len());
    }

    #[test]
    fn document_type_codes_and_labels() {
        let codes: Vec<&str> = DocumentType::ALL.iter().map(|d| d.code()).collect();
        assert_eq!(
            codes,
            [
                "resident_id",
                "hk_macao_permit",
                "taiwan_permit",
                "passport",
                "birth_certificate"
            ]
        );
        assert_eq!(
            DocumentType::HkMacaoPermit.label_zh(),
            "港澳居民来往内地通行证"
        );
        assert_eq!(
            DocumentType::TaiwanPermit.label_zh(),
            "台湾居民来往大陆通行证"
        );
        assert_eq!(DocumentType::BirthCertificate.label_zh(), "出生医学证明");
        assert_eq!(Sex::Male.label_zh(), "男");
        assert_eq!(Sex::Female.code(), "female");
    }

    #[test]
    fn masks_identity_numbers() {
        assert_eq!(mask_id("320506201503041237"), "3205************37");
        assert_eq!(mask_id("11010519491231002X"), "1101************2X");
        assert_eq!(mask_id("H12345678"), "H123***78");
        assert_eq!(mask_id("1234567"), "1234*67");
        assert_eq!(mask_id("123456"), "1****6");
        assert_eq!(mask_id("123"), "1*3");
        assert_eq!(mask_id("12"), "1*");
        assert_eq!(mask_id("1"), "*");
        assert_eq!(mask_id(""), "");
        assert_eq!(mask_id("１２３４５６７８"), "１２３４**７８");
    }
}
