//! Errors of the plugin host, each with the stable code a caller sees.
//!
//! A plugin's fault (a loop, a memory bomb, a trap, bad output) is an
//! ordinary value of this type, never a panic: the host reports it, logs one
//! line and goes on serving. Which of these a caller may see, and how they
//! become GraphQL errors, is decided by the module that runs plugins; this
//! crate only names them.

use std::fmt;

/// Why a plugin was refused or why one of its calls failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// The module or its manifest cannot be installed; the message names
    /// the rule, such as the import that is not allowed.
    #[error("{0}")]
    Invalid(String),
    /// The call ran past its wall-clock deadline.
    #[error("the plugin ran longer than its {timeout_ms} ms deadline")]
    Timeout { timeout_ms: u64 },
    /// The call used up its instruction budget.
    #[error("the plugin used up its budget of {fuel} fuel")]
    FuelExhausted { fuel: u64 },
    /// The plugin asked for more memory than its cap.
    #[error("the plugin needed more than its {limit_bytes} bytes of memory")]
    MemoryLimit { limit_bytes: u64 },
    /// The plugin trapped, overflowed its stack or exited with a failure
    /// status; the message says which.
    #[error("the plugin failed: {0}")]
    Trap(String),
    /// The plugin's output is too large, not JSON, or not the shape its
    /// extension point expects.
    #[error("the plugin's output is not acceptable: {0}")]
    BadOutput(String),
    /// The input handed to the plugin does not match its extension point's
    /// input schema (a dry run's input, typed by a person).
    #[error("the input does not match the extension point's schema: {0}")]
    BadInput(String),
    /// The input handed to the plugin is larger than its limit.
    #[error("the plugin's input is {size} bytes, more than its limit of {limit}")]
    InputTooLarge { size: usize, limit: usize },
    /// The host itself failed (a blocking task panicked, the engine could not
    /// be set up); the detail is logged, not shown.
    #[error("internal error in the plugin host")]
    Host(String),
}

impl PluginError {
    /// The stable code a caller sees in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::Invalid(_) => "PLUGIN_INVALID",
            PluginError::Timeout { .. } => "PLUGIN_TIMEOUT",
            PluginError::FuelExhausted { .. } => "PLUGIN_FUEL_EXHAUSTED",
            PluginError::MemoryLimit { .. } => "PLUGIN_MEMORY_LIMIT",
            PluginError::Trap(_) => "PLUGIN_TRAP",
            PluginError::BadOutput(_) => "PLUGIN_BAD_OUTPUT",
            PluginError::BadInput(_) => "BAD_USER_INPUT",
            PluginError::InputTooLarge { .. } => "LIMIT_EXCEEDED",
            PluginError::Host(_) => "INTERNAL",
        }
    }

    pub(crate) fn invalid(message: impl fmt::Display) -> Self {
        PluginError::Invalid(message.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::PluginError;

    #[test]
    fn every_fault_has_its_own_code() {
        let all = [
            PluginError::Invalid("x".into()),
            PluginError::Timeout { timeout_ms: 1 },
            PluginError::FuelExhausted { fuel: 1 },
            PluginError::MemoryLimit { limit_bytes: 1 },
            PluginError::Trap("x".into()),
            PluginError::BadOutput("x".into()),
            PluginError::BadInput("x".into()),
            PluginError::InputTooLarge { size: 2, limit: 1 },
            PluginError::Host("x".into()),
        ];
        let mut codes: Vec<_> = all.iter().map(PluginError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
