//! Synthetic minors for demonstrations and benchmarks: realistic, valid and reproducible.
//!
//! A [`Generator`] is seeded; the same seed, district, places, day and set of numbers already
//! taken give the same minors in the same order, so a benchmark can be rerun on the same data
//! and a demo looks the same on every machine. Row ids are not part of that promise: they are
//! made when the rows are written.
//!
//! What "realistic" means here:
//!
//! - Children come in households of one to three siblings who share a community or village,
//!   an address, a place of household registration, an ethnicity and their guardians.
//! - Every resident identity number is valid: the area prefix is the district's own code for
//!   local households and a real county code for the fifth of households that moved in from
//!   elsewhere, the birth date and the sex digit match the record, the check digit is right,
//!   and no number is given twice (nor one of the numbers the caller says are taken).
//! - Ages run from 0 to 17 on the generator's day; school and grade follow from the age as of
//!   the last 1 September.
//! - About one household in twenty is in difficulty, in one or more of the nine categories,
//!   each with the date it was found and who found it; guardians' situations fit them (an
//!   orphan's parent is deceased and a grandparent cares for the child; a child of a prisoner
//!   has a parent imprisoned or in drug rehabilitation). Abandoned children are cared for by
//!   the welfare home and most have no identity document yet, so their records are flagged
//!   for follow-up; so are a few infants not yet registered.
//! - Names are drawn from common surnames (a few compound ones, and the readings that trip
//!   up pinyin sorting: 曾, 单, 解, 仇), with now and then a character outside the basic CJK
//!   block; Uyghur children carry a name with the middle dot `·`.
//!
//! Nothing here touches the database: `RegistryService::write_synthetic` stores what the
//! generator makes, and [`write_csv_header`] / [`write_csv_row`] write it as a spreadsheet
//! with the standard import headers instead.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use chrono::{Datelike, Days, Months, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use crate::age_on;
use crate::idnumber::check_char;
use crate::model::{Category, EconomicStatus, GuardianSituation, Relationship, SexCode};

/// A community or village that minors are placed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub org_unit_id: Uuid,
    /// The community's or village's name, e.g. `长桥第一社区`.
    pub name: String,
    /// The street's or town's name, e.g. `长桥街道`.
    pub street: String,
}

/// What a generator needs to know about the district.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// The district's six-digit division code, the area prefix of local identity numbers.
    pub district_code: String,
    /// The place of household registration of local families, down to the district, e.g.
    /// `江苏省苏州市吴中区`.
    pub district_place: String,
    /// The day ages are counted on (the district's today).
    pub today: NaiveDate,
    /// Where minors live; at least one.
    pub places: Vec<Place>,
}

/// A guardian of a synthetic minor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticGuardian {
    pub name: String,
    pub relationship: Relationship,
    pub phone: Option<String>,
    pub situation: GuardianSituation,
}

/// A difficulty category of a synthetic minor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticCategory {
    pub category: Category,
    pub since: NaiveDate,
    pub source: &'static str,
}

/// One synthetic minor, valid by every rule the registry applies to a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticMinor {
    /// The ordinal of the household in the generator's stream; siblings share it.
    pub household: u64,
    /// The index of the minor's community or village in [`GeneratorConfig::places`].
    pub place: usize,
    pub name: String,
    /// An 18-character resident identity number, or `None` for a child without a document.
    pub document_number: Option<String>,
    pub sex: SexCode,
    pub birth_date: NaiveDate,
    pub ethnicity: String,
    pub hukou_place: String,
    pub address: String,
    pub phone: Option<String>,
    pub school: Option<String>,
    pub grade: Option<String>,
    pub health: Option<String>,
    pub disability_grade: Option<String>,
    pub hiv_status: Option<String>,
    pub economic_status: EconomicStatus,
    pub categories: Vec<SyntheticCategory>,
    pub guardians: Vec<SyntheticGuardian>,
}

/// Surnames with rough weights; the common ones first.
const SURNAMES: &[(&str, u32)] = &[
    ("王", 70),
    ("李", 70),
    ("张", 65),
    ("刘", 55),
    ("陈", 55),
    ("杨", 30),
    ("黄", 25),
    ("赵", 25),
    ("吴", 22),
    ("周", 22),
    ("徐", 20),
    ("孙", 18),
    ("马", 15),
    ("朱", 15),
    ("胡", 14),
    ("郭", 13),
    ("何", 12),
    ("高", 12),
    ("林", 12),
    ("罗", 11),
    ("郑", 11),
    ("梁", 10),
    ("谢", 9),
    ("宋", 8),
    ("唐", 8),
    ("许", 8),
    ("韩", 8),
    ("冯", 7),
    ("邓", 7),
    ("曹", 7),
    ("彭", 6),
    ("曾", 6),
    ("肖", 6),
    ("田", 6),
    ("董", 6),
    ("袁", 5),
    ("潘", 5),
    ("蒋", 5),
    ("蔡", 5),
    ("余", 5),
    ("杜", 5),
    ("叶", 5),
    ("程", 5),
    ("苏", 5),
    ("魏", 5),
    ("吕", 4),
    ("丁", 4),
    ("沈", 4),
    ("姚", 4),
    ("陆", 4),
    ("顾", 4),
    ("钱", 3),
    ("严", 3),
    ("金", 3),
    ("范", 3),
    ("单", 2),
    ("解", 1),
    ("仇", 1),
    ("欧阳", 1),
    ("司马", 1),
    ("上官", 1),
];

const BOY_CHARS: &[&str] = &[
    "浩", "宇", "轩", "子", "涵", "博", "文", "俊", "杰", "睿", "泽", "然", "一", "诚", "明", "辰",
    "逸", "航", "昊", "天", "铭", "晨", "鑫", "磊", "鹏", "志", "强", "伟", "嘉", "豪", "翔", "宸",
    "皓", "洋", "瑞", "昕", "奕", "霖", "恒", "安",
];

