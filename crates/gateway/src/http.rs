//! What every adapter does the same way over HTTP: send, turn a non-2xx reply
//! into a typed error, read Server-Sent Events with an idle timeout.

use crate::GatewayError;
use eventsource_stream::{Event, Eventsource};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde_json::Value;
use std::time::Duration;

/// Sends `req`; a non-2xx status becomes a [`GatewayError`] read from the body.
/// `url` names the upstream in connection errors.
pub(crate) async fn send(
    req: reqwest::RequestBuilder,
    url: &str,
    timeout: Duration,
) -> Result<reqwest::Response, GatewayError> {
    let resp = req
        .send()
        .await
        .map_err(|e| transport_error(&e, url, timeout))?;
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(error_from_response(resp).await)
    }
}

/// Reads a whole JSON reply within `timeout`.
pub(crate) async fn json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    what: &str,
) -> Result<T, GatewayError> {
    let bytes = resp.bytes().await.map_err(|e| {
        GatewayError::Malformed(format!("reading {what} failed: {}", root_cause(&e)))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        GatewayError::Malformed(format!(
            "{what} is not what the protocol documents ({e}): {}",
            clip(&String::from_utf8_lossy(&bytes))
        ))
    })
}

pub(crate) fn transport_error(e: &reqwest::Error, url: &str, timeout: Duration) -> GatewayError {
    if e.is_timeout() {
        return GatewayError::Timeout(timeout);
    }
    GatewayError::Connect {
        url: url.to_string(),
        reason: root_cause(e),
    }
}

/// A non-2xx reply as a typed error. Every provider puts its message somewhere
/// else: OpenAI, Anthropic and Gemini in `error.message` (with `error.type` or
/// `error.status`), Bedrock in `message` with the kind in `x-amzn-ErrorType`.
pub(crate) async fn error_from_response(resp: reqwest::Response) -> GatewayError {
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers());
    let aws_kind = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_string());
    let text = resp.text().await.unwrap_or_default();
    let mut message = error_message(&text);
    if let Some(kind) = aws_kind
        && !message.contains(&kind)
    {
        message = format!("{message} ({kind})");
    }
    error_for_status(status, message, retry_after)
}

pub(crate) fn error_for_status(
    status: u16,
    message: String,
    retry_after: Option<Duration>,
) -> GatewayError {
    match status {
        401 | 403 => GatewayError::Unauthorized { status, message },
        429 => GatewayError::RateLimited {
            message,
            retry_after,
        },
        _ => GatewayError::Upstream { status, message },
    }
}

/// The human part of an error body, whichever provider wrote it.
pub(crate) fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        // Gemini's streaming errors come as a one-element array.
        let v = match v {
            Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            v => v,
        };
        match &v["error"] {
            Value::String(s) => Some(s.clone()),
            Value::Object(e) => {
                let message = e.get("message").and_then(Value::as_str)?.to_string();
                let kind = e
                    .get("type")
                    .or_else(|| e.get("status"))
                    .and_then(Value::as_str);
                Some(match kind {
                    Some(kind) if !message.contains(kind) => format!("{message} ({kind})"),
                    _ => message,
                })
            }
            _ => v
                .get("message")
                .or_else(|| v.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    });
    from_json.unwrap_or_else(|| {
        if body.trim().is_empty() {
            "no details given".into()
        } else {
            clip(body)
        }
    })
}

/// `Retry-After` in seconds, or OpenAI's `retry-after-ms`.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    get("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.max(0.0)))
}

/// The events of an SSE reply. A silence longer than `idle` ends the stream
/// with [`GatewayError::Timeout`]; a broken connection with `Malformed`.
pub(crate) fn sse(
    resp: reqwest::Response,
    idle: Duration,
) -> BoxStream<'static, Result<Event, GatewayError>> {
    with_idle_timeout(resp.bytes_stream().eventsource(), idle)
        .map(|item| {
            item.and_then(|ev| {
                ev.map_err(|e| GatewayError::Malformed(format!("the event stream broke: {e}")))
            })
        })
        .boxed()
}

/// Wraps a stream so that each item must come within `idle`.
pub(crate) fn with_idle_timeout<S: Stream + Send + 'static>(
    inner: S,
    idle: Duration,
) -> impl Stream<Item = Result<S::Item, GatewayError>> + Send {
    futures::stream::unfold(Some(Box::pin(inner)), move |state| async move {
        let mut inner = state?;
        match tokio::time::timeout(idle, inner.next()).await {
            Ok(Some(item)) => Some((Ok(item), Some(inner))),
            Ok(None) => None,
            Err(_) => Some((Err(GatewayError::Timeout(idle)), None)),
        }
    })
}

pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Shortens upstream text quoted in an error message.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Parses one streamed JSON payload, naming the protocol element on failure.
pub(crate) fn parse_event<T: serde::de::DeserializeOwned>(
    data: &str,
    what: &str,
) -> Result<T, GatewayError> {
    serde_json::from_str(data).map_err(|e| {
        GatewayError::Malformed(format!("{what} is not valid JSON ({e}): {}", clip(data)))
    })
}

/// The error for a stream that ended before its protocol said it was done.
pub(crate) fn cut_short() -> GatewayError {
    GatewayError::Malformed("the stream ended before the answer was complete".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_providers_error_body() {
        let openai = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            error_message(openai),
            "Incorrect API key provided (invalid_request_error)"
        );
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_message(anthropic), "Overloaded (overloaded_error)");
        let gemini = r#"[{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(
            error_message(gemini),
            "API key not valid. Please pass a valid API key. (INVALID_ARGUMENT)"
        );
        let bedrock = r#"{"message":"The security token included in the request is invalid."}"#;
        assert_eq!(
            error_message(bedrock),
            "The security token included in the request is invalid."
        );
        assert_eq!(
            error_message("<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(error_message(""), "no details given");
    }
}
