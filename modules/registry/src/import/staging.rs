//! PostgreSQL's path for new minors: `COPY` into temporary staging tables, then
//! `INSERT … SELECT` into the district's tables.
//!
//! PostgreSQL refuses `COPY FROM` into a table with row-level security, and multi-row
//! `INSERT`s of bound parameters spend most of an import building, sending and parsing
//! statements. So the reading thread writes each valid row, as if it were new, as lines of
//! `COPY` text ([`Staged`]); the writer keeps the lines of the rows that are new
//! ([`StagedChunk`]), copies them into two temporary tables of its transaction
//! (`ON COMMIT DROP`, so they vanish with it whatever happens) and moves them with one
//! `INSERT … SELECT` per table. The policy of every tenant table checks each moved row, the
//! constraints, indexes and triggers work as for any insert, and the tenant, the time, the
//! actor and the reason are bound once per statement instead of once per row.
//!
//! A registered document is never staged: updates keep the writer's statements, which
//! compare field by field. Nothing here is logged: the lines hold a child's record.

use std::time::Instant;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use shouhu_kernel::ids::new_id;
use shouhu_kernel::{is_unique_violation, ApiError, Principal, ScopedTx};

use super::{created_history, Candidate};

/// New minors gathered before they are copied and moved. About half a kilobyte a row, so a
/// chunk stays within PostgreSQL's default 8 MB of buffers for temporary tables and the
/// client's memory does not grow with the file.
pub(super) const CHUNK_ROWS: usize = 10_000;

/// The staging tables, made at the first chunk. Their columns are text and uuid only: the
/// lengths and vocabularies were checked on the reading thread, and the target columns check
/// them again when the rows are moved.
const CREATE: &[&str] = &[
    "CREATE TEMPORARY TABLE import_minors (
        id uuid NOT NULL,
        name text NOT NULL,
        doc_type text NOT NULL,
        doc_number text NOT NULL,
        sex text NOT NULL,
        birth_date text NOT NULL,
        ethnicity text,
        hukou_place text,
        org_unit_id uuid NOT NULL,
        address text,
        phone text,
        school text,
        grade text,
        health text,
        disability_grade text,
        economic_status text NOT NULL,
        status text NOT NULL,
        guardian_id uuid,
        guardian_name text,
        guardian_relationship text,
        guardian_phone text,
        guardian_situation text,
        history_id uuid NOT NULL,
        history_after text NOT NULL
    ) ON COMMIT DROP",
    "CREATE TEMPORARY TABLE import_categories (
        minor_id uuid NOT NULL,
        category text NOT NULL,
        since text NOT NULL,
        source text NOT NULL
    ) ON COMMIT DROP",
];

/// `pg_temp.` so that no table of the schema with the same name is ever meant.
const COPY_MINORS: &str = "COPY pg_temp.import_minors FROM STDIN";
const COPY_CATEGORIES: &str = "COPY pg_temp.import_categories FROM STDIN";

/// Parents before children, as the foreign keys need, each with the number of parameters it
/// takes: `$1` is the tenant, `$2` the time, `$3`/`$4` the actor's kind and id, `$5` the
/// history's reason; a new minor starts at
/// version 1, with no household, no follow-up and no HIV status, as `Writer::create` makes
/// it on SQLite. Its history entry's `before` is JSON `null`.
const MOVE: &[(&str, usize)] = &[
    (
        "INSERT INTO minors (tenant_id, id, household_id, name, doc_type, doc_number, \
     needs_follow_up, sex, birth_date, ethnicity, hukou_place, org_unit_id, address, phone, \
     school, grade, health, disability_grade, hiv_status, economic_status, status, version, \
     created_at_ms, updated_at_ms) \
     SELECT $1::uuid, id, NULL, name, doc_type, doc_number, false, sex, birth_date, ethnicity, \
     hukou_place, org_unit_id, address, phone, school, grade, health, disability_grade, NULL, \
     economic_status, status, 1, $2::bigint, $2::bigint FROM pg_temp.import_minors",
        2,
    ),
    (
        "INSERT INTO guardians (tenant_id, id, minor_id, name, relationship, phone, situation, \
     created_at_ms) \
     SELECT $1::uuid, guardian_id, id, guardian_name, guardian_relationship, guardian_phone, \
     guardian_situation, $2::bigint FROM pg_temp.import_minors WHERE guardian_id IS NOT NULL",
        2,
    ),
    (
        "INSERT INTO minor_categories (tenant_id, minor_id, category, since, source) \
     SELECT $1::uuid, minor_id, category, since, source FROM pg_temp.import_categories",
        1,
    ),
    (
        "INSERT INTO minor_history (tenant_id, id, minor_id, at_ms, actor_kind, actor_id, change, \
     before, after, reason) \
     SELECT $1::uuid, history_id, id, $2::bigint, $3::text, $4::uuid, 'created', 'null', \
     history_after, $5::text FROM pg_temp.import_minors",
        5,
    ),
];

const EMPTY: &str = "TRUNCATE pg_temp.import_minors, pg_temp.import_categories";

/// One valid row as a new minor, in `COPY` text format: a line of `import_minors` (the
/// minor, its guardian and its `created` history entry) and a line of `import_categories` per
/// category.
#[derive(Clone, Debug)]
pub(super) struct Staged {
    minor: String,
    categories: String,
}

