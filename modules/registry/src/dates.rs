//! Dates as people and spreadsheets write them: the common written forms, Excel date serials,
//! and ages in completed years.

use chrono::{Datelike, Days, NaiveDate};

use crate::fold_width;

/// The day before serial 1 for serials 1 to 59, which Excel counts correctly.
const EXCEL_EPOCH_EARLY: NaiveDate = match NaiveDate::from_ymd_opt(1899, 12, 31) {
    Some(date) => date,
    // The date is real, so this arm is unreachable; as a constant a mistake would fail the
    // build instead of panicking at run time.
    None => panic!("1899-12-31 is a valid date"),
};

/// The origin for serials from 61 on, one day earlier to make up for the fake 1900-02-29.
const EXCEL_EPOCH_LATE: NaiveDate = match NaiveDate::from_ymd_opt(1899, 12, 30) {
    Some(date) => date,
    // As above: unreachable, and checked when the crate is built.
    None => panic!("1899-12-30 is a valid date"),
};

/// The serial Excel gives to 1900-02-29, a day that never existed.
const EXCEL_FAKE_LEAP_DAY: u64 = 60;

/// The serial of 9999-12-31, the last day Excel can show.
const EXCEL_MAX_SERIAL: u64 = 2_958_465;

/// The age at which a minor becomes an adult and leaves the registry's care.
const AGE_OF_MAJORITY: u32 = 18;

/// A date that could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DateError {
    /// Nothing was given.
    #[error("no date was given")]
    Empty,
    /// The text is in none of the accepted forms.
    #[error(
        "not a recognised date; write it as 2015-03-04, 2015/3/4, 2015.3.4, 20150304 or \
         2015年3月4日"
    )]
    Unrecognised,
    /// The form was right but there is no such day, such as 2023-02-29.
    #[error("{year:04}-{month:02}-{day:02} is not a day of the calendar")]
    NoSuchDay {
        /// The year as written.
        year: i32,
        /// The month as written.
        month: u32,
        /// The day of the month as written.
        day: u32,
    },
    /// A spreadsheet serial that is infinite or not a number.
    #[error("the spreadsheet date serial is not a finite number")]
    SerialNotFinite,
    /// A spreadsheet serial before 1 (1900-01-01) or after 2958465 (9999-12-31).
    #[error("spreadsheet date serial {serial} is outside 1 (1900-01-01) to 2958465 (9999-12-31)")]
    SerialOutOfRange {
        /// The serial as given.
        serial: f64,
    },
    /// Serial 60, which Excel shows as 1900-02-29 because it wrongly treats 1900 as a leap
    /// year.
    #[error(
        "spreadsheet date serial 60 is 1900-02-29, a day that never existed (a spreadsheet \
         defect); enter the date again"
    )]
    SerialFakeLeapDay,
}

impl DateError {
    /// A stable snake_case code for import reports.
    pub fn code(&self) -> &'static str {
        match self {
            DateError::Empty => "empty",
            DateError::Unrecognised => "unrecognised",
            DateError::NoSuchDay { .. } => "no_such_day",
            DateError::SerialNotFinite => "serial_not_finite",
            DateError::SerialOutOfRange { .. } => "serial_out_of_range",
            DateError::SerialFakeLeapDay => "serial_fake_leap_day",
        }
    }
}

/// Reads a date written as `2015-03-04`, `2015/3/4`, `2015.3.4`, `20150304` or `2015年3月4日`.
///
/// Surrounding whitespace is ignored and full-width digits and separators are folded to
/// ASCII. With a separator the year has four digits and the month and day one or two; the
/// same separator must be used twice. In the Chinese form whitespace between the parts is
/// ignored and `号` may stand for `日`, as people write it.
pub fn parse_date(raw: &str) -> Result<NaiveDate, DateError> {
    let folded: String = raw.chars().map(fold_width).collect();
    let s = folded.trim();
    if s.is_empty() {
        return Err(DateError::Empty);
    }
    let (year, month, day) = split_date(s).ok_or(DateError::Unrecognised)?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or(DateError::NoSuchDay { year, month, day })
}

