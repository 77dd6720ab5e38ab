//! Names: normalising a person's name as it was typed or imported, and masking it for display.
//!
//! Names are Chinese (including rare characters outside the basic CJK block, such as 𠮷),
//! minority and foreign names written in Chinese with a middle dot (阿依古丽·买买提), or
//! Latin-script names as on a passport. The checks refuse what cannot be part of a name
//! (digits, control characters, symbols) rather than trying to decide what a name may be.

use crate::fold_width;

/// The most characters (not bytes) a name may have.
const MAX_NAME_CHARS: usize = 50;

/// The separator of minority and foreign names, U+00B7 MIDDLE DOT.
const DOT: char = '\u{B7}';

/// A name that could not be accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing but whitespace was given.
    #[error("no name was given")]
    Empty,
    /// More than 50 characters after normalising.
    #[error("a name has at most 50 characters, this one has {length}")]
    TooLong {
        /// The number of characters after normalising.
        length: usize,
    },
    /// A digit, in any script, ASCII and full-width alike.
    #[error("a name cannot contain digits, found `{ch}`")]
    Digit {
        /// The offending character.
        ch: char,
    },
    /// A control character, usually a sign of a damaged import file.
    #[error("a name cannot contain control characters, found U+{:04X}", u32::from(*.ch))]
    ControlCharacter {
        /// The offending character.
        ch: char,
    },
    /// A character that is neither a letter nor an accepted separator.
    #[error("`{ch}` (U+{:04X}) is not allowed in a name", u32::from(*.ch))]
    Character {
        /// The offending character.
        ch: char,
    },
    /// A middle dot, hyphen or apostrophe at the start or end of the name.
    #[error("a name cannot start or end with `{ch}`")]
    EdgePunctuation {
        /// The offending character.
        ch: char,
    },
}

impl NameError {
    /// A stable snake_case code for import reports.
    pub fn code(&self) -> &'static str {
        match self {
            NameError::Empty => "empty",
            NameError::TooLong { .. } => "too_long",
            NameError::Digit { .. } => "digit",
            NameError::ControlCharacter { .. } => "control_character",
            NameError::Character { .. } => "character",
            NameError::EdgePunctuation { .. } => "edge_punctuation",
        }
    }
}

/// Normalises a name and checks that it can be one.
///
/// - Surrounding whitespace is removed.
/// - The middle-dot look-alikes (• ・ ･ ‧ ． ∙) become U+00B7 `·`, and so does an ASCII `.`
///   whose nearest neighbours are CJK characters; repeated dots become one. Any other `.` is
///   refused, which means initials such as `John F. Kennedy` must be written without the dot,
///   as passports write them.
/// - Full-width Latin letters become ASCII, and `’` becomes `'`.
/// - A whitespace run between two letters of which at least one is not CJK becomes a single
///   space (`John  Smith`); every other whitespace run is removed, since spaces inside a
///   Chinese name (`张　三`) or around a dot are only there for alignment.
/// - Letters of any script are accepted, including CJK extensions beyond the basic block,
///   combining diacritics and ideographic variation selectors, as well as `-` and `'` inside
///   Latin names (`Jean-Pierre`, `O'Brien`) and the ideographic zero `〇`.
/// - Refused: an empty name, more than 50 characters, digits, control characters, other
///   symbols, and a leading or trailing `·`, `-` or `'`.
pub fn normalise_name(raw: &str) -> Result<String, NameError> {
    let chars: Vec<char> = raw.chars().map(fold_name_char).collect();
    let start = chars.iter().position(|c| !c.is_whitespace());
    let end = chars.iter().rposition(|c| !c.is_whitespace());
    let (Some(start), Some(end)) = (start, end) else {
        return Err(NameError::Empty);
    };
    let mut chars = chars[start..=end].to_vec();
    dots_between_cjk(&mut chars);
    for &ch in &chars {
        check_char(ch)?;
    }
    let name = collapse(&chars);
    if let Some(ch) = name.chars().next().filter(|&c| is_edge_punctuation(c)) {
        return Err(NameError::EdgePunctuation { ch });
    }
    if let Some(ch) = name.chars().next_back().filter(|&c| is_edge_punctuation(c)) {
        return Err(NameError::EdgePunctuation { ch });
    }
    let length = name.chars().count();
    if length > MAX_NAME_CHARS {
        return Err(NameError::TooLong { length });
    }
    Ok(name)
}

