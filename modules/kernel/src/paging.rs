//! Relay cursors and page sizes. A cursor is an opaque, base64-encoded sort
//! key; lists sort on a unique key so that pages are stable while rows are
//! added.

use async_graphql::connection::{Connection, Edge, EmptyFields};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uuid::Uuid;

use crate::ApiError;

pub const DEFAULT_PAGE: u64 = 50;
pub const MAX_PAGE: u64 = 200;

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_input("after", "the cursor is not one this server issued"))
}

/// The page size for `first`, refusing what would be an unbounded list.
pub fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    match first {
        None => Ok(DEFAULT_PAGE),
        Some(n) if n < 0 => Err(ApiError::bad_input("first", "must not be negative")),
        Some(n) if n as u64 > MAX_PAGE => Err(ApiError::bad_input(
            "first",
            format!("at most {MAX_PAGE} items per page"),
        )),
        Some(n) => Ok(n as u64),
    }
}

/// The id a cursor of a list sorted by id stands for.
pub fn after_id(after: Option<String>) -> Result<Option<Uuid>, ApiError> {
    after
        .map(|c| {
            let raw = decode_cursor(&c)?;
            Uuid::parse_str(&raw)
                .map_err(|_| ApiError::bad_input("after", "not a cursor of this list"))
        })
        .transpose()
}

/// A Relay connection of a list sorted by id, from up to `limit + 1` rows:
/// the extra row only tells that another page follows.
pub fn id_page<T: async_graphql::OutputType>(
    mut rows: Vec<T>,
    limit: u64,
    id: impl Fn(&T) -> Uuid,
) -> Connection<String, T, EmptyFields, EmptyFields> {
    let has_next = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let mut conn = Connection::new(false, has_next);
    conn.edges.extend(
        rows.into_iter()
            .map(|r| Edge::new(encode_cursor(&id(&r).to_string()), r)),
    );
    conn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let c = encode_cursor("/320506/320506001/");
        assert_eq!(decode_cursor(&c).unwrap(), "/320506/320506001/");
        assert!(decode_cursor("!!!").is_err());
    }

    #[test]
    fn page_size_is_bounded() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE);
        assert!(page_size(Some(-1)).is_err());
        assert!(page_size(Some(201)).is_err());
        assert_eq!(page_size(Some(10)).unwrap(), 10);
    }
}
