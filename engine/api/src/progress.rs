//! The JSON message stream of pulls, pushes, imports, loads and builds: one object per line,
//! `{"status": ...}`, `{"stream": ...}`, progress with `progressDetail` (1.8), and errors as
//! `{"error": ..., "errorDetail": {...}}` while the HTTP status stays 200 (1.1).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Message {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stream: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub progress: String,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProgressDetail {
    pub current: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorDetail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    pub message: String,
}

impl Message {
    pub fn status(text: impl Into<String>) -> Message {
        Message { status: text.into(), ..Default::default() }
    }

    pub fn stream(text: impl Into<String>) -> Message {
        Message { stream: text.into(), ..Default::default() }
    }

    pub fn error(text: impl Into<String>) -> Message {
        let message = text.into();
        Message {
            error: message.clone(),
            error_detail: Some(ErrorDetail { code: None, message }),
            ..Default::default()
        }
    }

    /// The message as one line of the stream.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        line
    }
}