/// Converts an Excel date serial in the 1900 date system to a date.
///
/// Serial 1 is 1900-01-01. Excel counts a 1900-02-29 that never existed as serial 60, so that
/// serial is refused and later serials are shifted back by a day (42067 is 2015-03-04). A
/// fractional part is a time of day and is dropped; a serial below 1 (a time with no date, or
/// a negative number) or beyond 2958465 (9999-12-31) is refused.
pub fn from_excel_serial(serial: f64) -> Result<NaiveDate, DateError> {
    if !serial.is_finite() {
        return Err(DateError::SerialNotFinite);
    }
    // Comparing as floats first keeps the cast below exact: the value is then a whole number
    // of days between 1 and EXCEL_MAX_SERIAL.
    if !(1.0..(EXCEL_MAX_SERIAL + 1) as f64).contains(&serial) {
        return Err(DateError::SerialOutOfRange { serial });
    }
    let days = serial.floor() as u64;
    let date = match days {
        EXCEL_FAKE_LEAP_DAY => return Err(DateError::SerialFakeLeapDay),
        0..EXCEL_FAKE_LEAP_DAY => EXCEL_EPOCH_EARLY.checked_add_days(Days::new(days)),
        _ => EXCEL_EPOCH_LATE.checked_add_days(Days::new(days)),
    };
    // The range check above keeps the sum within 9999-12-31, so this never fails; mapping the
    // impossible case to an error avoids a panic path all the same.
    date.ok_or(DateError::SerialOutOfRange { serial })
}

/// Reads a date that may be an Excel serial, as dates come out of spreadsheets.
///
/// A bare whole number of 3 to 5 digits (`42067`) or such a number with a decimal part
/// (`42067.0`, `42067.5`) is an Excel serial. Everything else, including 8 digits read as
/// `YYYYMMDD`, goes to [`parse_date`]. Shorter serials (before 1900-04-09) are not taken as
/// dates, because a one- or two-digit cell is far more likely a mistake than a date in 1900.
pub fn parse_date_or_serial(raw: &str) -> Result<NaiveDate, DateError> {
    let folded: String = raw.chars().map(fold_width).collect();
    let s = folded.trim();
    let int_part = match s.split_once('.') {
        Some((int, frac)) if is_digits(frac) => int,
        Some(_) => return parse_date(s),
        None => s,
    };
    if is_digits(int_part) && (3..=5).contains(&int_part.len()) {
        // The text is digits with at most one decimal point, which always parses as an f64.
        let serial = s.parse::<f64>().map_err(|_| DateError::Unrecognised)?;
        return from_excel_serial(serial);
    }
    parse_date(s)
}

