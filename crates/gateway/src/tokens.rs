//! Token counting for providers that report no usage (many OpenAI-compatible
//! servers stream without it, and every stream that is stopped early ends
//! before it). Counts use OpenAI's `o200k_base` BPE (`tiktoken-rs`): exact for
//! current OpenAI models, a close estimate for others, so such usage is marked
//! `estimated`. The vocabulary is loaded on first use only (≈ 20 MB), so a server
//! whose providers all report usage never pays for it.

use crate::{Answer, ChatRequest, GatewayError, Part, Provider, StreamEvent};
use chorus_types::Usage;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use std::sync::Arc;

/// What OpenAI's chat format adds around each message, and to prime the reply.
const TOKENS_PER_MESSAGE: u64 = 3;
const TOKENS_PER_REPLY: u64 = 3;
/// An image counted as OpenAI's low-detail tile; providers differ, so this is a
/// floor rather than a guess at the resolution.
const TOKENS_PER_IMAGE: u64 = 85;

/// Tokens in `text`.
pub fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len() as u64
}

/// Prompt tokens of `request` as the model would see them.
pub fn count_request(request: &ChatRequest) -> u64 {
    let mut total = TOKENS_PER_REPLY;
    if let Some(system) = &request.system {
        total += TOKENS_PER_MESSAGE + count(system);
    }
    for message in &request.messages {
        total += TOKENS_PER_MESSAGE;
        for part in &message.parts {
            total += match part {
                Part::Text(t) => count(t),
                Part::Image(_) => TOKENS_PER_IMAGE,
                Part::ToolCall(c) => count(&c.name) + count(&c.arguments),
                Part::ToolResult(r) => count(&r.content),
            };
        }
    }
    for tool in &request.tools {
        total += count(&tool.name) + count(&tool.description) + count(&tool.parameters.to_string());
    }
    total
}

/// Usage estimated from the request and what the model wrote.
pub fn estimate(request: &ChatRequest, output: &str) -> Usage {
    Usage {
        input_tokens: count_request(request),
        output_tokens: count(output),
        estimated: true,
        ..Default::default()
    }
}

/// A provider whose answers always carry usage: the provider's own when it
/// reports any, else counted here.
pub struct Metered {
    inner: Arc<dyn Provider>,
}

impl Metered {
    pub fn new(inner: Arc<dyn Provider>) -> Self {
        Self { inner }
    }
}

/// [`estimate`] on a blocking thread: counting a long conversation takes
/// milliseconds of CPU, which must not stall the async workers.
pub async fn estimate_off_thread(request: ChatRequest, output: String) -> Option<Usage> {
    tokio::task::spawn_blocking(move || estimate(&request, &output))
        .await
        .ok()
}

impl Provider for Metered {
    fn unavailable(&self) -> Option<String> {
        self.inner.unavailable()
    }

    fn stream(
        &self,
        request: ChatRequest,
    ) -> BoxStream<'static, Result<StreamEvent, GatewayError>> {
        let mut events = self.inner.stream(request.clone());
        async_stream::stream! {
            let mut output = String::new();
            let mut reported = false;
            let mut finished = false;
            while let Some(item) = events.next().await {
                match &item {
                    Ok(StreamEvent::Text(t) | StreamEvent::Reasoning(t)) => output.push_str(t),
                    Ok(StreamEvent::ToolCallStart { name, .. }) => output.push_str(name),
                    Ok(StreamEvent::ToolCallDelta { arguments, .. }) => output.push_str(arguments),
                    Ok(StreamEvent::Usage(_)) => reported = true,
                    Ok(StreamEvent::Finish(_)) => finished = true,
                    Ok(StreamEvent::ToolCallEnd { .. }) => {}
                    Err(_) => {
                        yield item;
                        return;
                    }
                }
                yield item;
            }
            if finished && !reported
                && let Some(usage) = estimate_off_thread(request, output).await
            {
                yield Ok(StreamEvent::Usage(usage));
            }
        }
        .boxed()
    }

    fn complete(&self, request: ChatRequest) -> BoxFuture<'static, Result<Answer, GatewayError>> {
        let call = self.inner.complete(request.clone());
        async move {
            let mut answer = call.await?;
            if answer.usage.is_none() {
                let mut output = answer.reasoning.clone();
                output.push_str(&answer.text);
                for c in &answer.tool_calls {
                    output.push_str(&c.name);
                    output.push_str(&c.arguments);
                }
                answer.usage = estimate_off_thread(request, output).await;
            }
            Ok(answer)
        }
        .boxed()
    }

    fn list_models(&self) -> BoxFuture<'static, Result<Vec<String>, GatewayError>> {
        self.inner.list_models()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChatMessage;

    #[test]
    fn counts_match_openais_tokenizer() {
        // Reference counts from OpenAI's tiktoken (o200k_base).
        assert_eq!(count("hello world"), 2);
        assert_eq!(count(""), 0);
        assert_eq!(count("The quick brown fox jumps over the lazy dog."), 10);
    }

    #[test]
    fn a_request_counts_each_message_with_its_overhead() {
        let request = ChatRequest {
            system: Some("Be brief.".into()),
            messages: vec![ChatMessage::user("hello world")],
            ..Default::default()
        };
        // reply priming 3 + system (3 + 4) + user (3 + 2)
        assert_eq!(count_request(&request), 3 + 3 + count("Be brief.") + 3 + 2);
        let usage = estimate(&request, "hello world");
        assert_eq!(usage.output_tokens, 2);
        assert!(usage.estimated);
    }
}