const GIRL_CHARS: &[&str] = &[
    "欣", "怡", "梓", "涵", "诗", "雨", "萱", "可", "馨", "语", "嘉", "佳", "琪", "思", "悦", "雅",
    "静", "婷", "美", "晓", "雪", "梦", "琳", "妍", "菲", "彤", "颖", "依", "若", "心", "月", "欢",
    "瑶", "萌", "楠", "晴", "茜", "蕾", "璐", "安",
];

/// Characters outside the basic CJK block that real names use (Extension A and B); they
/// must survive every path a name takes.
const RARE_CHARS: &[&str] = &["䶮", "𠮷", "堃", "𬌗"];

const MAN_CHARS: &[&str] = &[
    "建", "国", "军", "华", "明", "强", "伟", "平", "勇", "林", "峰", "斌", "刚", "波", "东", "海",
    "涛", "亮", "辉", "文", "德", "福", "生", "荣",
];

const WOMAN_CHARS: &[&str] = &[
    "丽", "娟", "芳", "霞", "燕", "红", "敏", "静", "玲", "梅", "琴", "英", "萍", "秀", "兰", "艳",
    "琳", "慧", "娜", "桂", "玉", "凤", "珍", "芬",
];

const UYGHUR_MALE: &[&str] = &[
    "艾力",
    "买买提",
    "阿不都",
    "艾买提",
    "吐尔逊",
    "依明",
    "卡德尔",
    "亚森",
    "热合曼",
    "努尔",
];

const UYGHUR_FEMALE: &[&str] = &[
    "阿依古丽",
    "古丽娜尔",
    "热依拉",
    "米热古丽",
    "帕提古丽",
    "迪丽努尔",
    "阿依努尔",
    "再努尔",
];

/// Where families who moved in come from: (area code, registration place, ethnicities with
/// weights, weight among the migrant families).
type Origin = (
    &'static str,
    &'static str,
    &'static [(&'static str, u32)],
    u32,
);

const MIGRANT_ORIGINS: &[Origin] = &[
    ("341222", "安徽省阜阳市太和县", &[("汉族", 1)], 5),
    ("411625", "河南省周口市郸城县", &[("汉族", 1)], 5),
    ("510722", "四川省绵阳市三台县", &[("汉族", 1)], 4),
    (
        "520526",
        "贵州省毕节市威宁彝族回族苗族自治县",
        &[("汉族", 6), ("彝族", 2), ("回族", 1), ("苗族", 1)],
        3,
    ),
    ("321323", "江苏省宿迁市泗阳县", &[("汉族", 1)], 5),
    ("320382", "江苏省徐州市邳州市", &[("汉族", 1)], 4),
    (
        "433127",
        "湖南省湘西土家族苗族自治州永顺县",
        &[("土家族", 6), ("苗族", 2), ("汉族", 2)],
        2,
    ),
    (
        "450881",
        "广西壮族自治区贵港市桂平市",
        &[("壮族", 6), ("汉族", 4)],
        2,
    ),
    (
        "653101",
        "新疆维吾尔自治区喀什地区喀什市",
        &[("维吾尔族", 1)],
        1,
    ),
];

/// Ethnicities of local families.
const LOCAL_ETHNICITIES: &[(&str, u32)] = &[("汉族", 980), ("回族", 8), ("满族", 6), ("蒙古族", 6)];

const ILLNESSES: &[&str] = &[
    "白血病",
    "先天性心脏病",
    "重型再生障碍性贫血",
    "肾病综合征",
    "1型糖尿病",
    "血友病",
];

const DISABILITIES: &[&str] = &[
    "肢体残疾",
    "智力残疾",
    "听力残疾",
    "视力残疾",
    "孤独症谱系障碍",
    "脑性瘫痪",
];

const DISABILITY_GRADES: &[&str] = &["一级", "二级", "三级", "四级"];

/// The circumstances of a household, which decide its categories and guardians.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Circumstance {
    Ordinary,
    Orphaned,
    ParentDetained,
    Unsupported,
    Poor,
    Abused,
    Trafficked,
    StreetBegging,
    Hiv,
    Abandoned,
}

/// Households in difficulty, with weights; the rest (about 95 in 100) are ordinary.
const DIFFICULT: &[(Circumstance, u32)] = &[
    (Circumstance::Poor, 45),
    (Circumstance::Unsupported, 18),
    (Circumstance::ParentDetained, 12),
    (Circumstance::Orphaned, 7),
    (Circumstance::Abused, 6),
    (Circumstance::StreetBegging, 3),
    (Circumstance::Trafficked, 2),
    (Circumstance::Hiv, 2),
    (Circumstance::Abandoned, 5),
];

/// Households in difficulty per 10,000.
const DIFFICULT_PER_10K: u32 = 500;

/// Picks from a weighted table.
fn pick<'a, T>(rng: &mut ChaCha8Rng, table: &'a [(T, u32)]) -> &'a T {
    let total: u32 = table.iter().map(|(_, w)| *w).sum();
    let mut roll = rng.gen_range(0..total);
    for (item, weight) in table {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    // The roll is below the total, so the loop always returns; the last item stands in.
    &table[table.len() - 1].0
}

/// Picks one of a list, uniformly.
fn one<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

/// What the siblings of one household share.
struct Household {
    ordinal: u64,
    place: usize,
    address: String,
    hukou_place: String,
    area_code: String,
    ethnicity: &'static str,
    surname: String,
    /// The father's given name, which Uyghur children carry after the dot.
    father_given: String,
    circumstance: Circumstance,
    economic_status: EconomicStatus,
    guardians: Vec<SyntheticGuardian>,
}

