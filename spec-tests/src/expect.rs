//! Expectations: the status each id is known to reach on an engine, kept in the repository
//! like a browser's known-failures list. A run that differs in either direction is reported,
//! so regressions fail and fixed cases get their expectation updated.

use crate::outcome::Status;
use crate::report::Row;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One id's recorded status, and why when it is not a pass (a known divergence, a missing
/// feature), as the line's `# comment` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub status: Status,
    pub note: String,
}

pub fn parse(text: &str) -> Result<BTreeMap<String, Expected>, String> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (line, note) = line.split_once('#').map_or((line, ""), |(l, c)| (l, c.trim()));
        let mut fields = line.split_whitespace();
        let (Some(id), Some(status)) = (fields.next(), fields.next()) else {
            return Err(format!("expectations line {}: expected `id status`", n + 1));
        };
        let status =
            Status::parse(status).ok_or_else(|| format!("expectations line {}: unknown status {status:?}", n + 1))?;
        if map.insert(id.to_string(), Expected { status, note: note.to_string() }).is_some() {
            return Err(format!("expectations line {}: {id} listed twice", n + 1));
        }
    }
    Ok(map)
}

/// The expectations for a run, keeping the notes of ids whose status did not change.
pub fn render(rows: &[Row], engine: &str, old: &BTreeMap<String, Expected>) -> String {
    let mut out = format!(
        "# Expected status of every catalogue id on {engine}, with the reason after `#` where it is\n\
         # not a pass. A run that differs fails. Regenerate after a real change (see README).\n"
    );
    for row in rows {
        let kept = old.get(&row.id).filter(|e| e.status == row.status && !e.note.is_empty()).map(|e| e.note.clone());
        match kept.or_else(|| run_note(row)) {
            Some(note) => {
                let _ = writeln!(out, "{} {}  # {}", row.id, row.status.as_str(), note);
            }
            None => {
                let _ = writeln!(out, "{} {}", row.id, row.status.as_str());
            }
        }
    }
    out
}

/// For a skipped or failed id with no note yet: the first line of the run's reason, with the
/// kind of skip, short enough for one line of the file.
fn run_note(row: &Row) -> Option<String> {
    if !matches!(row.status, Status::Skipped | Status::Failed) {
        return None;
    }
    let first = row.reason.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut note: String = first.replace('#', "no.").chars().take(200).collect();
    if note.len() < first.len() {
        note.push('…');
    }
    Some(match row.skip_kind {
        Some(kind) => format!("{}: {note}", format!("{kind:?}").to_lowercase()),
        None => note,
    })
}

/// Every difference between a run and the expectations, worded for the person fixing it.
pub fn differences(rows: &[Row], expected: &BTreeMap<String, Expected>) -> Vec<String> {
    let mut out = Vec::new();
    for row in rows {
        let want = expected.get(&row.id).map_or(Status::Uncovered, |e| e.status);
        if want == row.status {
            continue;
        }
        let better = row.status == Status::Passed || (row.status != Status::Failed && want == Status::Failed);
        let reason = if row.reason.is_empty() { String::new() } else { format!(": {}", row.reason) };
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
    for id in expected.keys().filter(|id| !rows.iter().any(|r| &r.id == *id)) {
        out.push(format!("{id}: in the expectations but not in the catalogue"));
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
            known: String::new(),
        }
    }

    #[test]
    fn differences_in_both_directions() {
        let expected = parse("# c\na passed\nb failed  # known divergence\nc passed\ngone uncovered\n").unwrap();
        assert_eq!(expected["b"].note, "known divergence");
        let rows =
            [row("a", Status::Passed), row("b", Status::Passed), row("c", Status::Failed), row("d", Status::Uncovered)];
        let diffs = differences(&rows, &expected);
        assert_eq!(diffs.len(), 3, "{diffs:?}");
        assert!(diffs[0].starts_with("b: expected failed, now passed"));
        assert!(diffs[1].starts_with("c: REGRESSION"));
        assert!(diffs[2].starts_with("gone:"));
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let rows = [row("a", Status::Passed), row("b", Status::Skipped)];
        let old = parse("b skipped  # why\n").unwrap();
        let text = render(&rows, "berth", &old);
        assert!(text.contains("b skipped  # why\n"));
        let parsed = parse(&text).unwrap();
        assert!(differences(&rows, &parsed).is_empty());
        assert!(parse("a maybe").is_err());
        assert!(parse("a passed\na failed").is_err());
        assert!(parse("lonely").is_err());
    }
}
