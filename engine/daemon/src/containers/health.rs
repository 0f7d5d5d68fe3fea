//! Health checks (`HEALTHCHECK`, `--health-cmd`): while a container runs, its check command is
//! run in it every interval; the status goes from starting to healthy, or to unhealthy after
//! `retries` failures in a row, and each change is an event (`health_status: healthy`).

use crate::engine::Engine;
use berth_api::container::Healthcheck;
use berth_api::containers::{Health, HealthLog};
use std::sync::Arc;
use std::time::Duration;

/// Docker's defaults.
const INTERVAL: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(30);
const RETRIES: i64 = 3;
/// How many results inspect keeps.
const LOG_ENTRIES: usize = 5;

fn duration(nanos: i64, default: Duration) -> Duration {
    if nanos > 0 {
        Duration::from_nanos(nanos as u64)
    } else {
        default
    }
}

/// The command a check runs, or `None` for no check (`NONE` or nothing).
pub fn command(check: &Healthcheck) -> Option<Vec<String>> {
    let test = check.test.as_ref()?;
    match test.first().map(String::as_str) {
        Some("CMD") => Some(test[1..].to_vec()),
        Some("CMD-SHELL") => Some(vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]),
        Some("NONE") | None => None,
        Some(_) => Some(vec!["/bin/sh".into(), "-c".into(), test.join(" ")]),
    }
}

impl Engine {
    /// Starts checking a container that just started, if its config has a check.
    pub(crate) fn start_health(self: &Arc<Self>, id: &str, started: u64) {
        let Ok(record) = self.containers.with(id, |e| e.record.clone()) else { return };
        let Some(check) = record.config.healthcheck.clone() else { return };
        let Some(args) = command(&check) else { return };
        let _ = self
            .containers
            .update(id, |c| c.state.health = Some(Health { status: "starting".into(), ..Default::default() }));
        let engine = self.clone();
        let id = id.to_string();
        tokio::spawn(async move { engine.health_loop(&id, started, &check, args).await });
    }

    async fn health_loop(&self, id: &str, started: u64, check: &Healthcheck, args: Vec<String>) {
        let interval = duration(check.interval, INTERVAL);
        let timeout = duration(check.timeout, TIMEOUT);
        let retries = if check.retries > 0 { check.retries } else { RETRIES };
        let start_period = duration(check.start_period, Duration::ZERO);
        let began = std::time::Instant::now();
        loop {
            tokio::time::sleep(interval).await;
            let still = self
                .containers
                .with(id, |e| e.record.state.running && e.changes.borrow().exits == started)
                .unwrap_or(false);
            if !still {
                return;
            }
            let result = self.probe(id, &args, timeout).await;
            let in_start_period = began.elapsed() < start_period;
            self.record_probe(id, result, retries, in_start_period);
        }
    }

    /// Runs the check once: its exit code and output, or a timeout.
    async fn probe(&self, id: &str, args: &[String], timeout: Duration) -> HealthLog {
        let start = berth_api::time::now_rfc3339();
        let run = async {
            let monitor =
                self.containers.with(id, |e| e.monitor.clone()).ok().flatten().ok_or("the container is not running")?;
            let env = self.containers.with(id, |e| e.record.config.env.clone().unwrap_or_default()).unwrap_or_default();
            let spec = berth_runtime::ExecSpec { args: args.to_vec(), env, ..Default::default() };
            let (mut stream, handle) = monitor.exec(&spec).await.map_err(|_| "cannot run the check")?;
            let mut output = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut output).await;
            let code = handle.wait().await.map_err(|_| "the check did not report an exit")?;
            let text: Vec<u8> =
                berth_api::stdcopy::Demux::default().push(&output).into_iter().flat_map(|(_, d)| d).collect();
            Ok::<_, &str>((i64::from(code), String::from_utf8_lossy(&text).into_owned()))
        };
        let (exit_code, output) = match tokio::time::timeout(timeout, run).await {
            Ok(Ok(result)) => result,
            Ok(Err(why)) => (-1, why.to_string()),
            Err(_) => (-1, format!("Health check exceeded timeout ({timeout:?})")),
        };
        HealthLog { start, end: berth_api::time::now_rfc3339(), exit_code, output }
    }

    fn record_probe(&self, id: &str, result: HealthLog, retries: i64, in_start_period: bool) {
        let passed = result.exit_code == 0;
        let mut changed = None;
        let record = self.containers.update(id, |c| {
            let health = c.state.health.get_or_insert_with(Health::default);
            let before = health.status.clone();
            if passed {
                health.failing_streak = 0;
                health.status = "healthy".into();
            } else if !in_start_period {
                health.failing_streak += 1;
                if health.failing_streak >= retries {
                    health.status = "unhealthy".into();
                }
            }
            health.log.push(result);
            let excess = health.log.len().saturating_sub(LOG_ENTRIES);
            health.log.drain(..excess);
            if health.status != before {
                changed = Some(health.status.clone());
            }
        });
        if let (Ok(record), Some(status)) = (record, changed) {
            self.events.container(
                &format!("health_status: {status}"),
                id,
                &self.event_image(&record),
                &record.name,
                &[],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: &[&str]) -> Healthcheck {
        Healthcheck { test: Some(test.iter().map(|s| s.to_string()).collect()), ..Default::default() }
    }

    #[test]
    fn commands_of_each_form() {
        assert_eq!(command(&check(&["CMD", "true"])).unwrap(), ["true"]);
        assert_eq!(command(&check(&["CMD-SHELL", "test -f /ok"])).unwrap(), ["/bin/sh", "-c", "test -f /ok"]);
        assert!(command(&check(&["NONE"])).is_none());
        assert!(command(&Healthcheck::default()).is_none());
    }
}