/// A seeded stream of synthetic minors; see the module documentation.
pub struct Generator {
    rng: ChaCha8Rng,
    config: GeneratorConfig,
    /// How strongly each place attracts households, so that places differ in size.
    place_weights: Vec<(usize, u32)>,
    /// Numbers that must not be given: those already registered, and those given so far.
    taken: HashSet<String>,
    /// The next sequence index per (area code, birth date, sex), and the offset it started at.
    sequences: HashMap<(String, NaiveDate, bool), (u32, u32)>,
    /// Minors of the current household still to hand out, last first.
    pending: Vec<SyntheticMinor>,
    households: u64,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("seed", &self.config.seed)
            .field("households", &self.households)
            .finish_non_exhaustive()
    }
}

/// The first day a minor can be born on to be at most 17 on `today`.
fn earliest_birth(today: NaiveDate) -> NaiveDate {
    today
        .checked_sub_months(Months::new(18 * 12))
        .and_then(|d| d.succ_opt())
        .unwrap_or(today)
}

/// School and grade for a child of this age on the last 1 September (the school year).
fn school_and_grade(age_at_term: u32, street_short: &str) -> (Option<String>, Option<String>) {
    const KINDERGARTEN: [&str; 3] = ["小班", "中班", "大班"];
    const PRIMARY: [&str; 6] = ["一年级", "二年级", "三年级", "四年级", "五年级", "六年级"];
    const MIDDLE: [&str; 3] = ["七年级", "八年级", "九年级"];
    const HIGH: [&str; 3] = ["高一", "高二", "高三"];
    let at = |list: &[&str], i: u32| list.get(i as usize).map(|g| (*g).to_owned());
    match age_at_term {
        0..=2 => (None, None),
        3..=5 => (
            Some(format!("{street_short}中心幼儿园")),
            at(&KINDERGARTEN, age_at_term - 3),
        ),
        6..=11 => (
            Some(format!("{street_short}中心小学")),
            at(&PRIMARY, age_at_term - 6),
        ),
        12..=14 => (
            Some(format!("{street_short}实验初级中学")),
            at(&MIDDLE, age_at_term - 12),
        ),
        _ => (
            Some(format!("{street_short}高级中学")),
            at(&HIGH, (age_at_term - 15).min(2)),
        ),
    }
}

/// The last 1 September on or before `today`.
fn term_start(today: NaiveDate) -> NaiveDate {
    let this_year = NaiveDate::from_ymd_opt(today.year(), 9, 1).unwrap_or(today);
    if this_year <= today {
        this_year
    } else {
        NaiveDate::from_ymd_opt(today.year() - 1, 9, 1).unwrap_or(today)
    }
}

/// A place name without its administrative suffix: `长桥街道` → `长桥`, `木渎镇` → `木渎`.
fn short_name(name: &str) -> &str {
    for suffix in ["街道", "镇", "乡", "社区", "村"] {
        if let Some(short) = name.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            return short;
        }
    }
    name
}

impl Generator {
    /// A generator over `config.places`; `taken` are resident identity numbers it must not
    /// give (those the district has already registered).
    ///
    /// # Panics
    ///
    /// Never for a config built by the registry; an empty `places` list is refused by the
    /// caller, which has an error to report it with.
    pub fn new(config: GeneratorConfig, taken: HashSet<String>) -> Generator {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        // Places differ in size: weights between 1 and 3, drawn from the seed.
        let place_weights = (0..config.places.len())
            .map(|i| (i, rng.gen_range(10..=30)))
            .collect();
        Generator {
            rng,
            config,
            place_weights,
            taken,
            sequences: HashMap::new(),
            pending: Vec::new(),
            households: 0,
        }
    }

    /// The configuration the generator was made with.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The next `n` minors (fewer only if the places are empty).
    pub fn take_batch(&mut self, n: usize) -> Vec<SyntheticMinor> {
        self.by_ref().take(n).collect()
    }

    fn phone(&mut self) -> String {
        const PREFIXES: [&str; 12] = [
            "130", "133", "135", "136", "137", "138", "139", "150", "151", "158", "180", "189",
        ];
        let prefix = PREFIXES[self.rng.gen_range(0..PREFIXES.len())];
        format!("{prefix}{:08}", self.rng.gen_range(0..100_000_000u32))
    }

    fn given(&mut self, pool: &[&str], length: usize) -> String {
        let mut out = String::new();
        for _ in 0..length {
            // About one name in 250 has a character outside the basic CJK block.
            if self.rng.gen_ratio(1, 500) {
                out.push_str(one(&mut self.rng, RARE_CHARS));
            } else {
                out.push_str(one(&mut self.rng, pool));
            }
        }
        out
    }

    fn adult_name(&mut self, surname: &str, male: bool, uyghur: bool) -> String {
        if uyghur {
            let pool = if male { UYGHUR_MALE } else { UYGHUR_FEMALE };
            let given = one(&mut self.rng, pool);
            let father = one(&mut self.rng, UYGHUR_MALE);
            return format!("{given}\u{B7}{father}");
        }
        let pool = if male { MAN_CHARS } else { WOMAN_CHARS };
        let length = if self.rng.gen_ratio(1, 3) { 1 } else { 2 };
        let given = self.given(pool, length);
        format!("{surname}{given}")
    }

    fn surname(&mut self) -> String {
        (*pick(&mut self.rng, SURNAMES)).to_owned()
    }

