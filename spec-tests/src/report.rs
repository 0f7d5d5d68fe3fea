//! The report: every catalogue id with its status and reason, as JSON for tools and Markdown
//! and Markdown and HTML for people, plus a one-screen summary per area.

use crate::catalogue::Entry;
use crate::outcome::{Outcome, SkipKind, Status};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub area: String,
    pub section: String,
    pub title: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_kind: Option<SkipKind>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub cases: Vec<String>,
    /// Why this engine is known not to pass this id, from its expectations file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub known: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub engine: String,
    pub engine_version: String,
    pub api_version: String,
    pub min_api_version: String,
    pub docker_host: String,
    pub cli: String,
    pub seconds: f64,
    pub summary: BTreeMap<String, BTreeMap<Status, usize>>,
    pub rows: Vec<Row>,
}

/// One case's result, as the runner collected it.
pub struct CaseResult {
    pub name: &'static str,
    pub ids: &'static [&'static str],
    pub outcome: Outcome,
}

pub fn rows(catalogue: &[Entry], results: &[CaseResult]) -> Vec<Row> {
    catalogue
        .iter()
        .map(|entry| {
            let mine: Vec<&CaseResult> = results.iter().filter(|r| r.ids.contains(&entry.id.as_str())).collect();
            let outcomes: Vec<&Outcome> = mine.iter().map(|r| &r.outcome).collect();
            let status = Status::of(&outcomes);
            let (skip_kind, reason) = explain(&mine, status);
            Row {
                id: entry.id.clone(),
                area: entry.area.clone(),
                section: entry.section.clone(),
                title: entry.title.clone(),
                status,
                skip_kind,
                reason,
                cases: mine.iter().map(|r| r.name.to_string()).collect(),
                known: String::new(),
            }
        })
        .collect()
}

/// The reason shown for an id: its failures, or its skips, with the case names.
fn explain(results: &[&CaseResult], status: Status) -> (Option<SkipKind>, String) {
    let mut kind = None;
    let reasons: Vec<String> = results
        .iter()
        .filter_map(|r| match (&r.outcome, status) {
            (Outcome::Failed(why), Status::Failed) => Some(format!("{}: {why}", r.name)),
            (Outcome::Skipped(k, why), Status::Skipped | Status::Passed) => {
                kind.get_or_insert(*k);
                Some(format!("{}: {why}", r.name))
            }
            _ => None,
        })
        .collect();
    (if status == Status::Skipped { kind } else { None }, reasons.join("; "))
}

pub fn summary(rows: &[Row]) -> BTreeMap<String, BTreeMap<Status, usize>> {
    let mut summary: BTreeMap<String, BTreeMap<Status, usize>> = BTreeMap::new();
    for row in rows {
        *summary.entry(row.area.clone()).or_default().entry(row.status).or_default() += 1;
    }
    summary
}

const STATUSES: [Status; 4] = [Status::Passed, Status::Failed, Status::Skipped, Status::Uncovered];

/// The per-area table printed at the end of a run.
pub fn summary_text(report: &Report) -> String {
    let mut out = format!(
        "conformance of {} {} (API {}, min {}) in {:.1}s\n{:<12}{:>8}{:>8}{:>8}{:>10}{:>7}\n",
        report.engine,
        report.engine_version,
        report.api_version,
        report.min_api_version,
        report.seconds,
        "area",
        "passed",
        "failed",
        "skipped",
        "uncovered",
        "total"
    );
    let mut totals = [0usize; 4];
    for (area, counts) in &report.summary {
        let n: Vec<usize> = STATUSES.iter().map(|s| counts.get(s).copied().unwrap_or(0)).collect();
        let _ = writeln!(out, "{area:<12}{:>8}{:>8}{:>8}{:>10}{:>7}", n[0], n[1], n[2], n[3], n.iter().sum::<usize>());
        for (t, v) in totals.iter_mut().zip(&n) {
            *t += v;
        }
    }
    let _ = writeln!(
        out,
        "{:<12}{:>8}{:>8}{:>8}{:>10}{:>7}",
        "all",
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        totals.iter().sum::<usize>()
    );
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(report: &Report) -> String {
    let mut out = format!("# Conformance report: {}\n\n", report.engine);
    let _ = writeln!(
        out,
        "Engine version {}, API {} (minimum {}), reached at `{}` with CLI `{}`.\n",
        report.engine_version, report.api_version, report.min_api_version, report.docker_host, report.cli
    );
    let _ = writeln!(out, "```\n{}```\n", summary_text(report));
    let mut area = "";
    for row in &report.rows {
        if row.area != area {
            area = &row.area;
            let _ = writeln!(
                out,
                "\n## {area}\n\n| id | status | section | title | reason |\n| --- | --- | --- | --- | --- |"
            );
        }
        let status = match row.skip_kind {
            Some(kind) => format!(
                "skipped ({})",
                serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
            ),
            None => row.status.as_str().to_string(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {status} | {} | {} | {} |",
            row.id,
            cell(&row.section),
            cell(&row.title),
            cell(&row.reason)
        );
    }
    out
}

pub fn write(report: &Report, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(format!("{}.json", report.engine)), json)?;
    std::fs::write(dir.join(format!("{}.md", report.engine)), markdown(report))?;
    std::fs::write(dir.join(format!("{}.html", report.engine)), crate::html::page(report))
}
