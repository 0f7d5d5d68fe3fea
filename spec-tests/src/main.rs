//! `conformance`: runs the catalogue's cases against the engine at DOCKER_HOST with the CLI at
//! DOCKER_CLI, writes reports/conformance/<engine>.{json,md,html}, prints a summary per area,
//! and (with --expect) fails when the result differs from the recorded expectations.
//! `conformance compare A.json B.json [DIR]` puts two engines' reports side by side.

mod cases;
mod catalogue;
mod daemon;
mod engine;
mod expect;
mod html;
mod outcome;
mod profile;
mod report;

use anyhow::{bail, Context};
use engine::Engine;
use outcome::Outcome;
use report::{CaseResult, Report};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: conformance [--engine NAME|PROFILE] [--report-dir DIR] [--expect FILE] \
[--update-expectations] [--only TEXT] [--skip TEXT]... [--jobs N] [--list]
environment: DOCKER_HOST (required), DOCKER_CLI (default docker), DAEMON_BIN (the engine's daemon\nprogram, default from the profile), ENGINE (default berth), ENGINE_BRIDGE (the\nbridge the engine was started on, when not its profile's), REGISTRY_URL, INDEX_URL";

/// How long one case may take before it counts as failed.
const CASE_TIMEOUT: Duration = Duration::from_secs(300);

struct Options {
    engine: String,
    report_dir: PathBuf,
    expect: Option<PathBuf>,
    update: bool,
    only: Option<String>,
    /// Cases whose name or an id contains one of these are left out (vm/ runs a fast subset).
    skip: Vec<String>,
    jobs: usize,
    list: bool,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        engine: std::env::var("ENGINE").unwrap_or_else(|_| "berth".into()),
        report_dir: PathBuf::from("reports/conformance"),
        expect: None,
        update: false,
        only: None,
        skip: Vec::new(),
        jobs: 4,
        list: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--engine" => o.engine = value("--engine")?,
            "--report-dir" => o.report_dir = value("--report-dir")?.into(),
            "--expect" => o.expect = Some(value("--expect")?.into()),
            "--update-expectations" => o.update = true,
            "--only" => o.only = Some(value("--only")?),
            "--skip" => o.skip.push(value("--skip")?),
            "--jobs" => o.jobs = value("--jobs")?.parse().context("--jobs takes a number")?,
            "--list" => o.list = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("compare") {
        return compare(std::env::args().skip(2).collect());
    }
    let o = options()?;
    let catalogue = catalogue::load();
    let selected: Vec<&'static cases::Case> = cases::all()
        .into_iter()
        .filter(|c| o.only.as_ref().is_none_or(|t| matches(c, t)) && !o.skip.iter().any(|t| matches(c, t)))
        .collect();
    if o.list {
        for case in &selected {
            println!("{:<28} {}", case.name, case.ids.join(" "));
        }
        return Ok(());
    }
    let profile = profile::Profile::load(&o.engine)?;
    let docker_host = std::env::var("DOCKER_HOST").context("DOCKER_HOST must name the engine under test")?;
    let cli = std::env::var("DOCKER_CLI").unwrap_or_else(|_| "docker".into());
    let engine = Arc::new(Engine::connect(docker_host, cli, profile).await?);
    let started = Instant::now();
    let results = run_cases(&engine, &selected, o.jobs.max(1)).await;
    let mut rows = report::rows(&catalogue, &results);
    if let Some(text) = o.expect.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
        let known = expect::parse(&text).map_err(anyhow::Error::msg)?;
        for row in &mut rows {
            row.known =
                known.get(&row.id).filter(|k| k.status == row.status).map(|k| k.note.clone()).unwrap_or_default();
        }
    }
    let report = Report {
        engine: engine.profile.name.clone(),
        engine_version: engine.version.version.clone(),
        api_version: engine.version.api_version.clone(),
        min_api_version: engine.min_api().to_string(),
        docker_host: engine.docker_host.clone(),
        cli: engine.cli.clone(),
        seconds: started.elapsed().as_secs_f64(),
        summary: report::summary(&rows),
        rows,
    };
    report::write(&report, &o.report_dir)
        .with_context(|| format!("cannot write the report under {}", o.report_dir.display()))?;
    print!("{}", report::summary_text(&report));
    println!("report: {}/{}.md", o.report_dir.display(), report.engine);
    if let Some(path) = &o.expect {
        check_expectations(&report, path, o.update, o.only.is_some() || !o.skip.is_empty())?;
    }
    Ok(())
}

