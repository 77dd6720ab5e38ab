//! The plugins that ship with the platform: the default caring-family
//! matcher, used by a district until it installs a matcher of its own.
//!
//! The module is the AssemblyScript matcher of `plugins/examples/as-matcher`
//! built once and committed (`plugins/builtin/`); `plugins/examples/build.sh`
//! rebuilds it and fails when the committed bytes differ from its source, so
//! the binary the server embeds is always the source in this repository.

/// The default matcher's WebAssembly module.
pub const DEFAULT_MATCHER_WASM: &[u8] = include_bytes!("../builtin/default-matcher.wasm");

/// The default matcher's manifest (TOML).
pub const DEFAULT_MATCHER_MANIFEST: &str = include_str!("../builtin/default-matcher.toml");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Kind, Manifest};

    #[test]
    fn the_default_matcher_is_a_valid_matching_plugin() {
        let manifest = Manifest::parse(DEFAULT_MATCHER_MANIFEST).unwrap();
        assert_eq!(manifest.id, "default-matcher");
        assert_eq!(manifest.kind, Kind::FamilyMatching);
        let host = crate::PluginHost::new(crate::HostConfig::default()).unwrap();
        host.prepare(DEFAULT_MATCHER_WASM).unwrap();
    }
}