/// Masks a name for display, keeping its first and last character.
///
/// Characters, not bytes, are counted. Separators (`·`, spaces, `-`, `'`) are dropped from
/// the masked form and get no star, so that the mask does not reveal where a minority or
/// foreign name splits: `阿依古丽·买买提` becomes `阿*****提`. A name of two letters keeps
/// only its first (`张三` → `张*`) and a single letter is masked entirely.
pub fn mask_name(name: &str) -> String {
    let letters: Vec<char> = name.chars().filter(|&c| !is_separator(c)).collect();
    match letters.as_slice() {
        [] => String::new(),
        [_] => "*".to_string(),
        [first, _] => format!("{first}*"),
        [first, middle @ .., last] => {
            let mut out = String::with_capacity(name.len());
            out.push(*first);
            out.extend(std::iter::repeat_n('*', middle.len()));
            out.push(*last);
            out
        }
    }
}

/// Maps the look-alikes of the middle dot to U+00B7 and other full-width forms to ASCII.
fn fold_name_char(c: char) -> char {
    match c {
        // The full-width full stop must become a dot before full-width folding would turn it
        // into an ASCII `.`, which is only a dot between CJK characters.
        '\u{B7}' | '\u{2022}' | '\u{30FB}' | '\u{FF65}' | '\u{2027}' | '\u{FF0E}' | '\u{2219}' => {
            DOT
        }
        '\u{2019}' => '\'',
        _ => fold_width(c),
    }
}

/// Turns each ASCII `.` into a middle dot when the nearest characters on both sides, looking
/// past whitespace and other dots, are CJK characters.
fn dots_between_cjk(chars: &mut [char]) {
    let skip = |c: &char| c.is_whitespace() || *c == '.' || *c == DOT;
    for i in 0..chars.len() {
        if chars[i] != '.' {
            continue;
        }
        let before = chars[..i].iter().rev().find(|c| !skip(c));
        let after = chars[i + 1..].iter().find(|c| !skip(c));
        if before.is_some_and(|&c| is_cjk(c)) && after.is_some_and(|&c| is_cjk(c)) {
            chars[i] = DOT;
        }
    }
}

/// Refuses a character that cannot be part of a name.
fn check_char(ch: char) -> Result<(), NameError> {
    if ch.is_whitespace() {
        // Whitespace includes a few control characters (tab, line breaks); inside a name they
        // are treated as the spaces they stand for and collapsed later.
        return Ok(());
    }
    if ch.is_control() {
        return Err(NameError::ControlCharacter { ch });
    }
    // The ideographic zero is a letter-number used as a character in some Chinese names.
    if ch.is_numeric() && ch != '〇' {
        return Err(NameError::Digit { ch });
    }
    if ch.is_alphabetic() || ch == DOT || ch == '-' || ch == '\'' || is_mark(ch) {
        return Ok(());
    }
    Err(NameError::Character { ch })
}

/// Rebuilds the name with whitespace runs collapsed or removed and repeated dots merged.
fn collapse(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len() * 3);
    let mut prev: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            let run_end = chars[i..]
                .iter()
                .position(|c| !c.is_whitespace())
                .map_or(chars.len(), |p| i + p);
            let next = chars.get(run_end).copied();
            if let (Some(a), Some(b)) = (prev, next) {
                let letters = a.is_alphabetic() && b.is_alphabetic();
                if letters && !(is_cjk(a) && is_cjk(b)) {
                    out.push(' ');
                }
            }
            i = run_end;
            continue;
        }
        if !(c == DOT && prev == Some(DOT)) {
            out.push(c);
        }
        prev = Some(c);
        i += 1;
    }
    out
}

