//! The plugin manifest: what a plugin is, which extension point it serves,
//! the data it asks for and the limits its calls run under.
//!
//! A manifest is TOML or JSON with the same fields. Limits a manifest leaves
//! out take the defaults below; a limit above the platform's ceiling is
//! refused rather than lowered, so an author never gets less than they
//! asked for without being told.

use serde::{Deserialize, Serialize};

use crate::PluginError;

/// The ABIs this host speaks. Both are WASI preview 1 commands: ABI 1
/// reads one JSON document on stdin and writes one on stdout, for every
/// extension point; ABI 2 carries the minors and decisions of
/// `assistance-eligibility` as fixed-size records (see [`crate::eligibility`]).
pub const ABI_VERSIONS: [u32; 2] = [1, 2];

/// The extension points a plugin can serve.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Decides, for one minor or a batch, whether a local programme applies.
    AssistanceEligibility,
    /// Ranks caring families for a child and explains each rank.
    FamilyMatching,
}

impl Kind {
    pub const ALL: &'static [Kind] = &[Kind::AssistanceEligibility, Kind::FamilyMatching];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AssistanceEligibility => "assistance-eligibility",
            Kind::FamilyMatching => "family-matching",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

/// Per-call limits. Every field is a ceiling for one call.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Instructions, in wasmtime fuel units (about one per simple operator).
    pub fuel: u64,
    /// Linear memory, in MiB.
    pub memory_mib: u32,
    /// Wall-clock time, in milliseconds.
    pub timeout_ms: u64,
    /// The JSON document on stdin, in bytes.
    pub max_input_bytes: usize,
    /// The JSON document on stdout, in bytes.
    pub max_output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 200_000_000,
            memory_mib: 32,
            timeout_ms: 1_000,
            max_input_bytes: 1 << 20,
            max_output_bytes: 256 << 10,
        }
    }
}

/// The platform's ceilings: a manifest may ask for less, never for more.
pub const MAX_LIMITS: Limits = Limits {
    fuel: 10_000_000_000,
    memory_mib: 128,
    timeout_ms: 10_000,
    max_input_bytes: 8 << 20,
    max_output_bytes: 1 << 20,
};

impl Limits {
    /// Refuses a limit of zero or above the platform's ceiling, naming it.
    pub fn check(&self) -> Result<(), PluginError> {
        let fields: [(&str, u64, u64); 5] = [
            ("limits.fuel", self.fuel, MAX_LIMITS.fuel),
            (
                "limits.memory_mib",
                u64::from(self.memory_mib),
                u64::from(MAX_LIMITS.memory_mib),
            ),
            ("limits.timeout_ms", self.timeout_ms, MAX_LIMITS.timeout_ms),
            (
                "limits.max_input_bytes",
                self.max_input_bytes as u64,
                MAX_LIMITS.max_input_bytes as u64,
            ),
            (
                "limits.max_output_bytes",
                self.max_output_bytes as u64,
                MAX_LIMITS.max_output_bytes as u64,
            ),
        ];
        for (name, value, max) in fields {
            if value == 0 || value > max {
                return Err(PluginError::invalid(format_args!(
                    "manifest: {name} must be between 1 and {max}, not {value}"
                )));
            }
        }
        Ok(())
    }

    pub fn memory_bytes(&self) -> u64 {
        u64::from(self.memory_mib) << 20
    }
}

/// The GraphQL query whose result the host hands the plugin, and the
/// variables of the extension point it uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputSpec {
    /// A GraphQL query run as the plugin's granted role; empty for a plugin
    /// that needs nothing beyond what its extension point passes.
    pub query: String,
    /// Which of the extension point's variables the query uses.
    pub variables: Vec<String>,
}

/// A parsed, checked manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lower-case letters, digits and `-`, unique within a district.
    pub id: String,
    /// `MAJOR.MINOR.PATCH`.
    pub version: String,
    pub kind: Kind,
    pub abi: u32,
    /// A sentence for the district's staff, shown in the plugin list.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub input: InputSpec,
    #[serde(default)]
    pub limits: Limits,
}

/// The largest manifest accepted; a real one is a few hundred bytes.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;

impl Manifest {
    /// Parses a manifest, JSON when it starts with `{` and TOML otherwise,
    /// and checks every field.
    pub fn parse(text: &str) -> Result<Manifest, PluginError> {
        if text.len() > MAX_MANIFEST_BYTES {
            return Err(PluginError::invalid(format_args!(
                "manifest: {} bytes, more than {MAX_MANIFEST_BYTES}",
                text.len()
            )));
        }
        let manifest: Manifest = if text.trim_start().starts_with('{') {
            serde_json::from_str(text)
                .map_err(|e| PluginError::invalid(format_args!("manifest (JSON): {e}")))?
        } else {
            toml::from_str(text)
                .map_err(|e| PluginError::invalid(format_args!("manifest (TOML): {e}")))?
        };
        manifest.check()?;
        Ok(manifest)
    }

