//! The closed vocabularies of assistance and the arithmetic of benefit
//! periods: how many periods of a benefit fall within a term, which is what
//! an approval commits and an early end releases.

use chrono::{Months, NaiveDate};
use shouhu_kernel::vocabulary;

vocabulary! {
    /// How often a cash benefit is paid.
    BenefitPeriod {
        Once = "once" / "一次性",
        Month = "month" / "每月",
        Quarter = "quarter" / "每季度",
        Year = "year" / "每年",
    }
}

vocabulary! {
    /// Where an enrolment stands.
    EnrolmentStatus {
        Proposed = "proposed" / "待审批",
        Approved = "approved" / "已入组",
        Rejected = "rejected" / "未批准",
        Ended = "ended" / "已终止",
    }
}

vocabulary! {
    /// What a benefit-ledger entry does to a programme's budget.
    EntryKind {
        Commitment = "commitment" / "承诺",
        Release = "release" / "释放",
    }
}

impl BenefitPeriod {
    fn months(self) -> Option<u32> {
        match self {
            BenefitPeriod::Once => None,
            BenefitPeriod::Month => Some(1),
            BenefitPeriod::Quarter => Some(3),
            BenefitPeriod::Year => Some(12),
        }
    }

    /// The number of periods that begin on or after `from` and on or before
    /// `until`, the first beginning on `from`: a benefit paid once is one
    /// period; nothing falls in an empty term.
    pub fn periods_between(self, from: NaiveDate, until: NaiveDate) -> i64 {
        if from > until {
            return 0;
        }
        let Some(step) = self.months() else {
            return 1;
        };
        let mut count = 0;
        let mut k: u32 = 0;
        // Each start is counted from `from`, not from the previous start, so
        // a term from 31 January steps to 28/29 February and back to 31 March.
        while let Some(start) = from.checked_add_months(Months::new(step * k)) {
            if start > until {
                break;
            }
            count += 1;
            k += 1;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn periods_in_a_term() {
        let cases = [
            (BenefitPeriod::Once, "2026-01-01", "2026-12-31", 1),
            (BenefitPeriod::Month, "2026-01-01", "2026-12-31", 12),
            (BenefitPeriod::Month, "2026-01-31", "2026-03-30", 2),
            (BenefitPeriod::Month, "2026-01-31", "2026-03-31", 3),
            (BenefitPeriod::Quarter, "2026-12-04", "2027-12-03", 4),
            (BenefitPeriod::Quarter, "2026-12-04", "2027-12-04", 5),
            (BenefitPeriod::Year, "2026-06-01", "2028-05-31", 2),
            (BenefitPeriod::Month, "2026-06-01", "2026-06-01", 1),
            (BenefitPeriod::Month, "2026-06-02", "2026-06-01", 0),
            (BenefitPeriod::Once, "2026-06-02", "2026-06-01", 0),
        ];
        for (period, from, until, expected) in cases {
            assert_eq!(
                period.periods_between(d(from), d(until)),
                expected,
                "{period:?} {from}..={until}"
            );
        }
    }
}
