//! Ed25519 JWT authentication, checked as sqld checks it (docs/sync-protocol.md §4).
//!
//! - algorithm EdDSA only; `exp` and `nbf` checked when present (not required), with a small
//!   leeway (`--auth-jwt-leeway-secs`, 5 s by default, where jsonwebtoken's default is 60 s);
//!   an `exp` or `nbf` that is not a non-negative number refuses the token (jsonwebtoken alone
//!   would ignore it, and such a token would never expire);
//! - keys: PKCS#8/SPKI PEM `PUBLIC KEY` blocks (several allowed, all tried) or the raw 32-byte
//!   key as URL-safe base64;
//! - claims: `p` (permissions by namespace) when present, otherwise the legacy `a`
//!   (`ro`/`rw`/`roa`, default rw) and `id` (restricts the token to one namespace).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::Deserialize;

use crate::exec::Perm;

/// Why a request is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No token (401).
    #[error("authorization header or token is missing")]
    Missing,
    /// A token that does not verify or has expired (401).
    #[error("invalid token: {0}")]
    Invalid(String),
    /// A valid token without access to this namespace (403).
    #[error("the token does not grant access to namespace {0:?}")]
    Forbidden(String),
}

impl AuthError {
    /// sqld's machine code for the error.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "AUTH_HEADER_NOT_FOUND",
            AuthError::Invalid(m) if m.contains("xpired") => "AUTH_JWT_EXPIRED",
            AuthError::Invalid(_) => "AUTH_JWT_INVALID",
            AuthError::Forbidden(_) => "AUTH_NAMESPACE_FORBIDDEN",
        }
    }
}

/// Errors loading keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read.
    #[error("reading the JWT key file: {0}")]
    Io(#[from] std::io::Error),
    /// The key could not be parsed.
    #[error("bad Ed25519 public key: {0}")]
    Parse(String),
}

#[derive(Debug, Default, Deserialize)]
struct NsList {
    #[serde(default)]
    ns: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    a: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    p: Option<HashMap<String, NsList>>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    nbf: Option<serde_json::Value>,
}

/// A NumericDate claim (RFC 7519 §2: seconds since the epoch, a JSON number) as whole seconds.
fn numeric_date(name: &str, v: Option<&serde_json::Value>) -> Result<Option<u64>, AuthError> {
    let Some(v) = v else { return Ok(None) };
    let bad = || AuthError::Invalid(format!("the {name} claim must be a non-negative number of seconds, not {v}"));
    if let Some(n) = v.as_u64() {
        return Ok(Some(n));
    }
    match v.as_f64() {
        // Rounded as jsonwebtoken rounds it for its own check.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(f) if (0.0..1.8e19).contains(&f) => Ok(Some(f.round() as u64)),
        _ => Err(bad()),
    }
}

/// What a valid token grants on one namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The permission.
    pub perm: Perm,
    /// When the token expires (its `exp`, seconds since the epoch), if it does.
    pub expires: Option<u64>,
}

/// Seconds since the epoch now.
#[must_use]
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The server's verification keys; no keys means no authentication.
#[derive(Clone, Default)]
pub struct Auth {
    keys: Vec<DecodingKey>,
    leeway: u64,
    /// Tokens whose signature verified, with their claims: a client sends the same token with
    /// every request, and an Ed25519 verification costs more CPU than most requests do (a
    /// tenant flooding requests would spend it for everyone). The claims are checked again on
    /// every use (expiry, namespace); only the signature check is remembered.
    verified: Arc<Mutex<HashMap<String, Arc<Claims>>>>,
}

/// Verified tokens remembered at most (the map is emptied when full), and the longest one
/// remembered.
const VERIFIED_MAX: usize = 4096;
const VERIFIED_TOKEN_MAX: usize = 4096;

impl Auth {
    /// No authentication.
    #[must_use]
    pub fn disabled() -> Auth {
        Auth::default()
    }

