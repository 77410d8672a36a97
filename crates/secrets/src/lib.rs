//! Secrets at rest. Anything a user hands Chorus to use on their behalf (their
//! own provider keys; later MCP credentials and TOTP seeds) is sealed with
//! AES-256-GCM before it reaches the database, under one server key.
//!
//! The key comes from `CHORUS_SECRET_KEY` or `server.secretKey` in the config;
//! without either, one is generated once into the data directory (like Open
//! WebUI's `.webui_secret_key`), so a fresh install is encrypted with no setup.
//! Several instances sharing a database must be given the same key.
//!
//! Each sealed value is bound to a context string (for example the owner and the
//! endpoint) as associated data, so a ciphertext copied onto another user's row
//! does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::io::Write;
use std::path::Path;

/// Sealed values start with this, so a later format can be told apart.
const VERSION: &str = "v1.";
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
/// What a key looks like, for error messages.
const KEY_SHAPE: &str =
    "32 random bytes as 64 hex characters or as base64 (make one with `openssl rand -hex 32`)";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key {source_name} is not valid: expected {KEY_SHAPE}")]
    BadKey { source_name: String },
    #[error("cannot read or create the secret key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    /// Wrong key, tampered value, or a value sealed for another context.
    #[error("a stored secret cannot be decrypted (was the server's secret key changed?)")]
    Undecryptable,
}

/// Seals and opens secrets with the server key. Cheap to share behind an `Arc`.
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A key given as text; `source_name` says where it came from (for the error).
    pub fn from_key_text(text: &str, source_name: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| B64.decode(text).ok())
            .filter(|b| b.len() == KEY_LEN)
            .ok_or_else(|| SecretError::BadKey {
                source_name: source_name.to_string(),
            })?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The key in `path`, generating it (readable by this user only) when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let file_error = |e: std::io::Error| SecretError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_key_text(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                rand::fill(&mut key);
                let text = hex::encode(key);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(file_error)?;
                file.write_all(text.as_bytes()).map_err(file_error)?;
                file.sync_all().map_err(file_error)?;
                Ok(Self::from_bytes(&key))
            }
            Err(e) => Err(file_error(e)),
        }
    }

    /// A random key that lives as long as the process (tests, throwaway stores).
    pub fn ephemeral() -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::fill(&mut key);
        Self::from_bytes(&key)
    }

    fn from_bytes(key: &[u8]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// `plaintext` encrypted and bound to `context`, as printable text.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", B64.encode(out))
    }

    /// The plaintext of a value `seal`ed with the same key and `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let raw = sealed
            .strip_prefix(VERSION)
            .and_then(|b| B64.decode(b).ok())
            .filter(|raw| raw.len() > NONCE_LEN)
            .ok_or(SecretError::Undecryptable)?;
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let secrets = SecretBox::ephemeral();
        let sealed = secrets.seal("sk-live-123", "user:alice/groq");
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("sk-live-123"));
        assert_eq!(
            secrets.open(&sealed, "user:alice/groq").unwrap(),
            "sk-live-123"
        );
        // Moved onto another user's row: refused.
        assert!(matches!(
            secrets.open(&sealed, "user:bob/groq"),
            Err(SecretError::Undecryptable)
        ));
        // Another server key: refused.
        assert!(matches!(
            SecretBox::ephemeral().open(&sealed, "user:alice/groq"),
            Err(SecretError::Undecryptable)
        ));
        // Same plaintext twice: different ciphertexts (fresh nonce).
        assert_ne!(sealed, secrets.seal("sk-live-123", "user:alice/groq"));
    }

    #[test]
    fn a_tampered_value_is_refused() {
        let secrets = SecretBox::ephemeral();
        let sealed = secrets.seal("secret", "ctx");
        let mut raw = B64.decode(&sealed[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("v1.{}", B64.encode(raw));
        assert!(secrets.open(&tampered, "ctx").is_err());
        assert!(secrets.open("not sealed", "ctx").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let first = SecretBox::load_or_create(&path).unwrap();
        let sealed = first.seal("k", "c");
        let again = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed, "c").unwrap(), "k");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn keys_are_accepted_as_hex_or_base64_and_anything_else_is_named() {
        let key_hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let a = SecretBox::from_key_text(key_hex, "CHORUS_SECRET_KEY").unwrap();
        let b64 = B64.encode(hex::decode(key_hex).unwrap());
        let b = SecretBox::from_key_text(&b64, "CHORUS_SECRET_KEY").unwrap();
        assert_eq!(b.open(&a.seal("x", "c"), "c").unwrap(), "x");
        let err = SecretBox::from_key_text("too short", "server.secretKey").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("server.secretKey"), "{text}");
        assert!(text.contains("64 hex characters"), "{text}");
    }
}
