//! Store errors: what went wrong, and whether trying again later can help.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not be reached, timed out, throttled us or failed on its side. The same
    /// request may succeed later; writers keep it and retry with backoff.
    #[error("dynamodb unavailable during {op}: {message}")]
    Unavailable { op: &'static str, message: String },
    /// DynamoDB refused the request for a reason retrying cannot fix (missing table, missing
    /// permission, a request this program built wrongly).
    #[error("dynamodb rejected {op}: {message}")]
    Rejected { op: &'static str, message: String },
    /// A stored item is not what this program writes. Never read as a zero or a default.
    #[error("malformed item {key}: {reason}")]
    Malformed { key: String, reason: String },
    /// The table exists but its keys or indexes differ from what this program needs.
    #[error("table {table} does not match the expected schema: {difference}")]
    SchemaMismatch { table: String, difference: String },
}

impl StoreError {
    /// Whether the same request may succeed if sent again later.
    #[must_use]
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }

    pub(crate) fn malformed(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Malformed {
            key: key.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn rejected(op: &'static str, message: impl Into<String>) -> Self {
        Self::Rejected {
            op,
            message: message.into(),
        }
    }
}

/// Error codes DynamoDB uses for conditions that pass with time.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
];

/// Sorts an SDK error into [`StoreError::Unavailable`] or [`StoreError::Rejected`].
#[allow(clippy::needless_pass_by_value)] // callers hand the error over; it ends here
pub(crate) fn classify<E>(op: &'static str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        // A 5xx without a DynamoDB error code (a proxy or a crashed server answered) may pass.
        SdkError::ServiceError(service) => {
            service
                .err()
                .code()
                .is_some_and(|code| RETRYABLE_CODES.contains(&code))
                || service.raw().status().is_server_error()
        }
        _ => false,
    };
    let message = DisplayErrorContext(&err).to_string();
    if retryable {
        StoreError::Unavailable { op, message }
    } else {
        StoreError::Rejected { op, message }
    }
}

/// Whether an SDK error is a failed condition (`ConditionalCheckFailedException`).
pub(crate) fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(s) if s.err().code() == Some("ConditionalCheckFailedException"))
}