/// `compare A.json B.json [DIR]`: writes DIR/compare.md and compare.html (DIR defaults to the
/// first report's directory) and prints the Markdown.
fn compare(args: Vec<String>) -> anyhow::Result<()> {
    let [a, b, rest @ ..] = args.as_slice() else {
        bail!("usage: conformance compare A.json B.json [DIR]");
    };
    let read = |path: &str| -> anyhow::Result<Report> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the report {path}"))?;
        serde_json::from_str(&text).with_context(|| format!("{path} is not a conformance report"))
    };
    let (a_report, b_report) = (read(a)?, read(b)?);
    let dir = rest
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(a).parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")));
    let comparison = html::compare(&a_report, &b_report);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("compare.md"), &comparison.markdown)?;
    std::fs::write(dir.join("compare.html"), &comparison.html)?;
    print!("{}", comparison.markdown);
    println!("comparison: {}/compare.html ({} ids differ)", dir.display(), comparison.differing);
    Ok(())
}

/// Whether a case's name or one of its ids contains `text`.
fn matches(case: &cases::Case, text: &str) -> bool {
    case.name.contains(text) || case.ids.iter().any(|id| id.contains(text))
}

async fn run_cases(engine: &Arc<Engine>, selected: &[&'static cases::Case], jobs: usize) -> Vec<CaseResult> {
    let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
    let mut set = tokio::task::JoinSet::new();
    for (index, case) in selected.iter().copied().enumerate() {
        let engine = engine.clone();
        let permits = permits.clone();
        set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let outcome = match tokio::time::timeout(CASE_TIMEOUT, tokio::spawn((case.run)(engine))).await {
                Err(_) => Outcome::Failed(format!("did not finish within {CASE_TIMEOUT:?}")),
                Ok(Err(join)) => Outcome::Failed(format!("the case panicked: {join}")),
                Ok(Ok(Err(e))) => Outcome::Failed(format!("{e:#}")),
                Ok(Ok(Ok(outcome))) => outcome,
            };
            eprintln!("{:<8} {}", label(&outcome), case.name);
            (index, CaseResult { name: case.name, ids: case.ids, outcome })
        });
    }
    let mut results: Vec<(usize, CaseResult)> = set.join_all().await;
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "ok",
        Outcome::Failed(_) => "FAILED",
        Outcome::Skipped(..) => "skipped",
    }
}

fn check_expectations(report: &Report, path: &PathBuf, update: bool, partial: bool) -> anyhow::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(text) => expect::parse(&text).map_err(anyhow::Error::msg)?,
        Err(_) if update => Default::default(),
        Err(e) => bail!("cannot read expectations {}: {e}", path.display()),
    };
    if update {
        if partial {
            bail!("--update-expectations needs a full run (no --only or --skip)");
        }
        std::fs::write(path, expect::render(&report.rows, &report.engine, &old))?;
        println!("expectations written to {}", path.display());
        return Ok(());
    }
    let rows: Vec<_> =
        report.rows.iter().filter(|r| !partial || r.status != outcome::Status::Uncovered).cloned().collect();
    let expected =
        if partial { old.into_iter().filter(|(id, _)| rows.iter().any(|r| &r.id == id)).collect() } else { old };
    let diffs = expect::differences(&rows, &expected);
    if diffs.is_empty() {
        println!("every id matches {}", path.display());
        return Ok(());
    }
    for d in &diffs {
        eprintln!("{d}");
    }
    bail!("{} ids differ from {}", diffs.len(), path.display())
}
