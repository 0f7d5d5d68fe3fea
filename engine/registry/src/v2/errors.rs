//! The distribution error format: `{"errors": [{"code", "message", "detail"}]}` with the
//! standard codes and the status each one goes with.

use crate::http::{self as h, Body, ResponseExt};
use crate::v1::Refusal;
use http::{header, Response, StatusCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    PaginationNumberInvalid,
    RangeInvalid,
    TagInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    NotFound,
    Unavailable,
    Unknown,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid | Code::RangeInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Code::TagInvalid => "TAG_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported | Code::NotFound => "UNSUPPORTED",
            Code::Unavailable => "UNAVAILABLE",
            Code::Unknown => "UNKNOWN",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Code::BlobUnknown
            | Code::BlobUploadUnknown
            | Code::ManifestUnknown
            | Code::NameUnknown
            | Code::NotFound => StatusCode::NOT_FOUND,
            Code::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Denied => StatusCode::FORBIDDEN,
            Code::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct V2Error {
    pub code: Code,
    pub message: String,
    extra: Option<Box<Extra>>,
}

/// What few errors carry: a detail, an auth challenge, headers such as `Range` on a 416.
#[derive(Debug, Clone, Default, PartialEq)]
struct Extra {
    detail: Option<serde_json::Value>,
    challenge: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
}

impl V2Error {
    pub fn new(code: Code, message: impl Into<String>) -> V2Error {
        V2Error { code, message: message.into(), extra: None }
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> V2Error {
        self.extra().detail = Some(detail);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> V2Error {
        self.extra().headers.push((name, value));
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let extra = self.extra.map(|e| *e).unwrap_or_default();
        let mut error = serde_json::json!({"code": self.code.as_str(), "message": self.message});
        if let Some(detail) = extra.detail {
            error["detail"] = detail;
        }
        let mut response = h::json(self.code.status(), &serde_json::json!({ "errors": [error] }));
        if let Some(challenge) = extra.challenge {
            response = response.with_header(header::WWW_AUTHENTICATE, challenge);
        }
        for (name, value) in extra.headers {
            response = response.with_header(name, value);
        }
        response
    }
}

impl From<Refusal> for V2Error {
    fn from(refusal: Refusal) -> V2Error {
        let code = match refusal.status {
            StatusCode::UNAUTHORIZED => Code::Unauthorized,
            StatusCode::FORBIDDEN => Code::Denied,
            StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
            _ => Code::Unknown,
        };
        let mut error = V2Error::new(code, refusal.message);
        if refusal.challenge.is_some() {
            error.extra().challenge = refusal.challenge;
        }
        error
    }
}

impl From<std::io::Error> for V2Error {
    fn from(error: std::io::Error) -> V2Error {
        tracing::error!(%error, "registry storage failed");
        V2Error::new(Code::Unknown, format!("storage error: {error}"))
    }
}
