//! Errors of the extensions module: a plugin host's refusal or fault
//! becomes an [`ApiError`] with the plugin's own code.

use shouhu_kernel::{ApiError, ErrorCode};
use shouhu_plugins::PluginError;

/// The API error for a plugin host's error. The message is the host's own
/// sentence (which rule a module broke, which limit a call met); a host
/// failure says nothing beyond "internal error" and is logged.
pub fn from_plugin(err: PluginError) -> ApiError {
    let code = match &err {
        PluginError::Invalid(_) => ErrorCode::PluginInvalid,
        PluginError::Timeout { .. } => ErrorCode::PluginTimeout,
        PluginError::FuelExhausted { .. } => ErrorCode::PluginFuelExhausted,
        PluginError::MemoryLimit { .. } => ErrorCode::PluginMemoryLimit,
        PluginError::Trap(_) => ErrorCode::PluginTrap,
        PluginError::BadOutput(_) => ErrorCode::PluginBadOutput,
        PluginError::BadInput(message) => return ApiError::bad_input("input", message.clone()),
        PluginError::InputTooLarge { .. } => ErrorCode::LimitExceeded,
        PluginError::Host(detail) => return ApiError::internal(detail),
    };
    ApiError::new(code, err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_agree_with_the_host() {
        let cases = [
            PluginError::Invalid("x".into()),
            PluginError::Timeout { timeout_ms: 1 },
            PluginError::FuelExhausted { fuel: 1 },
            PluginError::MemoryLimit { limit_bytes: 1 },
            PluginError::Trap("x".into()),
            PluginError::BadOutput("x".into()),
            PluginError::BadInput("x".into()),
            PluginError::InputTooLarge { size: 2, limit: 1 },
        ];
        for err in cases {
            let code = err.code();
            assert_eq!(from_plugin(err).code.as_str(), code);
        }
    }
}