/// The age in completed years on `day` of someone born on `birth`.
///
/// Someone born on 29 February turns a year older on 1 March in years without that day. A
/// `day` before `birth` gives 0 rather than an error, because callers compare ages and a
/// negative age has no use.
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> u32 {
    if day <= birth {
        return 0;
    }
    let mut years = day.year() - birth.year();
    // Comparing (month, day) pairs makes a 29 February birthday count as passed only from
    // 1 March in a common year, since (2, 28) sorts before (2, 29) and (3, 1) after it.
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// Whether someone born on `birth` is 18 or older on `day`.
pub fn aged_out(birth: NaiveDate, day: NaiveDate) -> bool {
    age_on(birth, day) >= AGE_OF_MAJORITY
}

/// Splits a date in one of the accepted forms into year, month and day.
fn split_date(s: &str) -> Option<(i32, u32, u32)> {
    if s.len() == 8 && is_digits(s) {
        return Some((number(&s[..4])?, number(&s[4..6])?, number(&s[6..])?));
    }
    if s.contains('年') {
        return split_chinese(s);
    }
    for sep in ['-', '/', '.'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if let [year, month, day] = parts[..] {
            return split_parts(year, month, day);
        }
    }
    None
}

/// Splits `2015年3月4日` (or with `号`), ignoring whitespace between the parts.
fn split_chinese(s: &str) -> Option<(i32, u32, u32)> {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let rest = compact
        .strip_suffix('日')
        .or_else(|| compact.strip_suffix('号'))?;
    let (year, rest) = rest.split_once('年')?;
    let (month, day) = rest.split_once('月')?;
    split_parts(year, month, day)
}

/// Checks a four-digit year and a one- or two-digit month and day, and reads them.
fn split_parts(year: &str, month: &str, day: &str) -> Option<(i32, u32, u32)> {
    let short = |part: &str| (1..=2).contains(&part.len()) && is_digits(part);
    if year.len() == 4 && is_digits(year) && short(month) && short(day) {
        Some((number(year)?, number(month)?, number(day)?))
    } else {
        None
    }
}

/// Whether `s` is one or more ASCII digits.
fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Reads a short run of ASCII digits; `None` only if it does not fit the target type.
fn number<T: std::str::FromStr>(digits: &str) -> Option<T> {
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test dates are valid")
    }

    #[test]
    fn reads_every_written_form() {
        let want = Ok(date(2015, 3, 4));
        for raw in [
            "2015-03-04",
            "2015-3-4",
            "2015/3/4",
            "2015/03/04",
            "2015.3.4",
            "2015.03.04",
            "20150304",
            "2015年3月4日",
            "2015年03月04日",
            "2015 年 3 月 4 日",
            "2015年3月4号",
            "  2015-03-04\t",
            "\u{3000}2015/3/4\u{3000}",
            "２０１５－０３－０４",
            "２０１５年３月４日",
            "２０１５０３０４",
            "２０１５／３／４",
        ] {
            assert_eq!(parse_date(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn refuses_malformed_dates() {
        assert_eq!(parse_date(""), Err(DateError::Empty));
        assert_eq!(parse_date("  "), Err(DateError::Empty));
        for raw in [
            "2015-03",
            "15-3-4",
            "2015-3/4",
            "2015--3-4",
            "2015-003-4",
            "2015-3-4-5",
            "2015年3月4",
            "2015年3月",
            "3/4/2015",
            "2015030",
            "201503041",
            "yesterday",
            "2015-+3-4",
            "42067",
        ] {
            assert_eq!(parse_date(raw), Err(DateError::Unrecognised), "{raw:?}");
        }
    }

    #[test]
    fn refuses_days_not_in_the_calendar() {
        assert_eq!(
            parse_date("2023-02-29"),
            Err(DateError::NoSuchDay {
                year: 2023,
                month: 2,
                day: 29
            })
        );
        assert_eq!(
            parse_date("20230229").map_err(|e| e.code()),
            Err("no_such_day")
        );
        assert_eq!(
            parse_date("2015/13/1").map_err(|e| e.code()),
            Err("no_such_day")
        );
        assert_eq!(
            parse_date("2015.4.31").map_err(|e| e.code()),
            Err("no_such_day")
        );
        assert_eq!(
            parse_date("2015年3月0日").map_err(|e| e.code()),
            Err("no_such_day")
        );
        assert_eq!(parse_date("2024-02-29"), Ok(date(2024, 2, 29)));
        assert_eq!(
            parse_date("2023-02-29").map_err(|e| e.to_string()),
            Err("2023-02-29 is not a day of the calendar".to_string())
        );
    }

    #[test]
    fn excel_serial_edge_cases() {
        assert_eq!(from_excel_serial(1.0), Ok(date(1900, 1, 1)));
        assert_eq!(from_excel_serial(59.0), Ok(date(1900, 2, 28)));
        assert_eq!(from_excel_serial(60.0), Err(DateError::SerialFakeLeapDay));
        assert_eq!(from_excel_serial(61.0), Ok(date(1900, 3, 1)));
        assert_eq!(from_excel_serial(42067.0), Ok(date(2015, 3, 4)));
        assert_eq!(from_excel_serial(2_958_465.0), Ok(date(9999, 12, 31)));
        assert_eq!(from_excel_serial(2_958_465.999), Ok(date(9999, 12, 31)));
        assert_eq!(
            from_excel_serial(2_958_466.0),
            Err(DateError::SerialOutOfRange {
                serial: 2_958_466.0
            })
        );
    }

    #[test]
    fn excel_serial_time_of_day_is_dropped() {
        assert_eq!(from_excel_serial(42067.5), Ok(date(2015, 3, 4)));
        assert_eq!(from_excel_serial(42_067.999_999), Ok(date(2015, 3, 4)));
        assert_eq!(from_excel_serial(60.5), Err(DateError::SerialFakeLeapDay));
    }

    #[test]
    fn excel_serial_refuses_out_of_range_and_non_finite() {
        for serial in [0.0, 0.5, -1.0, -42067.0, 1e12] {
            assert_eq!(
                from_excel_serial(serial).map_err(|e| e.code()),
                Err("serial_out_of_range"),
                "{serial}"
            );
        }
        for serial in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(from_excel_serial(serial), Err(DateError::SerialNotFinite));
        }
    }

    #[test]
    fn date_or_serial() {
        let want = Ok(date(2015, 3, 4));
        assert_eq!(parse_date_or_serial("42067"), want);
        assert_eq!(parse_date_or_serial(" 42067.0 "), want);
        assert_eq!(parse_date_or_serial("42067.25"), want);
        assert_eq!(parse_date_or_serial("４２０６７"), want);
        assert_eq!(parse_date_or_serial("20150304"), want);
        assert_eq!(parse_date_or_serial("2015-03-04"), want);
        assert_eq!(parse_date_or_serial("2015.3.4"), want);
        assert_eq!(parse_date_or_serial("2015年3月4日"), want);
        assert_eq!(parse_date_or_serial("100"), Ok(date(1900, 4, 9)));
        assert_eq!(
            parse_date_or_serial("060"),
            Err(DateError::SerialFakeLeapDay)
        );
        assert_eq!(parse_date_or_serial("99"), Err(DateError::Unrecognised));
        assert_eq!(parse_date_or_serial("123456"), Err(DateError::Unrecognised));
        assert_eq!(parse_date_or_serial("42067."), Err(DateError::Unrecognised));
        assert_eq!(parse_date_or_serial(""), Err(DateError::Empty));
        assert_eq!(
            parse_date_or_serial("20230229").map_err(|e| e.code()),
            Err("no_such_day")
        );
    }

    #[test]
    fn ages_in_completed_years() {
        let birth = date(2015, 3, 4);
        assert_eq!(age_on(birth, date(2015, 3, 4)), 0);
        assert_eq!(age_on(birth, date(2016, 3, 3)), 0);
        assert_eq!(age_on(birth, date(2016, 3, 4)), 1);
        assert_eq!(age_on(birth, date(2025, 6, 1)), 10);
        assert_eq!(age_on(birth, date(2010, 1, 1)), 0);
    }

    #[test]
    fn leap_day_birthdays() {
        let birth = date(2008, 2, 29);
        assert_eq!(age_on(birth, date(2009, 2, 28)), 0);
        assert_eq!(age_on(birth, date(2009, 3, 1)), 1);
        assert_eq!(age_on(birth, date(2012, 2, 28)), 3);
        assert_eq!(age_on(birth, date(2012, 2, 29)), 4);
        assert_eq!(age_on(birth, date(2026, 2, 28)), 17);
        assert!(!aged_out(birth, date(2026, 2, 28)));
        assert_eq!(age_on(birth, date(2026, 3, 1)), 18);
        assert!(aged_out(birth, date(2026, 3, 1)));
    }

    #[test]
    fn aged_out_at_eighteen() {
        let birth = date(2007, 6, 1);
        assert!(!aged_out(birth, date(2025, 5, 31)));
        assert!(aged_out(birth, date(2025, 6, 1)));
        assert!(aged_out(birth, date(2040, 1, 1)));
    }

    #[test]
    fn error_codes_are_distinct() {
        let errors = [
            DateError::Empty,
            DateError::Unrecognised,
            DateError::NoSuchDay {
                year: 2023,
                month: 2,
                day: 29,
            },
            DateError::SerialNotFinite,
            DateError::SerialOutOfRange { serial: 0.0 },
            DateError::SerialFakeLeapDay,
        ];
        let mut codes: Vec<&str> = errors.iter().map(DateError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        for error in errors {
            assert!(!error.to_string().is_empty());
        }
    }
}
