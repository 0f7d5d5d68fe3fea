//! The JSON progress stream of pulls and pushes (1.8): statuses, per-layer lines keyed by a
//! 12-character id, and byte counts with `progressDetail` and a docker-style bar.

use berth_api::progress::{Message, ProgressDetail};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where messages go.
pub type Sink = Arc<dyn Fn(Message) + Send + Sync>;

/// Sends progress messages; cheap to clone.
#[derive(Clone)]
pub struct Progress {
    sink: Sink,
}

impl Progress {
    pub fn new(sink: Sink) -> Progress {
        Progress { sink }
    }

    /// A progress that drops everything.
    pub fn discard() -> Progress {
        Progress { sink: Arc::new(|_| {}) }
    }

    pub fn send(&self, message: Message) {
        (self.sink)(message);
    }

    pub fn status(&self, text: impl Into<String>) {
        self.send(Message::status(text));
    }

    /// A status about one layer or tag.
    pub fn item(&self, id: &str, text: impl Into<String>) {
        let mut message = Message::status(text);
        message.id = short(id).to_string();
        if matches!(message.status.as_str(), "Pulling fs layer" | "Waiting" | "Preparing") {
            message.progress_detail = Some(ProgressDetail::default());
        }
        self.send(message);
    }

    /// Bytes moved so far for one layer.
    pub fn bytes(&self, id: &str, text: &str, current: u64, total: Option<u64>) {
        let mut message = Message::status(text);
        message.id = short(id).to_string();
        message.progress = bar(current, total);
        message.progress_detail = Some(ProgressDetail { current, total });
        self.send(message);
    }
}

/// The 12-character form of an id or digest.
pub fn short(id: &str) -> &str {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    if hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        &hex[..12]
    } else {
        id
    }
}

/// Sizes as docker prints them: `1.049MB`, `512B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = if value >= 100.0 {
        1
    } else if value >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    let trimmed = text.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed}{}", UNITS[unit])
}

/// `[=====>      ]  1.2MB/3.4MB`, or the count alone when the total is unknown.
pub fn bar(current: u64, total: Option<u64>) -> String {
    match total.filter(|t| *t > 0) {
        Some(total) => {
            let width = 50usize;
            let filled = ((current.min(total) as f64 / total as f64) * width as f64) as usize;
            let arrow = if filled == 0 {
                " ".repeat(width)
            } else {
                format!("{}>{}", "=".repeat(filled - 1), " ".repeat(width - filled))
            };
            format!("[{arrow}] {:>8}/{}", human(current), human(total))
        }
        None => human(current),
    }
}

/// Rate-limits byte updates to a few per second.
pub struct Throttle {
    last: Option<Instant>,
}

impl Throttle {
    pub fn new() -> Throttle {
        Throttle { last: None }
    }

    pub fn ready(&mut self) -> bool {
        let now = Instant::now();
        if self.last.is_some_and(|l| now.duration_since(l) < Duration::from_millis(100)) {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_bars() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1_048_576), "1.049MB");
        assert_eq!(human(200_000_000), "200MB");
        assert!(bar(50, Some(100)).starts_with("[========================>"));
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short("latest"), "latest");
    }
}
