//! `GET /events`: stored events since a time, then live ones as they happen, one JSON object
//! per line, until `until` passes or the client leaves (5.1.10, API 1.3).

use super::response::{ApiError, Reply};
use super::Ctx;
use berth_api::containers::Event;
use http::{header, HeaderValue, Response};
use std::collections::BTreeMap;

/// A time as `--since`/`--until` give it: Unix seconds (with an optional fraction) or RFC 3339.
/// Returns nanoseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<f64>() {
        return Some((secs * 1e9) as i64);
    }
    berth_api::time::parse_rfc3339(text).map(|s| s * 1_000_000_000)
}

fn keep(event: &Event, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(key, values)| {
        values.iter().any(|v| match key.as_str() {
            "type" => event.kind == *v,
            "event" => event.action == *v,
            "container" => {
                event.kind == "container"
                    && (event.id.starts_with(v.as_str()) || event.actor.attributes.get("name") == Some(v))
            }
            "image" => event.from == *v || event.actor.attributes.get("image") == Some(v) || event.id == *v,
            "volume" => event.kind == "volume" && event.actor.id == *v,
            "label" => event.actor.attributes.contains_key(v.split('=').next().unwrap_or(v)),
            _ => true,
        })
    })
}

pub async fn events(ctx: Ctx) -> Result<Reply, ApiError> {
    let bad = |what: &str, v: &str| {
        ApiError::bad_request(format!("invalid {what} {v:?}: give Unix seconds or an RFC 3339 time"))
    };
    let since = match ctx.query.get("since").filter(|s| !s.is_empty()) {
        Some(v) => Some(parse_time(v).ok_or_else(|| bad("since", v))?),
        None => None,
    };
    let until = match ctx.query.get("until").filter(|s| !s.is_empty()) {
        Some(v) => Some(parse_time(v).ok_or_else(|| bad("until", v))?),
        None => None,
    };
    let filters = super::images::filters(&ctx)?;
    let (past, mut live) = ctx.engine.events.subscribe(since);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(256);
    tokio::spawn(async move {
        let before_until = |e: &Event| until.is_none_or(|u| e.time_nano <= u);
        for event in past.into_iter().filter(|e| before_until(e) && keep(e, &filters)) {
            if tx.send(event).await.is_err() {
                return;
            }
        }
        loop {
            let deadline = until.map(|u| {
                let now =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
                        as i64;
                std::time::Duration::from_nanos((u - now).max(0) as u64)
            });
            let next = match deadline {
                Some(d) => match tokio::time::timeout(d, live.recv()).await {
                    Ok(r) => r,
                    Err(_) => return,
                },
                None => live.recv().await,
            };
            match next {
                Ok(event) if before_until(&event) && keep(&event, &filters) => {
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
    let chunks = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(|event| {
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes::Bytes::from(line)))
    });
    let mut reply = Response::new(http_body_util::BodyExt::boxed_unsync(http_body_util::StreamBody::new(chunks)));
    reply.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(reply)
}

use futures_util::StreamExt;

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_in_every_form() {
        assert_eq!(parse_time("1400000000"), Some(1_400_000_000_000_000_000));
        assert_eq!(parse_time("1400000000.5"), Some(1_400_000_000_500_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:10Z"), Some(10_000_000_000));
        assert_eq!(parse_time("soon"), None);
    }
}