    /// A valid 18-digit number for this area, birth date and sex that is not taken, trying the
    /// migrants' areas in turn should this one have no sequence number left for the day.
    fn resident_id(&mut self, area: &str, birth: NaiveDate, sex: SexCode) -> Option<String> {
        let male = sex == SexCode::Male;
        let areas: Vec<String> = std::iter::once(area.to_owned())
            .chain(MIGRANT_ORIGINS.iter().map(|o| o.0.to_owned()))
            .collect();
        for area in areas {
            let key = (area.clone(), birth, male);
            let offset = match self.sequences.get(&key) {
                Some(&(_, offset)) => offset,
                None => self.rng.gen_range(0..500),
            };
            let mut next = self.sequences.get(&key).map_or(0, |s| s.0);
            // 500 sequence numbers per day and sex; stepping by 7 (coprime with 500) visits
            // each once, in an order that does not look like a counter.
            while next < 500 {
                let index = (offset + next * 7) % 500;
                next += 1;
                let sequence = index * 2 + u32::from(male);
                let mut number = format!("{area}{}{sequence:03}", birth.format("%Y%m%d"));
                let check = check_char(number.as_bytes());
                number.push(char::from(check));
                if self.taken.insert(number.clone()) {
                    self.sequences.insert(key, (next, offset));
                    return Some(number);
                }
            }
            self.sequences.insert(key, (next, offset));
        }
        None
    }

    fn new_household(&mut self) -> Household {
        let ordinal = self.households;
        self.households += 1;
        let place = *pick(&mut self.rng, &self.place_weights);
        let place_name = self.config.places[place].name.clone();
        let address = if place_name.ends_with('村') {
            format!(
                "{place_name}{}组{}号",
                self.rng.gen_range(1..=15),
                self.rng.gen_range(1..=80)
            )
        } else {
            format!(
                "{place_name}{}幢{}0{}室",
                self.rng.gen_range(1..=40),
                self.rng.gen_range(1..=18),
                self.rng.gen_range(1..=4)
            )
        };
        let (area_code, hukou_place, ethnicity) = if self.rng.gen_ratio(4, 5) {
            let street = self.config.places[place].street.clone();
            (
                self.config.district_code.clone(),
                format!("{}{street}", self.config.district_place),
                *pick(&mut self.rng, LOCAL_ETHNICITIES),
            )
        } else {
            let weighted: Vec<(usize, u32)> = MIGRANT_ORIGINS
                .iter()
                .enumerate()
                .map(|(i, o)| (i, o.3))
                .collect();
            let origin = &MIGRANT_ORIGINS[*pick(&mut self.rng, &weighted)];
            let ethnicity = *pick(&mut self.rng, origin.2);
            (origin.0.to_owned(), origin.1.to_owned(), ethnicity)
        };
        let circumstance = if self.rng.gen_range(0..10_000) < DIFFICULT_PER_10K {
            *pick(&mut self.rng, DIFFICULT)
        } else {
            Circumstance::Ordinary
        };
        let uyghur = ethnicity == "维吾尔族";
        let surname = self.surname();
        let father_given = if uyghur {
            one(&mut self.rng, UYGHUR_MALE).to_owned()
        } else {
            String::new()
        };
        let mut household = Household {
            ordinal,
            place,
            address,
            hukou_place,
            area_code,
            ethnicity,
            surname,
            father_given,
            circumstance,
            economic_status: EconomicStatus::None,
            guardians: Vec::new(),
        };
        self.guardians_and_means(&mut household);
        household
    }

