//! What a case concludes, and how an id's status follows from its cases.

use serde::{Deserialize, Serialize};

/// Why a case did not check its behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SkipKind {
    /// 2014 behaviour that later Docker dropped; the engine says (by what it reports) that
    /// it follows the later behaviour.
    Legacy,
    /// The engine departs from the 2014 documentation, for the recorded reason.
    Divergence,
    /// This machine cannot show the behaviour (a kernel feature is missing, for instance).
    Environment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(SkipKind, String),
}

pub fn skip(kind: SkipKind, reason: impl Into<String>) -> Outcome {
    Outcome::Skipped(kind, reason.into())
}

/// The status an id gets in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Skipped,
    Failed,
    Uncovered,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Uncovered => "uncovered",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [Status::Passed, Status::Skipped, Status::Failed, Status::Uncovered].into_iter().find(|s| s.as_str() == text)
    }

    /// An id's status from its cases' outcomes: any failure fails it; otherwise any pass
    /// passes it; a case-less id is uncovered.
    pub fn of(outcomes: &[&Outcome]) -> Status {
        if outcomes.is_empty() {
            Status::Uncovered
        } else if outcomes.iter().any(|o| matches!(o, Outcome::Failed(_))) {
            Status::Failed
        } else if outcomes.iter().any(|o| matches!(o, Outcome::Passed)) {
            Status::Passed
        } else {
            Status::Skipped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_of_outcomes() {
        let pass = Outcome::Passed;
        let fail = Outcome::Failed("x".into());
        let skipped = skip(SkipKind::Legacy, "y");
        assert_eq!(Status::of(&[]), Status::Uncovered);
        assert_eq!(Status::of(&[&pass, &fail]), Status::Failed);
        assert_eq!(Status::of(&[&pass, &skipped]), Status::Passed);
        assert_eq!(Status::of(&[&skipped]), Status::Skipped);
        assert_eq!(Status::parse("passed"), Some(Status::Passed));
        assert_eq!(Status::parse("ok"), None);
    }
}
