//! The event log: every container and image event, kept in a bounded history for `--since`
//! and broadcast to `events` streams as it happens (5.1.10, API 1.3).

use berth_api::containers::{Actor, Event};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Events kept for clients that ask for the past.
const HISTORY: usize = 2048;

pub struct Events {
    history: Mutex<VecDeque<Event>>,
    live: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Self {
        Events { history: Mutex::new(VecDeque::with_capacity(HISTORY)), live: broadcast::channel(1024).0 }
    }
}

impl Events {
    /// Records a container event: `status` and `from` as 2014 clients read them, plus today's
    /// Type/Action/Actor.
    pub fn container(&self, action: &str, id: &str, image: &str, name: &str, extra: &[(&str, String)]) {
        let mut attributes: BTreeMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        attributes.insert("image".into(), image.to_string());
        attributes.insert("name".into(), name.trim_start_matches('/').to_string());
        self.publish(Event {
            status: action.to_string(),
            id: id.to_string(),
            from: image.to_string(),
            kind: "container".into(),
            action: action.to_string(),
            actor: Actor { id: id.to_string(), attributes },
            ..Default::default()
        });
    }

    /// Records an image event (tag, untag, delete, import, load, pull, push, save).
    pub fn image(&self, action: &str, id: &str, name: &str) {
        let attributes = BTreeMap::from([("name".to_string(), name.to_string())]);
        self.publish(Event {
            status: action.to_string(),
            id: id.to_string(),
            kind: "image".into(),
            action: action.to_string(),
            actor: Actor { id: id.to_string(), attributes },
            ..Default::default()
        });
    }

    /// Records a volume event (create, mount, unmount, destroy), with no 2014 fields.
    pub fn volume(&self, action: &str, name: &str, attributes: &[(&str, String)]) {
        let attributes = attributes.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        self.publish(Event {
            kind: "volume".into(),
            action: action.to_string(),
            actor: Actor { id: name.to_string(), attributes },
            ..Default::default()
        });
    }

    /// Records a network event (create, connect, disconnect, destroy), with no 2014 fields.
    pub fn network(&self, action: &str, id: &str, name: &str, extra: &[(&str, String)]) {
        let mut attributes: BTreeMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        attributes.insert("name".into(), name.to_string());
        self.publish(Event {
            kind: "network".into(),
            action: action.to_string(),
            actor: Actor { id: id.to_string(), attributes },
            ..Default::default()
        });
    }

    fn publish(&self, mut event: Event) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        event.time = now.as_secs() as i64;
        event.time_nano = now.as_nanos() as i64;
        event.scope = "local".into();
        {
            let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back(event.clone());
        }
        let _ = self.live.send(event);
    }

    /// Past events from `since` (nanoseconds) up to now, and a receiver for what follows.
    pub fn subscribe(&self, since_nanos: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let receiver = self.live.subscribe();
        let past = match since_nanos {
            Some(since) => history.iter().filter(|e| e.time_nano >= since).cloned().collect(),
            None => Vec::new(),
        };
        (past, receiver)
    }

    pub fn listeners(&self) -> usize {
        self.live.receiver_count()
    }
}
