//! The older HTTP+SSE MCP transport (protocol 2024-11-05), which rmcp 3 no
//! longer ships a client for; many hosted servers still speak only this.
//! A GET opens an event stream whose first `endpoint` event names the URL to
//! POST messages to; every answer comes back on the stream as a `message`
//! event. Written here over rmcp's sink + stream transport, with
//! `eventsource-stream` parsing the events.

use eventsource_stream::Eventsource;
use futures::{Sink, Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use std::pin::Pin;

/// Why sending a message failed (rmcp needs a real error type).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(String);

type MessageSink = Pin<Box<dyn Sink<ClientJsonRpcMessage, Error = SendError> + Send>>;
type MessageStream = Pin<Box<dyn Stream<Item = ServerJsonRpcMessage> + Send>>;

/// Opens the event stream at `url` and waits for the endpoint to post to.
pub async fn connect(
    client: reqwest::Client,
    url: &str,
    headers: http::HeaderMap,
) -> Result<(MessageSink, MessageStream), String> {
    let base = url::Url::parse(url).map_err(|e| format!("the url {url:?} is not valid: {e}"))?;
    let response = client
        .get(base.clone())
        .headers(headers.clone())
        .header(http::header::ACCEPT, "text/event-stream")
        .send()
        .await
        .map_err(|e| format!("connecting to {url} failed: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered HTTP {}", response.status()));
    }
    let mut events = response.bytes_stream().eventsource();
    // The server names where to post first (relative to the stream's URL).
    let endpoint = loop {
        match events.next().await {
            Some(Ok(event)) if event.event == "endpoint" => {
                break base.join(event.data.trim()).map_err(|e| {
                    format!("the server named an invalid endpoint {:?}: {e}", event.data)
                })?;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("reading the event stream failed: {e}")),
            None => return Err("the event stream ended before naming an endpoint".into()),
        }
    };
    let stream = events.filter_map(|event| async move {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "an MCP event stream broke");
                return None;
            }
        };
        if event.event != "message" && !event.event.is_empty() {
            return None;
        }
        match serde_json::from_str::<ServerJsonRpcMessage>(&event.data) {
            Ok(message) => Some(message),
            Err(e) => {
                tracing::warn!(error = %e, "an MCP server sent a message that is not JSON-RPC");
                None
            }
        }
    });
    let sink = futures::sink::unfold(
        (client, endpoint, headers),
        |(client, endpoint, headers), message: ClientJsonRpcMessage| async move {
            let response = client
                .post(endpoint.clone())
                .headers(headers.clone())
                .json(&message)
                .send()
                .await
                .map_err(|e| SendError(format!("posting to {endpoint} failed: {e}")))?;
            if !response.status().is_success() {
                return Err(SendError(format!(
                    "{endpoint} answered HTTP {}",
                    response.status()
                )));
            }
            Ok((client, endpoint, headers))
        },
    );
    Ok((Box::pin(sink), Box::pin(stream)))
}
