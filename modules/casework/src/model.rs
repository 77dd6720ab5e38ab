//! The closed vocabularies of reporting and casework, each with a stable
//! English code (what the API and the database carry) and a Chinese label,
//! and the case state machine.

use shouhu_kernel::vocabulary;

vocabulary! {
    /// How a report reached the district.
    Channel {
        Hotline = "hotline" / "救助热线",
        MandatoryReporter = "mandatory" / "强制报告",
        Department = "department" / "部门转介",
        PublicForm = "public" / "网上举报",
    }
}

vocabulary! {
    /// What a report says happened.
    ReportCategory {
        DomesticViolence = "domestic_violence" / "家庭暴力",
        SexualAbuse = "sexual_abuse" / "性侵害",
        Neglect = "neglect" / "忽视",
        Abandonment = "abandonment" / "遗弃",
        InfantAbandonment = "infant_abandonment" / "遗弃婴儿",
        StreetBegging = "street_begging" / "流浪乞讨",
        MissingGuardian = "missing_guardian" / "监护缺失",
        ImminentDanger = "imminent_danger" / "紧急危险",
        SelfHarmRisk = "self_harm_risk" / "自伤风险",
        OutOfSchool = "out_of_school" / "失学辍学",
        Other = "other" / "其他",
    }
}

impl ReportCategory {
    /// Categories that make a report an emergency on receipt: violence,
    /// sexual abuse, an abandoned infant, imminent danger and self-harm.
    pub fn is_emergency(self) -> bool {
        matches!(
            self,
            ReportCategory::DomesticViolence
                | ReportCategory::SexualAbuse
                | ReportCategory::InfantAbandonment
                | ReportCategory::ImminentDanger
                | ReportCategory::SelfHarmRisk
        )
    }
}

vocabulary! {
    /// Triage level.
    Level {
        Emergency = "emergency" / "紧急",
        Normal = "normal" / "一般",
    }
}

vocabulary! {
    /// Where a report stands, as staff see it.
    ReportStatus {
        Received = "received" / "已接收",
        Accepted = "accepted" / "已受理",
        Dismissed = "dismissed" / "不予受理",
    }
}

vocabulary! {
    /// What a reporter may know of their report: nothing more than this.
    ReporterStatus {
        Received = "received" / "已接收",
        Accepted = "accepted" / "已受理",
        Closed = "closed" / "已办结",
    }
}

vocabulary! {
    /// Whether a new report has reached its street yet. `Pending` reports
    /// are in the retry queue.
    RoutingState {
        Pending = "pending" / "待分派",
        Routed = "routed" / "已分派",
    }
}

vocabulary! {
    /// The states of a case.
    CaseState {
        Accepted = "accepted" / "已受理",
        Verifying = "verifying" / "核查中",
        Assessed = "assessed" / "已评估",
        PlanActive = "plan_active" / "帮扶中",
        Monitoring = "monitoring" / "跟踪回访",
        Closed = "closed" / "已结案",
        Reopened = "reopened" / "重新开启",
    }
}

impl CaseState {
    /// The states a case may move to from this one. `Closed` is reached only
    /// through an approved closure review.
    pub fn next(self) -> &'static [CaseState] {
        use CaseState::*;
        match self {
            Accepted => &[Verifying, Closed],
            Verifying => &[Assessed, Closed],
            Assessed => &[PlanActive, Closed],
            PlanActive => &[Monitoring, Closed],
            Monitoring => &[PlanActive, Closed],
            Closed => &[Reopened],
            Reopened => &[Verifying, Assessed, PlanActive, Closed],
        }
    }

    pub fn can_move_to(self, to: CaseState) -> bool {
        self.next().contains(&to)
    }

    pub fn is_open(self) -> bool {
        self != CaseState::Closed
    }
}

vocabulary! {
    /// Why a case was closed.
    ClosureOutcome {
        Resolved = "resolved" / "问题解决",
        Transferred = "transferred" / "移交他区",
        AgedOut = "aged_out" / "年满十八周岁",
        NoConcern = "no_concern" / "无保护需要",
    }
}

vocabulary! {
    /// Who went on a home visit.
    Visitor {
        Police = "police" / "公安",
        Street = "street" / "街道",
        SocialWorker = "social_worker" / "社工",
        ChildOfficer = "child_officer" / "儿童主任",
        Other = "other" / "其他",
    }
}

vocabulary! {
    /// The immediate safety decision of a home visit.
    SafetyDecision {
        Safe = "safe" / "安全",
        SafeWithPlan = "safe_with_plan" / "有条件安全",
        RemoveChild = "remove_child" / "临时带离",
    }
}

