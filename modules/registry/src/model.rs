//! The closed vocabularies of the registry, each with a stable English code
//! (what the API and the database carry) and a Chinese label (what staff
//! and spreadsheets use; an import accepts either).

use shouhu_kernel::vocabulary;

vocabulary! {
    /// The nine categories of minors in difficulty (困境未成年人).
    Category {
        Orphan = "orphan" / "孤儿",
        Abandoned = "abandoned" / "弃婴和被遗弃未成年人",
        StreetBegging = "street_begging" / "流浪乞讨未成年人",
        Hiv = "hiv" / "艾滋病病毒感染未成年人",
        Trafficked = "trafficked" / "被拐卖获救未成年人",
        ParentDetained = "parent_detained" / "父母服刑或强制隔离戒毒未成年人",
        Abused = "abused" / "受侵害未成年人",
        DeFactoUnsupported = "de_facto_unsupported" / "事实无人抚养未成年人",
        IllDisabledPoor = "ill_disabled_poor" / "重病重残及困难家庭未成年人",
    }
}

impl Category {
    /// Categories that disclose health, a parent's imprisonment or abuse:
    /// shown only with `minor:sensitive`.
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            Category::Hiv | Category::ParentDetained | Category::Abused
        )
    }
}

vocabulary! {
    /// A guardian's situation.
    GuardianSituation {
        Present = "present" / "正常履职",
        Deceased = "deceased" / "死亡",
        Imprisoned = "imprisoned" / "服刑在押",
        DrugRehab = "drug_rehab" / "强制隔离戒毒",
        Missing = "missing" / "失联",
        IllOrDisabled = "ill_or_disabled" / "重病重残",
        WorkingAway = "working_away" / "外出务工",
        Other = "other" / "其他",
    }
}

impl GuardianSituation {
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            GuardianSituation::Imprisoned | GuardianSituation::DrugRehab
        )
    }
}

vocabulary! {
    /// How a guardian is related to the minor.
    Relationship {
        Father = "father" / "父亲",
        Mother = "mother" / "母亲",
        Grandparent = "grandparent" / "祖父母或外祖父母",
        Sibling = "sibling" / "兄弟姐妹",
        Relative = "relative" / "其他亲属",
        Other = "other" / "其他",
    }
}

vocabulary! {
    /// The household's economic status.
    EconomicStatus {
        None = "none" / "无",
        Dibao = "dibao" / "低保",
        DibaoEdge = "dibao_edge" / "低保边缘",
        Tekun = "tekun" / "特困",
    }
}

vocabulary! {
    /// The record's status; "aged out" is computed from the birth date.
    MinorStatus {
        Active = "active" / "在册",
        MovedAway = "moved_away" / "迁出",
        Deceased = "deceased" / "死亡",
    }
}

vocabulary! {
    /// Sex, as recorded.
    SexCode {
        Male = "male" / "男",
        Female = "female" / "女",
    }
}

impl From<SexCode> for crate::idnumber::Sex {
    fn from(s: SexCode) -> Self {
        match s {
            SexCode::Male => crate::idnumber::Sex::Male,
            SexCode::Female => crate::idnumber::Sex::Female,
        }
    }
}

vocabulary! {
    /// The kind of identity document.
    DocumentKind {
        ResidentId = "resident_id" / "居民身份证",
        HkMacaoPermit = "hk_macao_permit" / "港澳居民来往内地通行证",
        TaiwanPermit = "taiwan_permit" / "台湾居民来往大陆通行证",
        Passport = "passport" / "护照",
        BirthCertificate = "birth_certificate" / "出生医学证明",
    }
}

impl From<DocumentKind> for crate::idnumber::DocumentType {
    fn from(k: DocumentKind) -> Self {
        use crate::idnumber::DocumentType as D;
        match k {
            DocumentKind::ResidentId => D::ResidentId,
            DocumentKind::HkMacaoPermit => D::HkMacaoPermit,
            DocumentKind::TaiwanPermit => D::TaiwanPermit,
            DocumentKind::Passport => D::Passport,
            DocumentKind::BirthCertificate => D::BirthCertificate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_labels_parse_back() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.code()), Some(*c));
            assert_eq!(Category::parse(c.label_zh()), Some(*c));
        }
        assert_eq!(Category::ALL.len(), 9);
        assert_eq!(
            GuardianSituation::parse("服刑在押"),
            Some(GuardianSituation::Imprisoned)
        );
        assert_eq!(
            EconomicStatus::parse(" 低保边缘 "),
            Some(EconomicStatus::DibaoEdge)
        );
        assert_eq!(MinorStatus::parse("gone"), None);
    }
}