    /// Parses a manifest from bytes, which must be UTF-8.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Manifest, PluginError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| PluginError::invalid("manifest: not UTF-8 text"))?;
        Manifest::parse(text)
    }

    fn check(&self) -> Result<(), PluginError> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.id.starts_with('-');
        if !id_ok {
            return Err(PluginError::invalid(
                "manifest: id must be 1 to 64 lower-case letters, digits or '-', \
                 not starting with '-'",
            ));
        }
        if parse_version(&self.version).is_none() {
            return Err(PluginError::invalid(format_args!(
                "manifest: version must be MAJOR.MINOR.PATCH, not {:?}",
                self.version
            )));
        }
        if !ABI_VERSIONS.contains(&self.abi) {
            return Err(PluginError::invalid(format_args!(
                "manifest: abi {} is not supported; this host speaks abi 1 and 2",
                self.abi
            )));
        }
        if self.abi == 2 && self.kind != Kind::AssistanceEligibility {
            return Err(PluginError::invalid(format_args!(
                "manifest: abi 2 serves assistance-eligibility only; {} speaks abi 1",
                self.kind.as_str()
            )));
        }
        if self.description.chars().count() > 500 {
            return Err(PluginError::invalid(
                "manifest: description is longer than 500 characters",
            ));
        }
        if self.input.query.len() > 16 << 10 {
            return Err(PluginError::invalid(
                "manifest: input.query is longer than 16 KiB",
            ));
        }
        let allowed = crate::schema::variables(self.kind);
        if let Some(unknown) = self
            .input
            .variables
            .iter()
            .find(|v| !allowed.contains(&v.as_str()))
        {
            return Err(PluginError::invalid(format_args!(
                "manifest: input.variables names {unknown:?}, which {} does not provide \
                 (it provides: {})",
                self.kind.as_str(),
                allowed.join(", ")
            )));
        }
        self.limits.check()
    }
}

/// `MAJOR.MINOR.PATCH` as three numbers, so that versions sort as numbers.
pub fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.');
    let mut next = || -> Option<u32> {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 9 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let version = (next()?, next()?, next()?);
    parts.next().is_none().then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
id = "education-grant"
version = "1.2.0"
kind = "assistance-eligibility"
abi = 1
description = "Local education grant"

[input]
query = "query($minorIds: [ID!]) { minors { edges { node { id } } } }"
variables = ["minorIds"]

[limits]
fuel = 1000000
memory_mib = 16
"#;

    #[test]
    fn toml_and_json_read_the_same() {
        let from_toml = Manifest::parse(TOML).unwrap();
        let json = serde_json::to_string(&from_toml).unwrap();
        let from_json = Manifest::parse(&json).unwrap();
        assert_eq!(from_toml, from_json);
        assert_eq!(from_toml.kind, Kind::AssistanceEligibility);
        assert_eq!(from_toml.limits.fuel, 1_000_000);
        // A limit the manifest leaves out takes its default.
        assert_eq!(from_toml.limits.timeout_ms, Limits::default().timeout_ms);
        let abi2 = Manifest::parse(&TOML.replace("abi = 1", "abi = 2")).unwrap();
        assert_eq!(abi2.abi, 2);
    }

    #[test]
    fn every_rule_is_named_when_broken() {
        let cases = [
            (TOML.replace("education-grant", "Education Grant"), "id"),
            (TOML.replace("1.2.0", "1.2"), "version"),
            (TOML.replace("abi = 1", "abi = 3"), "abi 3"),
            (
                TOML.replace("abi = 1", "abi = 2")
                    .replace("assistance-eligibility", "family-matching"),
                "abi 2 serves assistance-eligibility only",
            ),
            (
                TOML.replace("assistance-eligibility", "weather"),
                "unknown variant",
            ),
            (
                TOML.replace("memory_mib = 16", "memory_mib = 4096"),
                "limits.memory_mib",
            ),
            (TOML.replace("fuel = 1000000", "fuel = 0"), "limits.fuel"),
            (
                TOML.replace("\"minorIds\"]", "\"password\"]"),
                "\"password\"",
            ),
            (
                TOML.replace("[limits]", "[limits]\ncpu = 3"),
                "unknown field",
            ),
        ];
        for (text, expected) in cases {
            let err = Manifest::parse(&text).unwrap_err();
            assert_eq!(err.code(), "PLUGIN_INVALID");
            assert!(err.to_string().contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(parse_version("1.10.0") > parse_version("1.9.3"));
        assert_eq!(parse_version("1.2.3.4"), None);
        assert_eq!(parse_version("1.-2.3"), None);
    }
}