vocabulary! {
    /// Guardianship status found by an assessment.
    Guardianship {
        Adequate = "adequate" / "监护良好",
        Incapable = "incapable" / "监护无力",
        Absent = "absent" / "监护缺失",
        Improper = "improper" / "监护失当",
    }
}

vocabulary! {
    /// Risk level found by an assessment.
    Risk {
        Low = "low" / "低",
        Medium = "medium" / "中",
        High = "high" / "高",
        Critical = "critical" / "极高",
    }
}

vocabulary! {
    /// The domains an assessment rates needs in.
    NeedDomain {
        Living = "living" / "生活",
        Guardianship = "guardianship" / "监护",
        Education = "education" / "教育",
        Health = "health" / "医疗健康",
        Psychological = "psychological" / "心理",
        Safety = "safety" / "安全",
        Legal = "legal" / "法律",
    }
}

vocabulary! {
    /// How pressing a need is.
    NeedLevel {
        None = "none" / "无",
        Some = "some" / "一般",
        Urgent = "urgent" / "迫切",
    }
}

vocabulary! {
    /// The eight categories of classified assistance.
    PlanCategory {
        Shelter = "shelter" / "临时庇护",
        MinimumIncome = "minimum_income" / "低保",
        Welfare = "welfare" / "福利",
        Charity = "charity" / "慈善",
        Education = "education" / "教育",
        Medical = "medical" / "医疗",
        Psychological = "psychological" / "心理",
        LegalAid = "legal_aid" / "法律援助",
    }
}

vocabulary! {
    /// Who carries out a plan item.
    ResponsibleKind {
        Department = "department" / "职能部门",
        Partner = "partner" / "合作机构",
        Programme = "programme" / "帮扶项目",
        Caseworker = "caseworker" / "社工",
    }
}

vocabulary! {
    /// Where a plan item stands.
    PlanItemStatus {
        Planned = "planned" / "待落实",
        InProgress = "in_progress" / "落实中",
        Done = "done" / "已完成",
        Cancelled = "cancelled" / "已取消",
    }
}

vocabulary! {
    /// Where the assistance plan as a whole stands.
    PlanState {
        Draft = "draft" / "草拟",
        Approved = "approved" / "已审批",
    }
}

vocabulary! {
    /// Where a child is placed in an emergency.
    PlacementKind {
        Shelter = "shelter" / "保护中心临时庇护",
        Relatives = "relatives" / "亲属照料",
        CaringFamily = "caring_family" / "爱心家庭",
        Other = "other" / "其他",
    }
}

vocabulary! {
    /// The deadlines a report runs against.
    Deadline {
        Acknowledge = "acknowledge" / "签收",
        HomeVisit = "home_visit" / "入户",
        Verify = "verify" / "核查",
        TellReporter = "tell_reporter" / "告知报告人",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        for c in ReportCategory::ALL {
            assert_eq!(ReportCategory::parse(c.code()), Some(*c));
            assert_eq!(ReportCategory::parse(c.label_zh()), Some(*c));
        }
        let mut codes: Vec<&str> = CaseState::ALL.iter().map(|s| s.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), CaseState::ALL.len());
    }

    #[test]
    fn the_five_emergency_categories() {
        let emergencies: Vec<ReportCategory> = ReportCategory::ALL
            .iter()
            .copied()
            .filter(|c| c.is_emergency())
            .collect();
        assert_eq!(
            emergencies,
            vec![
                ReportCategory::DomesticViolence,
                ReportCategory::SexualAbuse,
                ReportCategory::InfantAbandonment,
                ReportCategory::ImminentDanger,
                ReportCategory::SelfHarmRisk,
            ]
        );
        assert!(!ReportCategory::Neglect.is_emergency());
        assert!(!ReportCategory::Abandonment.is_emergency());
    }

    #[test]
    fn the_state_machine() {
        use CaseState::*;
        let path = [
            Accepted, Verifying, Assessed, PlanActive, Monitoring, Closed,
        ];
        for pair in path.windows(2) {
            assert!(
                pair[0].can_move_to(pair[1]),
                "{:?} -> {:?}",
                pair[0],
                pair[1]
            );
        }
        assert!(!Accepted.can_move_to(PlanActive));
        assert!(!Verifying.can_move_to(Monitoring));
        assert!(!Closed.can_move_to(Verifying));
        assert!(Closed.can_move_to(Reopened));
        assert!(Reopened.can_move_to(Verifying));
        for s in CaseState::ALL {
            assert!(!s.can_move_to(*s), "{s:?} moves to itself");
        }
    }
}
