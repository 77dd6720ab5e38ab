//! Reading the national statistical division files (统计用区划代码):
//! `areas.csv` (`code,name,cityCode,provinceCode`) for county-level
//! districts and `streets.csv` (`code,name,areaCode,provinceCode,cityCode`)
//! for their streets and towns, plus `cities.csv` and `provinces.csv` for
//! names when present.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::TenancyError;

/// A district as the division files describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct District {
    pub code: String,
    pub name: String,
    pub city: Option<String>,
    pub province: Option<String>,
    /// Streets and towns: (9-digit code, name).
    pub streets: Vec<(String, String)>,
}

/// A folder of division files.
#[derive(Clone, Debug)]
pub struct DivisionSource {
    dir: PathBuf,
}

#[derive(Deserialize)]
struct AreaRow {
    code: String,
    name: String,
    #[serde(rename = "cityCode")]
    city_code: String,
    #[serde(rename = "provinceCode")]
    province_code: String,
}

#[derive(Deserialize)]
struct StreetRow {
    code: String,
    name: String,
    #[serde(rename = "areaCode")]
    area_code: String,
}

#[derive(Deserialize)]
struct NamedRow {
    code: String,
    name: String,
}

/// Checks the shape of a district code: six digits, not a province or city
/// code (those end in `00`).
pub fn check_county_code(code: &str) -> Result<(), TenancyError> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TenancyError::MalformedCode(code.to_owned()));
    }
    if code.ends_with("00") {
        return Err(TenancyError::NotCountyLevel(code.to_owned()));
    }
    Ok(())
}

impl DivisionSource {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DivisionSource { dir: dir.into() }
    }

    fn reader(&self, file: &str) -> Result<csv::Reader<std::fs::File>, TenancyError> {
        let path = self.dir.join(file);
        csv::Reader::from_path(&path)
            .map_err(|e| TenancyError::DivisionFiles(format!("{}: {e}", display(&path))))
    }

    fn name_of(&self, file: &str, code: &str) -> Result<Option<String>, TenancyError> {
        if !self.dir.join(file).exists() {
            return Ok(None);
        }
        for row in self.reader(file)?.deserialize::<NamedRow>() {
            let row = row.map_err(|e| TenancyError::DivisionFiles(format!("{file}: {e}")))?;
            if row.code == code {
                return Ok(Some(row.name));
            }
        }
        Ok(None)
    }

    /// Looks a district up, with its streets and towns in code order.
    pub fn district(&self, code: &str) -> Result<District, TenancyError> {
        check_county_code(code)?;
        let mut found = None;
        for row in self.reader("areas.csv")?.deserialize::<AreaRow>() {
            let row = row.map_err(|e| TenancyError::DivisionFiles(format!("areas.csv: {e}")))?;
            if row.code == code {
                found = Some(row);
                break;
            }
        }
        let area = found.ok_or_else(|| TenancyError::UnknownCode(code.to_owned()))?;
        let mut streets = Vec::new();
        for row in self.reader("streets.csv")?.deserialize::<StreetRow>() {
            let row = row.map_err(|e| TenancyError::DivisionFiles(format!("streets.csv: {e}")))?;
            if row.area_code == code {
                streets.push((row.code, row.name));
            }
        }
        streets.sort();
        Ok(District {
            code: area.code,
            name: area.name,
            city: self.name_of("cities.csv", &area.city_code)?,
            province: self.name_of("provinces.csv", &area.province_code)?,
            streets,
        })
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Option<DivisionSource> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/divisions");
        dir.exists().then(|| DivisionSource::new(dir))
    }

    #[test]
    fn county_codes_are_checked() {
        assert!(check_county_code("320506").is_ok());
        assert!(matches!(
            check_county_code("320500"),
            Err(TenancyError::NotCountyLevel(_))
        ));
        assert!(matches!(
            check_county_code("32050"),
            Err(TenancyError::MalformedCode(_))
        ));
        assert!(matches!(
            check_county_code("32050a"),
            Err(TenancyError::MalformedCode(_))
        ));
    }

    #[test]
    fn reads_wuzhong_from_the_reference_files() {
        let Some(source) = shared() else {
            eprintln!("../shared/data/divisions absent; skipped");
            return;
        };
        let d = source.district("320506").expect("吴中区");
        assert_eq!(d.name, "吴中区");
        assert_eq!(d.city.as_deref(), Some("苏州市"));
        assert_eq!(d.province.as_deref(), Some("江苏省"));
        assert!(d
            .streets
            .iter()
            .any(|(c, n)| c == "320506001" && n == "长桥街道"));
        assert!(matches!(
            source.district("320599"),
            Err(TenancyError::UnknownCode(_))
        ));
    }
}