/// Whether `c` may not start or end a name.
fn is_edge_punctuation(c: char) -> bool {
    c == DOT || c == '-' || c == '\''
}

/// Whether `c` separates the parts of a name rather than being one of its letters.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || is_edge_punctuation(c)
}

/// Whether `c` is a combining mark or variation selector that decorates the letter before it:
/// decomposed Latin accents and the selectors that pick a rare CJK glyph variant.
fn is_mark(c: char) -> bool {
    matches!(
        c,
        '\u{300}'..='\u{36F}' | '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}'
    )
}

/// Whether `c` is a CJK ideograph, in the basic block or any extension, or a CJK radical.
fn is_cjk(c: char) -> bool {
    matches!(
        c,
        '\u{2E80}'..='\u{2FDF}'
            | '\u{3005}'
            | '\u{3007}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{F900}'..='\u{FAFF}'
            | '\u{20000}'..='\u{3FFFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> String {
        normalise_name(raw).unwrap_or_else(|e| panic!("{raw:?} should be accepted: {e}"))
    }

    fn err(raw: &str) -> NameError {
        normalise_name(raw).expect_err("should be refused")
    }

    #[test]
    fn trims_and_keeps_chinese_names() {
        assert_eq!(ok("  张三  "), "张三");
        assert_eq!(ok("\t欧阳小明\r\n"), "欧阳小明");
        assert_eq!(ok("\u{3000}李四\u{3000}"), "李四");
    }

    #[test]
    fn removes_alignment_spaces_inside_chinese_names() {
        assert_eq!(ok("张　三"), "张三");
        assert_eq!(ok("张  三"), "张三");
        assert_eq!(ok("张 John"), "张 John");
    }

    #[test]
    fn collapses_whitespace_in_latin_names() {
        assert_eq!(ok("John   Smith"), "John Smith");
        assert_eq!(ok("  Mary\tAnn  Lee "), "Mary Ann Lee");
        assert_eq!(ok("ＪＯＨＮ　ＳＭＩＴＨ"), "JOHN SMITH");
        assert_eq!(ok("Jean-Pierre O’Brien"), "Jean-Pierre O'Brien");
    }

    #[test]
    fn normalises_every_middle_dot_variant() {
        for dot in [
            '\u{B7}', '\u{2022}', '\u{30FB}', '\u{FF65}', '\u{2027}', '\u{FF0E}', '\u{2219}',
        ] {
            let raw = format!("阿依古丽{dot}买买提");
            assert_eq!(ok(&raw), "阿依古丽·买买提", "U+{:04X}", u32::from(dot));
        }
        assert_eq!(ok("阿依古丽.买买提"), "阿依古丽·买买提");
        assert_eq!(ok("阿依古丽 . 买买提"), "阿依古丽·买买提");
        assert_eq!(ok("阿依古丽 · 买买提"), "阿依古丽·买买提");
        assert_eq!(ok("阿依古丽··买买提"), "阿依古丽·买买提");
        assert_eq!(ok("阿依古丽..买买提"), "阿依古丽·买买提");
        assert_eq!(
            ok("米哈伊尔·谢尔盖耶维奇·戈尔巴乔夫"),
            "米哈伊尔·谢尔盖耶维奇·戈尔巴乔夫"
        );
    }

    #[test]
    fn accepts_rare_characters_and_latin_letters() {
        assert_eq!(ok("𠮷田"), "𠮷田");
        assert_eq!(ok("王𪚥"), "王𪚥");
        assert_eq!(ok("李〇"), "李〇");
        assert_eq!(ok("葛\u{E0100}优"), "葛\u{E0100}优");
        assert_eq!(ok("José"), "José");
        assert_eq!(ok("Jose\u{301}"), "Jose\u{301}");
        assert_eq!(ok("ZHANG San"), "ZHANG San");
    }

    #[test]
    fn refuses_empty_names() {
        assert_eq!(err(""), NameError::Empty);
        assert_eq!(err(" \t\u{3000}"), NameError::Empty);
    }

    #[test]
    fn refuses_names_over_fifty_characters() {
        let fifty = "张".repeat(50);
        assert_eq!(ok(&fifty), fifty);
        assert_eq!(err(&"张".repeat(51)), NameError::TooLong { length: 51 });
        // Characters, not bytes: fifty rare characters are 200 bytes and still accepted.
        assert_eq!(ok(&"𠮷".repeat(50)).chars().count(), 50);
        let latin = format!("{} {}", "a".repeat(25), "b".repeat(25));
        assert_eq!(err(&latin), NameError::TooLong { length: 51 });
    }

    #[test]
    fn refuses_digits() {
        assert_eq!(err("张3"), NameError::Digit { ch: '3' });
        assert_eq!(err("张３"), NameError::Digit { ch: '3' });
        assert_eq!(err("Henry Ⅷ"), NameError::Digit { ch: 'Ⅷ' });
        assert_eq!(
            err("张3").to_string(),
            "a name cannot contain digits, found `3`"
        );
    }

    #[test]
    fn refuses_control_characters() {
        assert_eq!(
            err("张\u{0}三"),
            NameError::ControlCharacter { ch: '\u{0}' }
        );
        assert_eq!(
            err("张\u{1B}三"),
            NameError::ControlCharacter { ch: '\u{1B}' }
        );
        assert_eq!(
            err("张\u{7}三").to_string(),
            "a name cannot contain control characters, found U+0007"
        );
    }

    #[test]
    fn refuses_other_symbols() {
        assert_eq!(err("张@三"), NameError::Character { ch: '@' });
        assert_eq!(err("张三(小)"), NameError::Character { ch: '(' });
        assert_eq!(err("John F. Kennedy"), NameError::Character { ch: '.' });
        assert_eq!(err("张.John"), NameError::Character { ch: '.' });
        assert_eq!(err("张\u{FFFD}"), NameError::Character { ch: '\u{FFFD}' });
        assert_eq!(
            err("张@三").to_string(),
            "`@` (U+0040) is not allowed in a name"
        );
    }

    #[test]
    fn refuses_a_leading_or_trailing_dot() {
        assert_eq!(err("·张三"), NameError::EdgePunctuation { ch: DOT });
        assert_eq!(err("张三·"), NameError::EdgePunctuation { ch: DOT });
        assert_eq!(err("张三 •"), NameError::EdgePunctuation { ch: DOT });
        assert_eq!(err("・阿依古丽"), NameError::EdgePunctuation { ch: DOT });
        assert_eq!(err("·"), NameError::EdgePunctuation { ch: DOT });
        assert_eq!(err("-Jean"), NameError::EdgePunctuation { ch: '-' });
        assert_eq!(err("Jean'"), NameError::EdgePunctuation { ch: '\'' });
    }

    #[test]
    fn error_codes_are_distinct() {
        let errors = [
            NameError::Empty,
            NameError::TooLong { length: 51 },
            NameError::Digit { ch: '1' },
            NameError::ControlCharacter { ch: '\u{0}' },
            NameError::Character { ch: '@' },
            NameError::EdgePunctuation { ch: DOT },
        ];
        let mut codes: Vec<&str> = errors.iter().map(NameError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }

    #[test]
    fn masks_names_by_characters() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("张小明"), "张*明");
        assert_eq!(mask_name("欧阳小明"), "欧**明");
        assert_eq!(mask_name("阿依古丽·买买提"), "阿*****提");
        assert_eq!(mask_name("张"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("𠮷田"), "𠮷*");
        assert_eq!(mask_name("John Smith"), "J*******h");
        assert_eq!(mask_name("A·B"), "A*");
    }
}
