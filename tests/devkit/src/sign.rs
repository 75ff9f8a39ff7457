//! Keys and signatures, as Discord signs interactions: ed25519 over `X-Signature-Timestamp`
//! followed by the raw body, in the headers the endpoint's `verify` reads.

use std::path::{Path, PathBuf};

use callstats_interactions::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use ed25519_dalek::{Signer as _, SigningKey};

/// A signing key file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("signing key {path}: {reason}")]
pub struct KeyError {
    pub path: PathBuf,
    pub reason: String,
}

/// The key whose 32 bytes are all `seed`: a fixed key for tests and benchmarks.
#[must_use]
pub fn key_from_seed(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// The public key as `DISCORD_PUBLIC_KEY` takes it (64 hex digits).
#[must_use]
pub fn public_key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

/// The `X-Signature-Ed25519` value for `timestamp` and `body` under `key`.
#[must_use]
pub fn signature(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    hex::encode(key.sign(&message).to_bytes())
}

/// The signature and timestamp headers for `body` signed at `unix` seconds.
#[must_use]
pub fn signed_headers(key: &SigningKey, unix: i64, body: &[u8]) -> Vec<(String, String)> {
    let timestamp = unix.to_string();
    vec![
        (
            SIGNATURE_HEADER.to_owned(),
            signature(key, &timestamp, body),
        ),
        (TIMESTAMP_HEADER.to_owned(), timestamp),
    ]
}

/// Reads the 32-byte signing key (hex) from `path`, creating it from the system's random
/// source when it does not exist yet.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, KeyError> {
    let key_error = |reason: String| KeyError {
        path: path.to_owned(),
        reason,
    };
    if path.exists() {
        let text = std::fs::read_to_string(path).map_err(|e| key_error(e.to_string()))?;
        let bytes = hex::decode(text.trim()).map_err(|e| key_error(format!("not hex: {e}")))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| key_error("not 32 bytes".into()))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    let mut seed = [0u8; 32];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom")
            .map_err(|e| key_error(format!("no random source: {e}")))?,
        &mut seed,
    )
    .map_err(|e| key_error(format!("no random source: {e}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| key_error(e.to_string()))?;
    }
    std::fs::write(path, hex::encode(seed)).map_err(|e| key_error(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_what_the_endpoint_verifies() {
        use callstats_interactions::verify::{MAX_SKEW_SECS, verify};
        let key = key_from_seed(7);
        let body = br#"{"type":1}"#;
        let headers: http::HeaderMap = signed_headers(&key, 1_795_000_000, body)
            .into_iter()
            .map(|(k, v)| (http::HeaderName::try_from(k).unwrap(), v.parse().unwrap()))
            .collect();
        let now = callstats_core::Timestamp::new(1_795_000_060).unwrap();
        let public = key.verifying_key();
        assert_eq!(verify(&headers, body, now, MAX_SKEW_SECS, &public), Ok(()));
        assert!(verify(&headers, b"{}", now, MAX_SKEW_SECS, &public).is_err());
    }

    #[test]
    fn keeps_one_key_per_file() {
        let dir = std::env::temp_dir().join(format!("callstats-key-{}", std::process::id()));
        let path = dir.join("signing.key");
        let first = load_or_create_key(&path).unwrap();
        let second = load_or_create_key(&path).unwrap();
        assert_eq!(first.to_bytes(), second.to_bytes());
        std::fs::write(&path, "zz").unwrap();
        assert!(load_or_create_key(&path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }
}