    /// Guardians and economic status that fit the household's circumstances.
    fn guardians_and_means(&mut self, h: &mut Household) {
        use GuardianSituation as S;
        use Relationship as R;
        let uyghur = h.ethnicity == "维吾尔族";
        let father = if uyghur {
            format!(
                "{}\u{B7}{}",
                h.father_given,
                one(&mut self.rng, UYGHUR_MALE)
            )
        } else {
            self.adult_name(&h.surname.clone(), true, false)
        };
        let mother_surname = self.surname();
        let mother = self.adult_name(&mother_surname, false, uyghur);
        let grandfather = self.rng.gen_bool(0.5);
        let grandparent = self.adult_name(&h.surname.clone(), grandfather, uyghur);
        let guardian = |g: &mut Generator, name: &str, rel: R, situation: S| {
            let phone = match situation {
                S::Deceased | S::Imprisoned | S::DrugRehab | S::Missing => None,
                _ => Some(g.phone()),
            };
            SyntheticGuardian {
                name: name.to_owned(),
                relationship: rel,
                phone,
                situation,
            }
        };
        let poorer = |g: &mut Generator| {
            *pick(
                &mut g.rng,
                &[
                    (EconomicStatus::Dibao, 45),
                    (EconomicStatus::DibaoEdge, 30),
                    (EconomicStatus::Tekun, 25),
                ],
            )
        };
        let (guardians, economic) = match h.circumstance {
            Circumstance::Ordinary => {
                let roll = self.rng.gen_range(0..100);
                let guardians = if roll < 70 {
                    vec![
                        guardian(self, &father, R::Father, S::Present),
                        guardian(self, &mother, R::Mother, S::Present),
                    ]
                } else if roll < 82 {
                    vec![
                        guardian(self, &mother, R::Mother, S::Present),
                        guardian(self, &father, R::Father, S::WorkingAway),
                    ]
                } else if roll < 90 {
                    // Left behind: both parents work away; a grandparent cares.
                    vec![
                        guardian(self, &grandparent, R::Grandparent, S::Present),
                        guardian(self, &father, R::Father, S::WorkingAway),
                    ]
                } else if roll < 96 {
                    vec![guardian(self, &mother, R::Mother, S::Present)]
                } else {
                    vec![guardian(self, &father, R::Father, S::Present)]
                };
                let economic = match self.rng.gen_range(0..100) {
                    0..=1 => EconomicStatus::Dibao,
                    2..=3 => EconomicStatus::DibaoEdge,
                    _ => EconomicStatus::None,
                };
                (guardians, economic)
            }
            Circumstance::Orphaned => {
                let carer = if self.rng.gen_ratio(3, 4) {
                    guardian(self, &grandparent, R::Grandparent, S::Present)
                } else {
                    let uncle = self.adult_name(&h.surname.clone(), true, uyghur);
                    guardian(self, &uncle, R::Relative, S::Present)
                };
                let deceased = guardian(self, &father, R::Father, S::Deceased);
                let economic = if self.rng.gen_ratio(3, 5) {
                    EconomicStatus::Tekun
                } else {
                    EconomicStatus::Dibao
                };
                (vec![carer, deceased], economic)
            }
            Circumstance::ParentDetained => {
                let situation = if self.rng.gen_ratio(7, 10) {
                    S::Imprisoned
                } else {
                    S::DrugRehab
                };
                let detained = if self.rng.gen_ratio(4, 5) {
                    guardian(self, &father, R::Father, situation)
                } else {
                    guardian(self, &mother, R::Mother, situation)
                };
                let carer = if detained.relationship == R::Father && self.rng.gen_ratio(3, 5) {
                    guardian(self, &mother, R::Mother, S::Present)
                } else {
                    guardian(self, &grandparent, R::Grandparent, S::Present)
                };
                let economic = if self.rng.gen_bool(0.5) {
                    poorer(self)
                } else {
                    EconomicStatus::None
                };
                (vec![carer, detained], economic)
            }
            Circumstance::Unsupported => {
                // 事实无人抚养: neither parent can care (one missing, the other deceased, ill,
                // or missing too); a grandparent does.
                let situation = *pick(
                    &mut self.rng,
                    &[(S::Missing, 4), (S::IllOrDisabled, 3), (S::Deceased, 3)],
                );
                let parent = guardian(self, &father, R::Father, situation);
                let carer = guardian(self, &grandparent, R::Grandparent, S::Present);
                (vec![carer, parent], poorer(self))
            }
            Circumstance::Poor => {
                let father_situation = if self.rng.gen_ratio(1, 4) {
                    S::IllOrDisabled
                } else {
                    S::Present
                };
                (
                    vec![
                        guardian(self, &mother, R::Mother, S::Present),
                        guardian(self, &father, R::Father, father_situation),
                    ],
                    poorer(self),
                )
            }
            Circumstance::Abused | Circumstance::Trafficked => (
                vec![
                    guardian(self, &mother, R::Mother, S::Present),
                    guardian(self, &father, R::Father, S::Present),
                ],
                EconomicStatus::None,
            ),
            Circumstance::StreetBegging => {
                let uncle = self.adult_name(&h.surname.clone(), true, uyghur);
                (
                    vec![
                        guardian(self, &uncle, R::Relative, S::Present),
                        guardian(self, &father, R::Father, S::Missing),
                    ],
                    EconomicStatus::Dibao,
                )
            }
            Circumstance::Hiv => (
                vec![
                    guardian(self, &father, R::Father, S::Present),
                    guardian(self, &mother, R::Mother, S::IllOrDisabled),
                ],
                EconomicStatus::Dibao,
            ),
            Circumstance::Abandoned => {
                // The welfare home is the guardian of a child whose parents are unknown.
                let home = format!("{}儿童福利院", short_name(&self.config.district_place));
                (
                    vec![guardian(self, &home, R::Other, S::Present)],
                    EconomicStatus::Tekun,
                )
            }
        };
        h.guardians = guardians;
        h.economic_status = economic;
    }

    /// A date a finding was made: between `from` and today, more often recent.
    fn found_since(&mut self, from: NaiveDate) -> NaiveDate {
        let today = self.config.today;
        let span = (today - from).num_days().clamp(0, 5 * 365);
        let back = self.rng.gen_range(0..=span);
        today
            .checked_sub_days(Days::new(u64::try_from(back).unwrap_or(0)))
            .unwrap_or(today)
            .max(from)
    }

    fn category(&mut self, category: Category, birth: NaiveDate) -> SyntheticCategory {
        let sources: &[&'static str] = match category {
            Category::Orphan => &["民政部门认定"],
            Category::Abandoned => &["公安机关移交"],
            Category::StreetBegging => &["救助管理站"],
            Category::Hiv => &["疾控中心通报"],
            Category::Trafficked => &["公安机关解救"],
            Category::ParentDetained => &["司法行政机关通报", "公安机关通报"],
            Category::Abused => &["强制报告", "公安机关通报", "学校报告"],
            Category::DeFactoUnsupported => &["入户核查", "村（居）委会摸排"],
            Category::IllDisabledPoor => &["入户核查", "残联认定", "医保部门通报"],
        };
        let source = sources[self.rng.gen_range(0..sources.len())];
        let since = if category == Category::Abandoned {
            // Found within a month of birth.
            let days = self.rng.gen_range(0..30);
            birth
                .checked_add_days(Days::new(days))
                .unwrap_or(birth)
                .min(self.config.today)
        } else {
            self.found_since(birth)
        };
        SyntheticCategory {
            category,
            since,
            source,
        }
    }

    /// Fills `pending` with the children of a new household.
    fn next_household(&mut self) {
        let h = self.new_household();
        let today = self.config.today;
        let earliest = earliest_birth(today);
        let span = (today - earliest).num_days().max(0);
        let mut births = Vec::new();
        let first = if h.circumstance == Circumstance::Abandoned {
            // Abandoned children are mostly found as infants and registered young.
            let back = self.rng.gen_range(0..=span.min(6 * 365));
            today - chrono::Duration::days(back)
        } else {
            today - chrono::Duration::days(self.rng.gen_range(0..=span))
        };
        births.push(first);
        if h.circumstance != Circumstance::Abandoned {
            let siblings = *pick(&mut self.rng, &[(0usize, 55), (1, 38), (2, 7)]);
            let mut last = first;
            for _ in 0..siblings {
                let gap = self.rng.gen_range(365..=6 * 365);
                let next = last + chrono::Duration::days(gap);
                if next > today {
                    break;
                }
                births.push(next);
                last = next;
            }
        }
        // Individual circumstances concern one child of the household.
        let concerned = self.rng.gen_range(0..births.len());
        let street_short = short_name(&self.config.places[h.place].street).to_owned();
        let term = term_start(today);
        let mut children = Vec::with_capacity(births.len());
        for (index, birth) in births.into_iter().enumerate() {
            let sex = if self.rng.gen_ratio(52, 100) {
                SexCode::Male
            } else {
                SexCode::Female
            };
            children.push(self.child(&h, index == concerned, birth, sex, &street_short, term));
        }
        // Handed out first child first.
        children.reverse();
        self.pending = children;
    }

