//! Two-factor authentication: TOTP (RFC 6238 as authenticator apps expect it:
//! SHA-1, 6 digits, 30-second steps, one step of clock drift either way) and
//! ten single-use backup codes.
//!
//! The seed is sealed with the server key before it is stored. Backup codes are
//! 50 random bits each, so a plain SHA-256 of them is enough (a slow password
//! hash guards guessable secrets; these are not guessable), and checking one
//! costs a lookup instead of ten argon2 runs. A code is accepted once: the
//! step it belongs to is recorded, and a backup code is removed when used.

use crate::AuthError;
use chorus_secrets::SecretBox;
use chorus_store::Store;
use rand::Rng;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, TOTP};

const ISSUER: &str = "Chorus";
const STEP_SECONDS: u64 = 30;
const BACKUP_CODES: usize = 10;

/// What the settings page shows to enrol an authenticator app.
#[derive(Clone, Debug, PartialEq)]
pub struct Enrolment {
    /// The seed in base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    pub url: String,
    /// The QR code as an SVG document.
    pub qr_svg: String,
}

fn totp(secret_base32: &str, account: &str) -> Result<TOTP, AuthError> {
    let bytes = Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .map_err(|e| {
            AuthError::Invalid(format!("the stored two-factor seed is unreadable: {e:?}"))
        })?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECONDS,
        bytes,
        Some(ISSUER.into()),
        account.replace(':', " "),
    )
    .map_err(|e| AuthError::Invalid(format!("two-factor seed: {e}")))
}

/// The time step `code` belongs to if it is valid at `now` (Unix seconds),
/// allowing one step of drift either way.
pub fn check_code(secret_base32: &str, code: &str, now: u64) -> Option<u64> {
    let totp = totp(secret_base32, "").ok()?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let step = now / STEP_SECONDS;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| totp.generate(s * STEP_SECONDS) == code)
}

/// The code an authenticator shows at `now` (for tests and the CLI).
pub fn code_at(secret_base32: &str, now: u64) -> Result<String, AuthError> {
    Ok(totp(secret_base32, "")?.generate(now))
}

fn new_enrolment(account: &str) -> Result<Enrolment, AuthError> {
    let seed: [u8; 20] = rand::rng().random();
    let secret = Secret::Raw(seed.to_vec()).to_encoded().to_string();
    let url = totp(&secret, account)?.get_url();
    let qr_svg = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| AuthError::Invalid(format!("QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrolment {
        secret,
        url,
        qr_svg,
    })
}

/// Ten codes like `k3m9-x2qp-7`, and the hashes that are stored.
fn new_backup_codes() -> (Vec<String>, Vec<String>) {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let codes: Vec<String> = (0..BACKUP_CODES)
        .map(|_| {
            let raw: String = (0..10)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}-{}", &raw[..4], &raw[4..8], &raw[8..])
        })
        .collect();
    let hashes = codes.iter().map(|c| backup_hash(c)).collect();
    (codes, hashes)
}

/// Backup codes compare without dashes, spaces or case.
fn backup_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    hex::encode(Sha256::digest(normal.as_bytes()))
}

/// A user's opened TOTP seed (base32), only handed to [`TwoFactor::accept`].
pub struct Seed(String);

/// A user's two-factor settings, read and changed with the store and the key
/// that seals the seed.
pub struct TwoFactor<'a> {
    pub store: &'a Store,
    pub secrets: &'a SecretBox,
}

fn context(user: &str) -> String {
    format!("two_factor:{user}")
}

fn store_error(e: chorus_store::StoreError) -> AuthError {
    AuthError::Store(e.to_string())
}

