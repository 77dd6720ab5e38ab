//! Signed, expiring sign-in tokens (JWT, HS256) and API-key strings.
//!
//! A token names the district, the user and the session; the session row is
//! what sign-out revokes, so a token stops working the moment its session
//! does. The signing secret comes from `SHOUHU_TOKEN_SECRET` or, when that
//! is unset, from a random secret the server stores in its database on
//! first start, so that every server process on one database shares it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user (or operator) id.
    pub sub: Uuid,
    /// The district; the nil id for the platform operator.
    pub tid: Uuid,
    /// The session.
    pub sid: Uuid,
    /// "user" or "operator".
    pub kind: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    pub fn from_secret(secret: &[u8]) -> Option<Keys> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Some(Keys {
            encoding: EncodingKey::from_secret(secret).ok()?,
            decoding: DecodingKey::from_secret(secret).ok()?,
            validation,
        })
    }

    pub fn sign(&self, claims: &Claims) -> Option<String> {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding).ok()
    }

    /// Checks the signature and the expiry against `now_s` (the server's
    /// clock, which tests drive).
    pub fn verify(&self, token: &str, now_s: i64) -> Option<Claims> {
        let mut validation = self.validation.clone();
        // Expiry is checked below against the application clock.
        validation.validate_exp = false;
        let data = decode::<Claims>(token, &self.decoding, &validation).ok()?;
        (data.claims.exp > now_s).then_some(data.claims)
    }
}

/// A fresh random secret, base64url.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0_u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The prefix of every API key, so that a leaked key is recognisable by
/// secret scanners.
pub const API_KEY_PREFIX: &str = "shk";

/// `shk_<tenant>_<key id>_<secret>`: the district and the key id let the
/// server find the key's row within that district's scope.
pub fn format_api_key(tenant: Uuid, key: Uuid, secret: &str) -> String {
    format!(
        "{API_KEY_PREFIX}_{}_{}_{secret}",
        tenant.simple(),
        key.simple()
    )
}

pub fn parse_api_key(raw: &str) -> Option<(Uuid, Uuid, &str)> {
    let rest = raw.strip_prefix("shk_")?;
    let (tenant, rest) = rest.split_once('_')?;
    let (key, secret) = rest.split_once('_')?;
    Some((
        Uuid::parse_str(tenant).ok()?,
        Uuid::parse_str(key).ok()?,
        secret,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::now_v7(),
            tid: Uuid::now_v7(),
            sid: Uuid::now_v7(),
            kind: "user".into(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn tokens_verify_expire_and_reject_other_keys() {
        let keys = Keys::from_secret(b"0123456789abcdef0123456789abcdef").unwrap();
        let token = keys.sign(&claims(1_000)).unwrap();
        assert!(keys.verify(&token, 999).is_some());
        assert!(keys.verify(&token, 1_000).is_none());
        let other = Keys::from_secret(b"another secret of enough length!").unwrap();
        assert!(other.verify(&token, 0).is_none());
        let mut tampered = token.clone();
        tampered.push('x');
        assert!(keys.verify(&tampered, 0).is_none());
    }

    #[test]
    fn api_keys_round_trip() {
        let (t, k) = (Uuid::now_v7(), Uuid::now_v7());
        let s = random_secret(32);
        let raw = format_api_key(t, k, &s);
        assert_eq!(parse_api_key(&raw), Some((t, k, s.as_str())));
        assert_eq!(parse_api_key("shk_nope"), None);
        assert_eq!(parse_api_key("Bearer x"), None);
    }
}
