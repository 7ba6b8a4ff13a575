use std::fmt;

/// What went wrong, in terms every protocol can map to its own status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller sent something malformed or inconsistent (HTTP 400, gRPC INVALID_ARGUMENT).
    InvalidArgument,
    /// Unknown model, version or route (HTTP 404, gRPC NOT_FOUND).
    NotFound,
    /// The request or message is larger than the configured limit (HTTP 413, gRPC RESOURCE_EXHAUSTED).
    TooLarge,
    /// The model exists but cannot take the request now (HTTP 503, gRPC UNAVAILABLE).
    Unavailable,
    /// The request waited past its deadline (HTTP 504, gRPC DEADLINE_EXCEEDED).
    DeadlineExceeded,
    /// The unit does not implement the operation (HTTP 501, gRPC UNIMPLEMENTED).
    Unimplemented,
    /// The model or runtime failed (HTTP 500, gRPC INTERNAL).
    Internal,
}

impl ErrorKind {
    /// The HTTP status every REST protocol answers with for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::TooLarge => 413,
            ErrorKind::Unavailable => 503,
            ErrorKind::DeadlineExceeded => 504,
            ErrorKind::Unimplemented => 501,
            ErrorKind::Internal => 500,
        }
    }

    /// The kind that answers with `status`, or the nearest: other 4xx are bad requests and any
    /// other code a model failure. Foreign runtimes use it for exceptions that carry a status.
    pub fn from_http_status(status: u16) -> ErrorKind {
        match status {
            404 => ErrorKind::NotFound,
            413 => ErrorKind::TooLarge,
            501 => ErrorKind::Unimplemented,
            503 => ErrorKind::Unavailable,
            504 => ErrorKind::DeadlineExceeded,
            400..=499 => ErrorKind::InvalidArgument,
            _ => ErrorKind::Internal,
        }
    }
}

/// An error as a value: a kind for the status code and a message for the caller.
///
/// Messages name the offending field (`inputs[0].shape`, `data.ndarray`) so that a client can fix
/// its request without reading server logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

/// Result alias used across oxserve.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, message)
    }
    pub fn unimplemented(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unimplemented, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::TooLarge, message)
    }

    /// The same error with `context` put in front of the message, e.g. the field path.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error { kind: self.kind, message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_kind_that_answers_with_them() {
        for status in [400, 404, 413, 501, 503, 504, 500] {
            assert_eq!(ErrorKind::from_http_status(status).http_status(), status);
        }
        assert_eq!(ErrorKind::from_http_status(422), ErrorKind::InvalidArgument);
        assert_eq!(ErrorKind::from_http_status(502), ErrorKind::Internal);
    }
}