impl Staged {
    /// Gives the new minor, its guardian and its history entry their ids.
    pub(super) fn of(c: &Candidate) -> Staged {
        let id = new_id();
        let id_text = id.hyphenated().to_string();
        let mut minor = String::with_capacity(640);
        let mut line = Line(&mut minor);
        line.field(Some(&id_text));
        line.field(Some(&c.name));
        line.field(Some(c.doc_kind.code()));
        line.field(Some(&c.doc_number));
        line.field(Some(c.sex.code()));
        line.field(Some(&c.birth.to_string()));
        let [ethnicity, hukou_place, address, phone, school, grade, health, disability_grade] =
            &c.texts;
        line.field(ethnicity.as_deref());
        line.field(hukou_place.as_deref());
        line.field(Some(&c.org_unit.hyphenated().to_string()));
        for text in [address, phone, school, grade, health, disability_grade] {
            line.field(text.as_deref());
        }
        line.field(Some(c.new_economic_status()));
        line.field(Some(c.new_status()));
        match &c.guardian {
            Some(g) => {
                line.field(Some(&new_id().hyphenated().to_string()));
                line.field(Some(&g.name));
                line.field(Some(g.relationship.code()));
                line.field(g.phone.as_deref());
                line.field(Some(g.situation.code()));
            }
            None => {
                for _ in 0..5 {
                    line.field(None);
                }
            }
        }
        line.field(Some(&new_id().hyphenated().to_string()));
        line.field(Some(&created_history(c.org_unit).to_string()));
        line.end();
        let mut categories = String::new();
        for (category, since, source) in c.categories.iter().flatten() {
            let mut line = Line(&mut categories);
            line.field(Some(&id_text));
            line.field(Some(category.code()));
            line.field(Some(&since.to_string()));
            line.field(Some(source));
            line.end();
        }
        Staged { minor, categories }
    }
}

/// A line of `COPY` text being written: fields end with a tab, the last one with a newline.
struct Line<'a>(&'a mut String);

impl Line<'_> {
    /// Appends a field; `None` is SQL `NULL` (`\N`). A backslash, tab, newline or carriage
    /// return in a value is escaped, so that no value can end a field or a line.
    fn field(&mut self, value: Option<&str>) {
        match value {
            None => self.0.push_str("\\N"),
            Some(text) if !text.contains(['\\', '\t', '\n', '\r']) => self.0.push_str(text),
            Some(text) => {
                for ch in text.chars() {
                    match ch {
                        '\\' => self.0.push_str("\\\\"),
                        '\t' => self.0.push_str("\\t"),
                        '\n' => self.0.push_str("\\n"),
                        '\r' => self.0.push_str("\\r"),
                        other => self.0.push(other),
                    }
                }
            }
        }
        self.0.push('\t');
    }

    fn end(self) {
        if self.0.ends_with('\t') {
            self.0.pop();
        }
        self.0.push('\n');
    }
}

/// The new minors of the batches since the last move.
#[derive(Default)]
pub(super) struct StagedChunk {
    minors: String,
    categories: String,
    rows: usize,
    /// Whether this transaction has made the staging tables.
    tables: bool,
    /// Milliseconds spent copying, then in each statement of [`MOVE`], then emptying.
    pub(super) spent_ms: [u128; MOVE.len() + 2],
}

impl StagedChunk {
    pub(super) fn push(&mut self, staged: Staged) {
        self.minors.push_str(&staged.minor);
        self.categories.push_str(&staged.categories);
        self.rows += 1;
    }

    pub(super) fn is_full(&self) -> bool {
        self.rows >= CHUNK_ROWS
    }

    /// Copies the gathered rows into the staging tables and moves them into the district's
    /// tables, in the transaction `tx`; the staging tables are left empty.
    pub(super) async fn move_into(
        &mut self,
        tx: &ScopedTx,
        who: &Principal,
        now: i64,
        reason: &str,
    ) -> Result<(), ApiError> {
        if self.rows == 0 {
            return Ok(());
        }
        if !self.tables {
            for sql in CREATE {
                tx.conn().execute_unprepared(sql).await?;
            }
            self.tables = true;
        }
        let mut clock = Instant::now();
        let mut lap = |spent: &mut u128| {
            *spent += clock.elapsed().as_millis();
            clock = Instant::now();
        };
        tx.copy_in(COPY_MINORS, self.minors.as_bytes()).await?;
        if !self.categories.is_empty() {
            tx.copy_in(COPY_CATEGORIES, self.categories.as_bytes())
                .await?;
        }
        lap(&mut self.spent_ms[0]);
        let values: [sea_orm::Value; 5] = [
            tx.tenant().as_uuid().into(),
            now.into(),
            who.actor_kind.as_str().into(),
            who.actor_id.into(),
            reason.into(),
        ];
        for (i, (sql, params)) in MOVE.iter().enumerate() {
            let statement = Statement::from_sql_and_values(
                DbBackend::Postgres,
                *sql,
                values[..*params].iter().cloned(),
            );
            match tx.conn().execute(statement).await {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(ApiError::conflict(
                        "file",
                        "a row clashed with a record written meanwhile; import the file again",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
            lap(&mut self.spent_ms[i + 1]);
        }
        tx.conn().execute_unprepared(EMPTY).await?;
        lap(&mut self.spent_ms[MOVE.len() + 1]);
        self.minors.clear();
        self.categories.clear();
        self.rows = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(values: &[Option<&str>]) -> String {
        let mut out = String::new();
        let mut line = Line(&mut out);
        for value in values {
            line.field(*value);
        }
        line.end();
        out
    }

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_line() {
        assert_eq!(line(&[Some("张三"), None, Some("")]), "张三\t\\N\t\n");
        assert_eq!(
            line(&[Some("1号楼\\2单元\t东\r\n"), Some("\\N")]),
            "1号楼\\\\2单元\\t东\\r\\n\t\\\\N\n"
        );
    }

    #[test]
    fn every_move_binds_what_it_uses() {
        for (sql, params) in MOVE {
            for n in 1..=5 {
                assert_eq!(sql.contains(&format!("${n}::")), n <= *params, "{sql}");
            }
        }
    }
}