    fn child(
        &mut self,
        h: &Household,
        concerned: bool,
        birth: NaiveDate,
        sex: SexCode,
        street_short: &str,
        term: NaiveDate,
    ) -> SyntheticMinor {
        let today = self.config.today;
        let male = sex == SexCode::Male;
        let uyghur = h.ethnicity == "维吾尔族";
        let name = if uyghur {
            let pool = if male { UYGHUR_MALE } else { UYGHUR_FEMALE };
            format!("{}\u{B7}{}", one(&mut self.rng, pool), h.father_given)
        } else if h.circumstance == Circumstance::Abandoned && self.rng.gen_bool(0.5) {
            // Welfare homes often give foundlings the surname 党 or 国.
            let surname = if self.rng.gen_bool(0.5) { "党" } else { "国" };
            let pool = if male { BOY_CHARS } else { GIRL_CHARS };
            format!("{surname}{}", self.given(pool, 2))
        } else {
            let pool = if male { BOY_CHARS } else { GIRL_CHARS };
            let length = if self.rng.gen_ratio(1, 6) { 1 } else { 2 };
            format!("{}{}", h.surname, self.given(pool, length))
        };
        let age = age_on(birth, today);
        let infant_unregistered = age == 0 && self.rng.gen_ratio(1, 20);
        let undocumented = match h.circumstance {
            Circumstance::Abandoned => self.rng.gen_ratio(4, 5),
            _ => infant_unregistered,
        };
        let document_number = if undocumented {
            None
        } else {
            self.resident_id(&h.area_code, birth, sex)
        };
        let (school, grade) = school_and_grade(age_on(birth, term), street_short);
        let phone = (age >= 13 && self.rng.gen_ratio(1, 4)).then(|| self.phone());
        let mut health = None;
        let mut disability_grade = None;
        let mut hiv_status = None;
        let mut categories = Vec::new();
        match h.circumstance {
            Circumstance::Ordinary => {}
            Circumstance::Orphaned => categories.push(self.category(Category::Orphan, birth)),
            Circumstance::ParentDetained => {
                categories.push(self.category(Category::ParentDetained, birth));
                // With the other parent gone too, the child is also de facto unsupported.
                if h.guardians[0].relationship == Relationship::Grandparent {
                    categories.push(self.category(Category::DeFactoUnsupported, birth));
                }
            }
            Circumstance::Unsupported => {
                categories.push(self.category(Category::DeFactoUnsupported, birth))
            }
            Circumstance::Poor => categories.push(self.category(Category::IllDisabledPoor, birth)),
            Circumstance::Abused if concerned => {
                categories.push(self.category(Category::Abused, birth))
            }
            Circumstance::Trafficked if concerned => {
                categories.push(self.category(Category::Trafficked, birth))
            }
            Circumstance::StreetBegging if concerned => {
                categories.push(self.category(Category::StreetBegging, birth))
            }
            Circumstance::Hiv if concerned => {
                categories.push(self.category(Category::Hiv, birth));
                hiv_status = Some("阳性".to_owned());
                health = Some("艾滋病病毒感染，规律服药".to_owned());
            }
            Circumstance::Abandoned => categories.push(self.category(Category::Abandoned, birth)),
            Circumstance::Abused
            | Circumstance::Trafficked
            | Circumstance::StreetBegging
            | Circumstance::Hiv => {}
        }
        // Serious illness or disability: the poor household's concerned child, and now and
        // then a child of another household in difficulty (who then counts as ill or disabled
        // of a poor family too).
        let ill = match h.circumstance {
            Circumstance::Poor => concerned && self.rng.gen_bool(0.6),
            Circumstance::Ordinary => false,
            _ => self.rng.gen_ratio(1, 10),
        };
        if ill && hiv_status.is_none() {
            if self.rng.gen_bool(0.5) {
                health = Some(one(&mut self.rng, ILLNESSES).to_owned());
            } else {
                health = Some(one(&mut self.rng, DISABILITIES).to_owned());
                disability_grade = Some(one(&mut self.rng, DISABILITY_GRADES).to_owned());
            }
            if !categories
                .iter()
                .any(|c| c.category == Category::IllDisabledPoor)
            {
                categories.push(self.category(Category::IllDisabledPoor, birth));
            }
        }
        SyntheticMinor {
            household: h.ordinal,
            place: h.place,
            name,
            document_number,
            sex,
            birth_date: birth,
            ethnicity: h.ethnicity.to_owned(),
            hukou_place: h.hukou_place.clone(),
            address: h.address.clone(),
            phone,
            school,
            grade,
            health,
            disability_grade,
            hiv_status,
            economic_status: h.economic_status,
            categories,
            guardians: h.guardians.clone(),
        }
    }
}

impl Iterator for Generator {
    type Item = SyntheticMinor;

    fn next(&mut self) -> Option<SyntheticMinor> {
        if self.config.places.is_empty() {
            return None;
        }
        if self.pending.is_empty() {
            self.next_household();
        }
        self.pending.pop()
    }
}