    /// Parses a key file's content: PEM blocks or raw base64url.
    ///
    /// # Errors
    ///
    /// [`KeyError::Parse`] if no key could be read.
    pub fn from_key_text(text: &str) -> Result<Auth, KeyError> {
        let mut keys = Vec::new();
        if text.contains("-----BEGIN") {
            let mut block = String::new();
            for line in text.lines() {
                block.push_str(line);
                block.push('\n');
                if line.starts_with("-----END") {
                    keys.push(DecodingKey::from_ed_pem(block.as_bytes()).map_err(|e| KeyError::Parse(e.to_string()))?);
                    block.clear();
                }
            }
        } else {
            let raw = text.trim();
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(raw.trim_end_matches('='))
                .map_err(|e| KeyError::Parse(e.to_string()))?;
            if bytes.len() != 32 {
                return Err(KeyError::Parse(format!("raw key has {} bytes, expected 32", bytes.len())));
            }
            keys.push(DecodingKey::from_ed_der(&bytes));
        }
        if keys.is_empty() {
            return Err(KeyError::Parse("no key found".into()));
        }
        Ok(Auth { keys, leeway: DEFAULT_LEEWAY, verified: Arc::default() })
    }

    /// The same keys with another clock-skew allowance on `exp` and `nbf`.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Auth {
        self.leeway = leeway.as_secs();
        self
    }

    /// Whether tokens are checked at all.
    #[must_use]
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Checks a token for a namespace.
    ///
    /// # Errors
    ///
    /// [`AuthError`] when the token is missing, invalid, expired, or for another namespace.
    pub fn check(&self, token: Option<&str>, namespace: &str) -> Result<Perm, AuthError> {
        self.grant(token, namespace).map(|g| g.perm)
    }

    /// [`Auth::check`], with the token's expiry (a WebSocket stops serving at that time).
    ///
    /// # Errors
    ///
    /// As [`Auth::check`].
    pub fn grant(&self, token: Option<&str>, namespace: &str) -> Result<Grant, AuthError> {
        let perm = |perm| Ok(Grant { perm, expires: None });
        if self.keys.is_empty() {
            return perm(Perm::ReadWrite);
        }
        let token = token.map(str::trim).filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        let known = self.verified.lock().ok().and_then(|m| m.get(token).cloned());
        let claims = match known {
            Some(claims) => {
                // What decode() checks besides the signature, as it checks it.
                let now = now_secs();
                if numeric_date("exp", claims.exp.as_ref())?.is_some_and(|exp| exp.saturating_add(self.leeway) < now) {
                    return Err(AuthError::Invalid("ExpiredSignature".into()));
                }
                if numeric_date("nbf", claims.nbf.as_ref())?.is_some_and(|nbf| nbf > now.saturating_add(self.leeway)) {
                    return Err(AuthError::Invalid("ImmatureSignature".into()));
                }
                claims
            }
            None => {
                let claims = Arc::new(self.verify(token)?);
                if token.len() <= VERIFIED_TOKEN_MAX
                    && let Ok(mut m) = self.verified.lock()
                {
                    if m.len() >= VERIFIED_MAX {
                        m.clear();
                    }
                    m.insert(token.to_owned(), Arc::clone(&claims));
                }
                claims
            }
        };
        let expires = numeric_date("exp", claims.exp.as_ref())?;
        numeric_date("nbf", claims.nbf.as_ref())?;
        let perm = |perm| Ok(Grant { perm, expires });
        if let Some(p) = &claims.p {
            let has = |k: &str| p.get(k).is_some_and(|l| l.ns.iter().any(|n| n == namespace));
            if has("rw") || has("rwa") || has("ddl") {
                return perm(Perm::ReadWrite);
            }
            if has("ro") || has("roa") {
                return perm(Perm::ReadOnly);
            }
            return Err(AuthError::Forbidden(namespace.into()));
        }
        if let Some(id) = &claims.id
            && id != namespace
        {
            return Err(AuthError::Forbidden(namespace.into()));
        }
        match claims.a.as_deref() {
            None | Some("rw") => perm(Perm::ReadWrite),
            Some("ro" | "roa") => perm(Perm::ReadOnly),
            Some(other) => Err(AuthError::Invalid(format!("unknown access claim {other:?}"))),
        }
    }

    /// Verifies a token's signature (and, as jsonwebtoken does, its `exp` and `nbf`).
    fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        validation.validate_aud = false;
        let mut last = String::from("no key");
        let mut claims = None;
        for key in &self.keys {
            match decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        claims.ok_or(AuthError::Invalid(last))
    }
}

/// Seconds of clock skew allowed on `exp` and `nbf` unless configured.
pub const DEFAULT_LEEWAY: u64 = 5;

/// The token of an `Authorization: Bearer <token>` header value.
#[must_use]
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let h = header?.trim();
    let (scheme, rest) = h.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}