impl TwoFactor<'_> {
    /// Whether signing in as `user` needs a code.
    pub async fn is_enabled(&self, user: &str) -> Result<bool, AuthError> {
        Ok(self
            .store
            .two_factor(user)
            .await
            .map_err(store_error)?
            .is_some_and(|r| r.enabled))
    }

    /// Starts enrolment: a new seed, shown once, that is not required until
    /// [`TwoFactor::confirm`] gets a code made from it.
    pub async fn begin(&self, user: &str, account: &str) -> Result<Enrolment, AuthError> {
        let enrolment = new_enrolment(account)?;
        let sealed = self.secrets.seal(&enrolment.secret, &context(user));
        if !self
            .store
            .begin_two_factor(user, &sealed)
            .await
            .map_err(store_error)?
        {
            return Err(AuthError::Invalid(
                "Two-factor authentication is already on; turn it off first.".into(),
            ));
        }
        Ok(enrolment)
    }

    /// The user's seed, opened, and whether enrolment was confirmed.
    async fn seed(&self, user: &str) -> Result<Option<(Seed, bool)>, AuthError> {
        let Some(record) = self.store.two_factor(user).await.map_err(store_error)? else {
            return Ok(None);
        };
        let secret = self
            .secrets
            .open(&record.sealed_secret, &context(user))
            .map_err(|e| {
                AuthError::Invalid(format!(
                    "Your two-factor settings cannot be read ({e}); ask the administrator."
                ))
            })?;
        Ok(Some((Seed(secret), record.enabled)))
    }

    /// The seed sign-in must check codes against, when two-factor is on.
    pub async fn required(&self, user: &str) -> Result<Option<Seed>, AuthError> {
        Ok(self
            .seed(user)
            .await?
            .and_then(|(seed, enabled)| enabled.then_some(seed)))
    }

    /// Turns two-factor on once a code from the new seed checks out; returns
    /// the backup codes (shown once; only their hashes are kept).
    pub async fn confirm(
        &self,
        user: &str,
        code: &str,
        now: u64,
    ) -> Result<Vec<String>, AuthError> {
        let wrong = || {
            AuthError::Invalid(
                "That code is not right; check the time on your device and try the current code."
                    .into(),
            )
        };
        let secret = match self.seed(user).await? {
            Some((seed, false)) => seed.0,
            Some((_, true)) => {
                return Err(AuthError::Invalid(
                    "Two-factor authentication is already on.".into(),
                ));
            }
            None => {
                return Err(AuthError::Invalid(
                    "Start setting up two-factor authentication first.".into(),
                ));
            }
        };
        let step = check_code(&secret, code, now).ok_or_else(wrong)?;
        let (codes, hashes) = new_backup_codes();
        if !self
            .store
            .enable_two_factor(user, hashes, step as i64)
            .await
            .map_err(store_error)?
        {
            return Err(wrong());
        }
        Ok(codes)
    }

    /// Checks a sign-in code: a current TOTP code not used before, or an
    /// unused backup code (which is then used up).
    pub async fn verify(&self, user: &str, code: &str, now: u64) -> Result<bool, AuthError> {
        match self.required(user).await? {
            Some(seed) => self.accept(user, &seed, code, now).await,
            None => Ok(false),
        }
    }

    /// Checks a code against a seed from [`TwoFactor::required`] and spends it.
    pub async fn accept(
        &self,
        user: &str,
        seed: &Seed,
        code: &str,
        now: u64,
    ) -> Result<bool, AuthError> {
        if let Some(step) = check_code(&seed.0, code, now) {
            return self
                .store
                .use_two_factor_step(user, step as i64)
                .await
                .map_err(store_error);
        }
        self.store
            .use_backup_code(user, &backup_hash(code))
            .await
            .map_err(store_error)
    }

    /// Turns two-factor off; takes the same kind of code as signing in.
    pub async fn disable(&self, user: &str, code: &str, now: u64) -> Result<(), AuthError> {
        if !self.verify(user, code, now).await? {
            return Err(AuthError::Invalid("That code is not right.".into()));
        }
        self.store
            .disable_two_factor(user)
            .await
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1 seed "12345678901234567890" (8 digits
        // there; an authenticator shows the last 6).
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        for (t, eight) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
        ] {
            assert_eq!(code_at(&secret, t).unwrap(), eight[2..], "t = {t}");
        }
    }

    #[test]
    fn a_code_is_valid_one_step_either_side_and_says_which() {
        let secret = new_enrolment("ann@example.com").unwrap().secret;
        let now = 1_700_000_000;
        let code = code_at(&secret, now).unwrap();
        assert_eq!(check_code(&secret, &code, now), Some(now / 30));
        assert_eq!(check_code(&secret, &code, now + 30), Some(now / 30));
        assert_eq!(check_code(&secret, &code, now - 30), Some(now / 30));
        assert_eq!(check_code(&secret, &code, now + 90), None);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(check_code(&secret, &spaced, now), Some(now / 30));
        assert_eq!(check_code(&secret, "000000x", now), None);
    }

    #[test]
    fn enrolment_shows_the_seed_as_a_qr_code_for_authenticator_apps() {
        let e = new_enrolment("ann@example.com").unwrap();
        assert_eq!(e.secret.len(), 32, "160 bits in base32");
        assert!(
            e.url
                .starts_with("otpauth://totp/Chorus:ann%40example.com?"),
            "{}",
            e.url
        );
        assert!(e.url.contains(&format!("secret={}", e.secret)));
        assert!(e.url.contains("issuer=Chorus"));
        assert!(e.qr_svg.contains("<svg"));
    }

    #[test]
    fn backup_codes_are_distinct_and_compare_loosely() {
        let (codes, hashes) = new_backup_codes();
        assert_eq!(codes.len(), 10);
        let unique: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(unique.len(), 10);
        assert_eq!(backup_hash(&codes[0]), hashes[0]);
        assert_eq!(
            backup_hash(&format!(" {} ", codes[0].replace('-', "").to_uppercase())),
            hashes[0]
        );
    }
}
