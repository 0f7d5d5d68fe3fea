//! Response bodies and errors: JSON answers, plain text, and the `{"message"}` error shape
//! (plain text for clients older than API 1.23, as Docker answered them).

use berth_api::{ApiVersion, ErrorResponse};
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};

/// The body type of every response: whole or streamed.
pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;

pub type Reply = Response<Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn empty_body() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Reply {
    let mut reply = Response::new(body);
    *reply.status_mut() = status;
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

/// A JSON answer.
pub fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Result<Reply, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))?;
    Ok(with_type(status, "application/json", full(bytes)))
}

/// A plain text answer.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
    with_type(status, "text/plain; charset=utf-8", full(body))
}

/// An answer with no body, such as 204.
pub fn empty(status: StatusCode) -> Reply {
    let mut reply = Response::new(empty_body());
    *reply.status_mut() = status;
    reply
}

/// An error as the API reports it: a status code and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The error as the client of `version` expects to read it.
    pub fn into_reply(self, version: ApiVersion) -> Reply {
        if version.before(1, 23) {
            return text(self.status, format!("{}\n", self.message));
        }
        let body = serde_json::to_vec(&ErrorResponse { message: self.message }).unwrap_or_default();
        with_type(self.status, "application/json", full(body))
    }
}
