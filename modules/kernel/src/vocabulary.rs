//! Closed vocabularies: enums whose values carry a stable English code (what
//! the API and the database store) and a Chinese label (what staff and
//! spreadsheets use; parsing accepts either). Every domain module declares
//! its vocabularies with [`vocabulary!`], so that all of them read, store
//! and parse alike.

/// Declares a closed vocabulary: an `async_graphql::Enum` with `ALL`,
/// `code()`, `label_zh()` and `parse()` (by code or by Chinese label). The
/// calling crate must depend on `async-graphql`.
#[macro_export]
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal / $zh:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            pub fn label_zh(self) -> &'static str {
                match self {
                    $($name::$variant => $zh,)+
                }
            }

            /// By code or by Chinese label.
            pub fn parse(text: &str) -> Option<$name> {
                let text = text.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.code() == text || v.label_zh() == text)
            }
        }
    };
}
