//! Shouhu's permission policy: the casbin model, the built-in roles and the decision engine.
//!
//! Every tenant (district) is one casbin domain; the platform operator lives in the fixed
//! domain [`PLATFORM_DOMAIN`]. The model and the built-in role policies are data files embedded
//! at compile time, so this crate does no I/O at all: callers hand it custom roles, and it
//! answers whether a role may use a [`Permission`] in a domain.
//!
//! ```
//! # tokio_test_block(async {
//! use shouhu_policies::{Permission, PolicyEngine};
//!
//! let mut engine = PolicyEngine::new().await?;
//! engine.load_tenant("minhang", &[]).await?;
//! assert!(engine.decide("minhang", "street_officer", Permission::CaseWrite));
//! assert!(!engine.decide("minhang", "evaluator", Permission::MinorRead));
//! # Ok::<(), shouhu_policies::PolicyError>(())
//! # });
//! # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod catalogue;
mod engine;
mod error;
mod roles;

pub use catalogue::{Permission, PermissionSet};
pub use engine::{PolicyEngine, PLATFORM_DOMAIN};
pub use error::PolicyError;
pub use roles::{
    builtin_role, is_builtin_role_name, validate_custom_role_name, BuiltinRole, BUILTIN_ROLES,
};
