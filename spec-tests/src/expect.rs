//! Expectations: the status each id is known to reach on an engine, kept in the repository
//! like a browser's known-failures list. A run that differs in either direction is reported,
//! so regressions fail and fixed cases get their expectation updated.

use crate::outcome::Status;
use crate::report::Row;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub fn parse(text: &str) -> Result<BTreeMap<String, Status>, String> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(id), Some(status)) = (fields.next(), fields.next()) else {
            return Err(format!("expectations line {}: expected `id status`", n + 1));
        };
        let status = Status::parse(status)
            .ok_or_else(|| format!("expectations line {}: unknown status {status:?}", n + 1))?;
        if map.insert(id.to_string(), status).is_some() {
            return Err(format!("expectations line {}: {id} listed twice", n + 1));
        }
    }
    Ok(map)
}

pub fn render(rows: &[Row], engine: &str) -> String {
    let mut out = format!(
        "# Expected status of every catalogue id on {engine}; the README's test command fails when\n\
         # a run differs. Regenerate with `just conformance-update` after a real change.\n"
    );
    for row in rows {
        let _ = writeln!(out, "{} {}", row.id, row.status.as_str());
    }
    out
}

/// Every difference between a run and the expectations, worded for the person fixing it.
pub fn differences(rows: &[Row], expected: &BTreeMap<String, Status>) -> Vec<String> {
    let mut out = Vec::new();
    for row in rows {
        let want = expected.get(&row.id).copied().unwrap_or(Status::Uncovered);
        if want == row.status {
            continue;
        }
        let better = row.status == Status::Passed
            || (row.status != Status::Failed && want == Status::Failed);
        let reason = if row.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", row.reason)
        };
        if better {
            out.push(format!(
                "{}: expected {}, now {} (update the expectations){reason}",
                row.id,
                want.as_str(),
                row.status.as_str()
            ));
        } else {
            out.push(format!(
                "{}: REGRESSION, expected {}, got {}{reason}",
                row.id,
                want.as_str(),
                row.status.as_str()
            ));
        }
    }
    for id in expected
        .keys()
        .filter(|id| !rows.iter().any(|r| &r.id == *id))
    {
        out.push(format!(
            "{id}: in the expectations but not in the catalogue"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, status: Status) -> Row {
        Row {
            id: id.into(),
            area: "a".into(),
            section: "s".into(),
            title: "t".into(),
            status,
            skip_kind: None,
            reason: String::new(),
            cases: vec![],
        }
    }

    #[test]
    fn differences_in_both_directions() {
        let expected = parse("# c\na passed\nb failed\nc passed\ngone uncovered\n").unwrap();
        let rows = [
            row("a", Status::Passed),
            row("b", Status::Passed),
            row("c", Status::Failed),
            row("d", Status::Uncovered),
        ];
        let diffs = differences(&rows, &expected);
        assert_eq!(diffs.len(), 3, "{diffs:?}");
        assert!(diffs[0].starts_with("b: expected failed, now passed"));
        assert!(diffs[1].starts_with("c: REGRESSION"));
        assert!(diffs[2].starts_with("gone:"));
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let rows = [row("a", Status::Passed), row("b", Status::Skipped)];
        let parsed = parse(&render(&rows, "berth")).unwrap();
        assert!(differences(&rows, &parsed).is_empty());
        assert!(parse("a maybe").is_err());
        assert!(parse("a passed\na failed").is_err());
        assert!(parse("lonely").is_err());
    }
}