/// The header of a generated spreadsheet: the standard import headers (see
/// `sheet_in::STANDARD_HEADERS`), so that `shouhu import minors` reads it without a mapping.
pub const CSV_HEADERS: &[&str] = &[
    "姓名",
    "证件类型",
    "公民身份号码",
    "性别",
    "出生日期",
    "民族",
    "户籍地",
    "所在社区",
    "现住址",
    "联系电话",
    "学校",
    "年级",
    "健康状况",
    "残疾等级",
    "家庭经济状况",
    "困境类型",
    "困境认定日期",
    "认定来源",
    "监护人姓名",
    "与监护人关系",
    "监护人电话",
    "监护情况",
    "状态",
];

/// Several values in one cell (categories, with their dates and sources in the same order)
/// are joined with the ideographic enumeration comma, as Chinese forms list them.
pub const LIST_SEPARATOR: &str = "、";

/// Writes [`CSV_HEADERS`].
pub fn write_csv_header<W: Write>(out: &mut csv::Writer<W>) -> csv::Result<()> {
    out.write_record(CSV_HEADERS)
}

/// Writes one minor as a row under [`CSV_HEADERS`], with its first guardian (the one who
/// cares for the child day to day; a spreadsheet row has room for one).
pub fn write_csv_row<W: Write>(
    out: &mut csv::Writer<W>,
    minor: &SyntheticMinor,
    places: &[Place],
) -> csv::Result<()> {
    let join = |values: Vec<String>| values.join(LIST_SEPARATOR);
    let guardian = minor.guardians.first();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let record = [
        minor.name.clone(),
        if minor.document_number.is_some() {
            "居民身份证".to_owned()
        } else {
            String::new()
        },
        text(&minor.document_number),
        minor.sex.label_zh().to_owned(),
        minor.birth_date.to_string(),
        minor.ethnicity.clone(),
        minor.hukou_place.clone(),
        places
            .get(minor.place)
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        minor.address.clone(),
        text(&minor.phone),
        text(&minor.school),
        text(&minor.grade),
        text(&minor.health),
        text(&minor.disability_grade),
        minor.economic_status.label_zh().to_owned(),
        join(
            minor
                .categories
                .iter()
                .map(|c| c.category.label_zh().to_owned())
                .collect(),
        ),
        join(
            minor
                .categories
                .iter()
                .map(|c| c.since.to_string())
                .collect(),
        ),
        join(
            minor
                .categories
                .iter()
                .map(|c| c.source.to_owned())
                .collect(),
        ),
        guardian.map(|g| g.name.clone()).unwrap_or_default(),
        guardian
            .map(|g| g.relationship.label_zh().to_owned())
            .unwrap_or_default(),
        guardian.and_then(|g| g.phone.clone()).unwrap_or_default(),
        guardian
            .map(|g| g.situation.label_zh().to_owned())
            .unwrap_or_default(),
        "在册".to_owned(),
    ];
    out.write_record(&record)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{canonical_field, check_matches, normalise_name, parse_resident_id, Sex};

    fn places(n: usize) -> Vec<Place> {
        (0..n)
            .map(|i| Place {
                org_unit_id: Uuid::from_u128(i as u128 + 1),
                name: if i % 3 == 2 {
                    format!("测试{i}村")
                } else {
                    format!("测试第{i}社区")
                },
                street: format!("街道{}街道", i / 3),
            })
            .collect()
    }

    fn config(seed: u64) -> GeneratorConfig {
        GeneratorConfig {
            seed,
            district_code: "320506".into(),
            district_place: "江苏省苏州市吴中区".into(),
            today: NaiveDate::from_ymd_opt(2026, 12, 3).expect("date"),
            places: places(12),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_minors() {
        let a = Generator::new(config(7), HashSet::new()).take_batch(2_000);
        let b = Generator::new(config(7), HashSet::new()).take_batch(2_000);
        assert_eq!(a, b);
        let c = Generator::new(config(8), HashSet::new()).take_batch(2_000);
        assert_ne!(a, c);
        // Taking in batches gives the same stream as taking at once.
        let mut g = Generator::new(config(7), HashSet::new());
        let mut batched = g.take_batch(500);
        batched.extend(g.take_batch(1_500));
        assert_eq!(a, batched);
    }

    #[test]
    fn every_minor_passes_the_registry_rules() {
        let cfg = config(42);
        let today = cfg.today;
        let earliest = earliest_birth(today);
        let minors = Generator::new(cfg, HashSet::new()).take_batch(20_000);
        let mut numbers = HashSet::new();
        let mut undocumented = 0;
        let mut dotted = 0;
        let mut local = 0;
        for m in &minors {
            assert_eq!(normalise_name(&m.name).as_deref(), Ok(m.name.as_str()));
            dotted += usize::from(m.name.contains('\u{B7}'));
            assert!(m.birth_date <= today && m.birth_date >= earliest, "{m:?}");
            assert!(age_on(m.birth_date, today) <= 17);
            match &m.document_number {
                Some(number) => {
                    let id = parse_resident_id(number, today).expect("a valid number");
                    assert_eq!(&id.number, number);
                    let sex = match m.sex {
                        SexCode::Male => Sex::Male,
                        SexCode::Female => Sex::Female,
                    };
                    check_matches(&id, Some(m.birth_date), Some(sex)).expect("matches");
                    assert!(numbers.insert(number.clone()), "{number} given twice");
                    local += usize::from(id.area_code == "320506");
                }
                None => undocumented += 1,
            }
            assert!((1..=2).contains(&m.guardians.len()), "{m:?}");
            for g in &m.guardians {
                assert_eq!(normalise_name(&g.name).as_deref(), Ok(g.name.as_str()));
            }
            let mut seen = HashSet::new();
            for c in &m.categories {
                assert!(seen.insert(c.category), "{m:?}");
                assert!(c.since >= m.birth_date && c.since <= today, "{m:?}");
                assert!(!c.source.is_empty());
            }
            let age_at_term = age_on(m.birth_date, term_start(today));
            assert_eq!(m.school.is_some(), age_at_term >= 3, "{m:?}");
            if (6..=11).contains(&age_at_term) {
                assert!(m.school.as_deref().is_some_and(|s| s.ends_with("小学")));
            }
        }
        assert!(undocumented > 0, "some minors have no document");
        assert!(dotted > 0, "some names carry the middle dot");
        // About four households in five are local.
        assert!(
            local * 10 > minors.len() * 7,
            "{local} local of {}",
            minors.len()
        );
    }

    #[test]
    fn circumstances_and_guardians_agree() {
        let minors = Generator::new(config(3), HashSet::new()).take_batch(30_000);
        let mut by_category: BTreeMap<Category, usize> = BTreeMap::new();
        for m in &minors {
            for c in &m.categories {
                *by_category.entry(c.category).or_default() += 1;
            }
            let has = |c: Category| m.categories.iter().any(|x| x.category == c);
            let situation = |s: GuardianSituation| m.guardians.iter().any(|g| g.situation == s);
            if has(Category::Orphan) {
                assert!(situation(GuardianSituation::Deceased), "{m:?}");
                assert!(!m.guardians.iter().any(|g| {
                    matches!(g.relationship, Relationship::Father | Relationship::Mother)
                        && g.situation == GuardianSituation::Present
                }));
            }
            if has(Category::ParentDetained) {
                assert!(
                    situation(GuardianSituation::Imprisoned)
                        || situation(GuardianSituation::DrugRehab),
                    "{m:?}"
                );
            }
            if has(Category::Hiv) {
                assert_eq!(m.hiv_status.as_deref(), Some("阳性"));
            } else {
                assert_eq!(m.hiv_status, None);
            }
            if has(Category::Abandoned) {
                assert_eq!(m.guardians[0].relationship, Relationship::Other);
            }
            if m.categories.is_empty() {
                assert!(!situation(GuardianSituation::Imprisoned), "{m:?}");
            }
            // Someone cares for every child.
            assert!(
                situation(GuardianSituation::Present),
                "nobody present for {m:?}"
            );
        }
        // Every category occurs, and difficulty stays a small share of the district.
        assert_eq!(by_category.len(), 9, "{by_category:?}");
        let in_difficulty = minors.iter().filter(|m| !m.categories.is_empty()).count();
        assert!(
            in_difficulty * 100 > minors.len() * 2 && in_difficulty * 100 < minors.len() * 12,
            "{in_difficulty} of {}",
            minors.len()
        );
    }

    #[test]
    fn minors_spread_over_every_place() {
        let cfg = config(11);
        let n_places = cfg.places.len();
        let minors = Generator::new(cfg, HashSet::new()).take_batch(12_000);
        let mut per_place = vec![0usize; n_places];
        for m in &minors {
            per_place[m.place] += 1;
        }
        let mean = minors.len() / n_places;
        for (i, count) in per_place.iter().enumerate() {
            // Weights run from 1 to 3, so no place gets less than a fifth of the mean or more
            // than three times it.
            assert!(
                *count > mean / 5 && *count < mean * 3,
                "place {i}: {count} (mean {mean})"
            );
        }
        // Siblings share the household's place and address.
        let mut households: HashMap<u64, (usize, String)> = HashMap::new();
        for m in &minors {
            let entry = households
                .entry(m.household)
                .or_insert((m.place, m.address.clone()));
            assert_eq!(entry, &(m.place, m.address.clone()));
        }
        assert!(
            households.len() < minors.len(),
            "some households have siblings"
        );
    }

    #[test]
    fn taken_numbers_are_not_given_again() {
        let first = Generator::new(config(5), HashSet::new()).take_batch(3_000);
        let taken: HashSet<String> = first
            .iter()
            .filter_map(|m| m.document_number.clone())
            .collect();
        let again = Generator::new(config(5), taken.clone()).take_batch(3_000);
        for m in &again {
            if let Some(number) = &m.document_number {
                assert!(!taken.contains(number), "{number} was taken");
            }
        }
    }

    #[test]
    fn an_empty_district_gives_nothing() {
        let mut cfg = config(1);
        cfg.places.clear();
        assert!(Generator::new(cfg, HashSet::new()).next().is_none());
    }

    #[test]
    fn csv_rows_use_the_standard_headers() {
        for header in CSV_HEADERS {
            assert!(
                canonical_field(header).is_some(),
                "{header} is not standard"
            );
        }
        let cfg = config(9);
        let places = cfg.places.clone();
        let minors = Generator::new(cfg, HashSet::new()).take_batch(200);
        let mut out = csv::Writer::from_writer(Vec::new());
        write_csv_header(&mut out).expect("header");
        for m in &minors {
            write_csv_row(&mut out, m, &places).expect("row");
        }
        let bytes = out.into_inner().expect("flushed");
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let headers = reader.headers().expect("headers").clone();
        assert_eq!(headers.len(), CSV_HEADERS.len());
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), minors.len());
        let column = |name: &str| CSV_HEADERS.iter().position(|h| *h == name).expect(name);
        for (row, m) in rows.iter().zip(&minors) {
            assert_eq!(&row[column("姓名")], m.name);
            assert_eq!(
                &row[column("公民身份号码")],
                m.document_number.as_deref().unwrap_or("")
            );
            assert_eq!(&row[column("出生日期")], m.birth_date.to_string());
            assert_eq!(&row[column("所在社区")], places[m.place].name);
            let labels: Vec<&str> = row[column("困境类型")]
                .split(LIST_SEPARATOR)
                .filter(|s| !s.is_empty())
                .collect();
            let expected: Vec<&str> = m.categories.iter().map(|c| c.category.label_zh()).collect();
            assert_eq!(labels, expected);
        }
    }
}
