//! Errors of the identity module, each with the client code it maps to.

use shouhu_kernel::ApiError;
use shouhu_policies::PolicyError;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Deliberately the same for an unknown user, a wrong password and a
    /// disabled account, so that sign-in does not reveal which usernames
    /// exist.
    #[error("wrong district, username or password")]
    BadCredentials,
    #[error("too many failed sign-ins: this account is locked for 15 minutes")]
    Locked,
    #[error("the token or API key is invalid, expired or revoked")]
    BadToken,
    #[error("usernames are 2-64 characters of a-z, 0-9, '.', '_' and '-'")]
    BadUsername,
    #[error("a password has 10 to 256 characters")]
    WeakPassword,
    #[error(
        "the password is too easy to guess: not only spaces, one repeated character, \
         a run of digits or the username"
    )]
    GuessablePassword,
    #[error("the username {0} is taken in this district")]
    UsernameTaken(String),
    #[error("no role {0} in this district")]
    UnknownRole(String),
    #[error("a user needs at least one role")]
    NoRoles,
    #[error("{0}")]
    Policy(#[from] PolicyError),
    #[error("{}", .0.message)]
    Api(ApiError),
}

impl From<ApiError> for IdentityError {
    fn from(err: ApiError) -> Self {
        IdentityError::Api(err)
    }
}

impl From<sea_orm::DbErr> for IdentityError {
    fn from(err: sea_orm::DbErr) -> Self {
        IdentityError::Api(ApiError::internal(err))
    }
}

impl From<IdentityError> for ApiError {
    fn from(err: IdentityError) -> Self {
        let message = err.to_string();
        match err {
            IdentityError::Api(e) => e,
            IdentityError::BadCredentials | IdentityError::Locked | IdentityError::BadToken => {
                ApiError::unauthenticated(message)
            }
            IdentityError::BadUsername => ApiError::bad_input("input.username", message),
            IdentityError::WeakPassword | IdentityError::GuessablePassword => {
                ApiError::bad_input("input.password", message)
            }
            IdentityError::UsernameTaken(_) => ApiError::conflict("input.username", message),
            IdentityError::UnknownRole(_) | IdentityError::NoRoles => {
                ApiError::bad_input("input.roles", message)
            }
            IdentityError::Policy(p) => match p.code() {
                "BAD_USER_INPUT" => {
                    let field = match p {
                        PolicyError::UnknownPermission(_)
                        | PolicyError::PlatformPermission { .. } => "input.permissions",
                        _ => "input.name",
                    };
                    ApiError::bad_input(field, message)
                }
                _ => ApiError::internal(message),
            },
        }
    }
}
