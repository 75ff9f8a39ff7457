//! Request signatures: Discord signs `X-Signature-Timestamp` followed by the raw body with
//! ed25519. Checked here, on the raw bytes, before any JSON is parsed.
//!
//! Discord documents no freshness window for the timestamp; five minutes either side of the
//! server's clock is common practice and what this module enforces, so a captured request
//! cannot be replayed later.

use ed25519_dalek::{Signature, VerifyingKey};
use http::HeaderMap;

use callstats_core::Timestamp;

pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// How far the signed timestamp may be from the server's clock, either way.
pub const MAX_SKEW_SECS: u64 = 5 * 60;

/// Why a request was refused. Every reason is answered with 401; the reason is only logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No `X-Signature-Ed25519` header.
    #[error("signature header missing")]
    MissingSignature,
    /// No `X-Signature-Timestamp` header.
    #[error("timestamp header missing")]
    MissingTimestamp,
    /// The signature is not 128 hex digits.
    #[error("signature header is not 64 bytes of hex")]
    MalformedSignature,
    /// The timestamp is not a whole number of seconds.
    #[error("timestamp header is not unix seconds")]
    MalformedTimestamp,
    /// The timestamp is more than [`MAX_SKEW_SECS`] away from the server's clock.
    #[error("timestamp is outside the accepted window")]
    StaleTimestamp,
    /// The signature does not match the timestamp and body under the application's key.
    #[error("signature does not verify")]
    BadSignature,
}

/// Checks a request's signature and timestamp against `key`, with `now` from the caller's
/// clock and `max_skew` seconds of tolerance (normally [`MAX_SKEW_SECS`]).
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    now: Timestamp,
    max_skew: u64,
    key: &VerifyingKey,
) -> Result<(), Rejection> {
    let signature = header(
        headers,
        SIGNATURE_HEADER,
        Rejection::MissingSignature,
        Rejection::MalformedSignature,
    )?;
    let timestamp = header(
        headers,
        TIMESTAMP_HEADER,
        Rejection::MissingTimestamp,
        Rejection::MalformedTimestamp,
    )?;

    let mut bytes = [0u8; 64];
    hex::decode_to_slice(signature, &mut bytes).map_err(|_| Rejection::MalformedSignature)?;
    let signature = Signature::from_bytes(&bytes);

    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::MalformedTimestamp);
    }
    let signed_at: i64 = timestamp
        .parse()
        .map_err(|_| Rejection::MalformedTimestamp)?;
    if signed_at.abs_diff(now.unix()) > max_skew {
        return Err(Rejection::StaleTimestamp);
    }

    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    key.verify_strict(&message, &signature)
        .map_err(|_| Rejection::BadSignature)
}

/// A header's value, present exactly once and visible ASCII.
fn header<'a>(
    headers: &'a HeaderMap,
    name: &str,
    missing: Rejection,
    malformed: Rejection,
) -> Result<&'a str, Rejection> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(missing)?;
    if values.next().is_some() {
        return Err(malformed);
    }
    value.to_str().map(str::trim).map_err(|_| malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use http::HeaderValue;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn signed(ts: &str, body: &[u8], signer: &SigningKey) -> HeaderMap {
        let mut message = ts.as_bytes().to_vec();
        message.extend_from_slice(body);
        let sig = signer.sign(&message);
        let mut h = HeaderMap::new();
        h.insert(
            "X-Signature-Ed25519",
            HeaderValue::from_str(&hex::encode(sig.to_bytes())).unwrap(),
        );
        h.insert("X-Signature-Timestamp", HeaderValue::from_str(ts).unwrap());
        h
    }

    const NOW: i64 = 1_795_000_000;

    fn check(h: &HeaderMap, body: &[u8]) -> Result<(), Rejection> {
        verify(
            h,
            body,
            Timestamp::new(NOW).unwrap(),
            MAX_SKEW_SECS,
            &key().verifying_key(),
        )
    }

    #[test]
    fn accepts_a_good_signature_within_the_window() {
        let body = br#"{"type":1}"#;
        assert_eq!(check(&signed("1795000000", body, &key()), body), Ok(()));
        assert_eq!(check(&signed("1795000300", body, &key()), body), Ok(()));
        assert_eq!(check(&signed("1794999700", body, &key()), body), Ok(()));
    }

    #[test]
    fn rejects_every_kind_of_bad_request() {
        let body = br#"{"type":1}"#;
        let good = signed("1795000000", body, &key());
        assert_eq!(check(&good, br#"{"type":2}"#), Err(Rejection::BadSignature));
        let mut tampered_ts = good.clone();
        tampered_ts.insert(
            "x-signature-timestamp",
            HeaderValue::from_static("1795000001"),
        );
        assert_eq!(check(&tampered_ts, body), Err(Rejection::BadSignature));
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            check(&signed("1795000000", body, &other), body),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            check(&signed("1795000301", body, &key()), body),
            Err(Rejection::StaleTimestamp)
        );
        assert_eq!(
            check(&signed("1794999699", body, &key()), body),
            Err(Rejection::StaleTimestamp)
        );
        assert_eq!(
            check(&signed("-5", body, &key()), body),
            Err(Rejection::MalformedTimestamp)
        );
        assert_eq!(
            check(&signed("99999999999999999999999", body, &key()), body),
            Err(Rejection::MalformedTimestamp)
        );

        let mut missing = good.clone();
        missing.remove("x-signature-ed25519");
        assert_eq!(check(&missing, body), Err(Rejection::MissingSignature));
        let mut missing = good.clone();
        missing.remove("x-signature-timestamp");
        assert_eq!(check(&missing, body), Err(Rejection::MissingTimestamp));

        for bad in ["zz", "abcd", &"0".repeat(126), &"g".repeat(128)] {
            let mut h = good.clone();
            h.insert("x-signature-ed25519", HeaderValue::from_str(bad).unwrap());
            assert_eq!(check(&h, body), Err(Rejection::MalformedSignature), "{bad}");
        }
        let mut twice = good.clone();
        twice.append(
            "x-signature-timestamp",
            HeaderValue::from_static("1795000000"),
        );
        assert_eq!(check(&twice, body), Err(Rejection::MalformedTimestamp));
    }
}
