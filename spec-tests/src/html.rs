//! The report as a static HTML page (a table per area, a colour per status), and the
//! side-by-side comparison of two engines' reports.

use crate::outcome::Status;
use crate::report::{Report, Row};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .5em;\
text-align:left;vertical-align:top}th{background:#f4f4f4}code{font-size:13px}\
.passed{background:#d7f5d7}.failed{background:#f9d0d0}.skipped{background:#fcefc7}\
.uncovered{background:#e6e6e6}td.n{text-align:right}";

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// A row's status as shown: the skip kind in brackets after "skipped".
fn shown(row: &Row) -> String {
    match row.skip_kind {
        Some(kind) => format!("skipped ({})", format!("{kind:?}").to_lowercase()),
        None => row.status.as_str().to_string(),
    }
}

/// Why a row is not a pass: the run's reason, then the expectation's note if it differs.
fn why(row: &Row) -> String {
    match (row.reason.is_empty(), row.known.is_empty() || row.known == row.reason) {
        (false, true) => row.reason.clone(),
        (false, false) => format!("{} (known: {})", row.reason, row.known),
        (true, false) => row.known.clone(),
        (true, true) => String::new(),
    }
}

fn head(title: &str) -> String {
    format!("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n", esc(title))
}

const STATUSES: [Status; 4] = [Status::Passed, Status::Failed, Status::Skipped, Status::Uncovered];

fn count(report: &Report, area: &str, status: Status) -> usize {
    report.summary.get(area).and_then(|c| c.get(&status)).copied().unwrap_or(0)
}

/// One engine's report as a page.
pub fn page(report: &Report) -> String {
    let mut out = head(&format!("Conformance of {}", report.engine));
    let _ = writeln!(
        out,
        "<h1>Conformance of {} {}</h1>\n<p>API {} (minimum {}), reached at <code>{}</code> with the CLI <code>{}</code>, in {:.0} s.</p>",
        esc(&report.engine),
        esc(&report.engine_version),
        esc(&report.api_version),
        esc(&report.min_api_version),
        esc(&report.docker_host),
        esc(&report.cli),
        report.seconds
    );
    out.push_str("<table><tr><th>area</th>");
    for status in STATUSES {
        let _ = write!(out, "<th class=\"{0}\">{0}</th>", status.as_str());
    }
    out.push_str("<th>total</th></tr>\n");
    for area in report.summary.keys() {
        let counts: Vec<usize> = STATUSES.iter().map(|s| count(report, area, *s)).collect();
        let _ = write!(out, "<tr><td><a href=\"#{0}\">{0}</a></td>", esc(area));
        for n in &counts {
            let _ = write!(out, "<td class=\"n\">{n}</td>");
        }
        let _ = writeln!(out, "<td class=\"n\">{}</td></tr>", counts.iter().sum::<usize>());
    }
    out.push_str("</table>\n");
    let mut area = "";
    for row in &report.rows {
        if row.area != area {
            if !area.is_empty() {
                out.push_str("</table>\n");
            }
            area = &row.area;
            let _ = writeln!(
                out,
                "<h2 id=\"{0}\">{0}</h2>\n<table><tr><th>id</th><th>status</th><th>section</th><th>title</th><th>reason</th><th>cases</th></tr>",
                esc(area)
            );
        }
        let _ = writeln!(
            out,
            "<tr class=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            row.status.as_str(),
            esc(&row.id),
            esc(&shown(row)),
            esc(&row.section),
            esc(&row.title),
            esc(&why(row)),
            esc(&row.cases.join(", "))
        );
    }
    if !area.is_empty() {
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// Two engines side by side: the summary per area, then every id whose status differs.
pub struct Comparison {
    pub markdown: String,
    pub html: String,
    pub differing: usize,
}

pub fn compare(a: &Report, b: &Report) -> Comparison {
    let areas: BTreeSet<&String> = a.summary.keys().chain(b.summary.keys()).collect();
    let rows_b: BTreeMap<&str, &Row> = b.rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let differing: Vec<(&Row, Option<&Row>)> = a
        .rows
        .iter()
        .map(|r| (r, rows_b.get(r.id.as_str()).copied()))
        .filter(|(r, other)| other.is_none_or(|o| o.status != r.status))
        .collect();
    let (na, nb) = (&a.engine, &b.engine);

    let mut md = format!("# {na} and {nb} side by side\n\n| area | {na} passed | {nb} passed | {na} failed | {nb} failed | {na} skipped | {nb} skipped |\n| --- | --- | --- | --- | --- | --- | --- |\n");
    let mut html = head(&format!("{na} and {nb} side by side"));
    let _ = writeln!(
        html,
        "<h1>{0} and {1} side by side</h1>\n<table><tr><th>area</th><th>{0} passed</th><th>{1} passed</th><th>{0} failed</th><th>{1} failed</th><th>{0} skipped</th><th>{1} skipped</th></tr>",
        esc(na),
        esc(nb)
    );
    for area in areas {
        let n = |r: &Report, s| count(r, area, s);
        let cells = [
            n(a, Status::Passed),
            n(b, Status::Passed),
            n(a, Status::Failed),
            n(b, Status::Failed),
            n(a, Status::Skipped),
            n(b, Status::Skipped),
        ];
        let _ = writeln!(md, "| {area} | {} |", cells.map(|c| c.to_string()).join(" | "));
        let _ = writeln!(
            html,
            "<tr><td>{}</td>{}</tr>",
            esc(area),
            cells.map(|c| format!("<td class=\"n\">{c}</td>")).join("")
        );
    }
    html.push_str("</table>\n");
    let _ = writeln!(
        md,
        "\n## {} ids where they differ\n\n| id | title | {na} | {nb} |\n| --- | --- | --- | --- |",
        differing.len()
    );
    let _ = writeln!(
        html,
        "<h2>{} ids where they differ</h2>\n<table><tr><th>id</th><th>title</th><th>{}</th><th>{}</th></tr>",
        differing.len(),
        esc(na),
        esc(nb)
    );
    let one = |row: Option<&Row>| match row {
        Some(r) if why(r).is_empty() => shown(r),
        Some(r) => format!("{}: {}", shown(r), why(r)),
        None => "absent".to_string(),
    };
    for (row, other) in &differing {
        let (left, right) = (one(Some(row)), one(*other));
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} |",
            row.id,
            row.title.replace('|', "\\|"),
            left.replace('|', "\\|").replace('\n', " "),
            right.replace('|', "\\|").replace('\n', " ")
        );
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td><td class=\"{}\">{}</td></tr>",
            esc(&row.id),
            esc(&row.title),
            row.status.as_str(),
            esc(&left),
            other.map_or("uncovered", |o| o.status.as_str()),
            esc(&right)
        );
    }
    html.push_str("</table>\n</body></html>\n");
    Comparison { markdown: md, html, differing: differing.len() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(engine: &str, rows: Vec<(&str, Status, &str)>) -> Report {
        let rows: Vec<Row> = rows
            .into_iter()
            .map(|(id, status, reason)| Row {
                id: id.into(),
                area: id.split('.').next().unwrap().into(),
                section: "5.1".into(),
                title: format!("title of {id}"),
                status,
                skip_kind: None,
                reason: reason.into(),
                cases: vec!["a case".into()],
                known: String::new(),
            })
            .collect();
        Report {
            engine: engine.into(),
            engine_version: "1".into(),
            api_version: "1.41".into(),
            min_api_version: "1.9".into(),
            docker_host: "unix:///x".into(),
            cli: "docker".into(),
            seconds: 1.0,
            summary: crate::report::summary(&rows),
            rows,
        }
    }

    #[test]
    fn page_escapes_and_colours_each_row() {
        let r = report("berth", vec![("api.a", Status::Passed, ""), ("api.b", Status::Failed, "got <b> & \"c\"")]);
        let page = page(&r);
        assert!(page.contains("<tr class=\"failed\"><td><code>api.b</code>"));
        assert!(page.contains("got &lt;b&gt; &amp; &quot;c&quot;"));
        assert!(page.contains("<tr class=\"passed\"><td><code>api.a</code>"));
        assert!(!page.contains("<b>"));
    }

    #[test]
    fn compare_lists_only_the_ids_that_differ() {
        let a = report("berth", vec![("api.a", Status::Passed, ""), ("api.b", Status::Failed, "boom")]);
        let b = report("moby", vec![("api.a", Status::Passed, ""), ("api.b", Status::Passed, "")]);
        let c = compare(&a, &b);
        assert_eq!(c.differing, 1);
        assert!(c.markdown.contains("| `api.b` | title of api.b | failed: boom | passed |"), "{}", c.markdown);
        assert!(!c.markdown.contains("`api.a`"));
        assert!(c.markdown.contains("| api | 1 | 2 | 1 | 0 | 0 | 0 |"), "{}", c.markdown);
    }
}
