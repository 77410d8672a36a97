//! A whole answer, gathered from a stream (or read from a non-streamed reply).

use crate::{FinishReason, GatewayError, StreamEvent, ToolCall};
use chorus_types::Usage;
use futures::{Stream, StreamExt};

#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub text: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Option<Usage>,
    pub finish: FinishReason,
}

impl Default for Answer {
    fn default() -> Self {
        Self {
            text: String::new(),
            reasoning: String::new(),
            tool_calls: Vec::new(),
            usage: None,
            finish: FinishReason::Stop,
        }
    }
}

impl Answer {
    /// Reads a stream to its end. An error anywhere fails the whole answer.
    pub async fn collect<S>(stream: S) -> Result<Answer, GatewayError>
    where
        S: Stream<Item = Result<StreamEvent, GatewayError>>,
    {
        let mut stream = std::pin::pin!(stream);
        let mut answer = Answer::default();
        let mut calls = ToolCalls::default();
        let mut finished = false;
        while let Some(event) = stream.next().await {
            match event? {
                StreamEvent::Text(t) => answer.text.push_str(&t),
                StreamEvent::Reasoning(t) => answer.reasoning.push_str(&t),
                StreamEvent::ToolCallStart { index, id, name } => calls.start(index, id, name),
                StreamEvent::ToolCallDelta { index, arguments } => calls.extend(index, &arguments),
                StreamEvent::ToolCallEnd { .. } => {}
                StreamEvent::Usage(u) => answer.usage = Some(u),
                StreamEvent::Finish(reason) => {
                    answer.finish = reason;
                    finished = true;
                }
            }
        }
        if !finished {
            return Err(crate::http::cut_short());
        }
        answer.tool_calls = calls.finish();
        Ok(answer)
    }
}

/// Tool calls put together from a stream's start and argument events.
#[derive(Debug, Default)]
pub struct ToolCalls {
    /// By stream index, in the order they started.
    calls: Vec<(u32, ToolCall)>,
}

impl ToolCalls {
    pub fn start(&mut self, index: u32, id: String, name: String) {
        let arguments = String::new();
        self.calls.push((
            index,
            ToolCall {
                id,
                name,
                arguments,
            },
        ));
    }

    pub fn extend(&mut self, index: u32, arguments: &str) {
        if let Some((_, call)) = self.calls.iter_mut().rev().find(|(i, _)| *i == index) {
            call.arguments.push_str(arguments);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The calls in the order they started.
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls.into_iter().map(|(_, c)| c).collect()
    }
}

/// Usage for providers that count prompt-cache reads and writes apart from
/// `input_tokens` (Anthropic, Bedrock). Chorus reports every prompt token as
/// input and the cache reads as cached.
pub(crate) fn usage_with_cache(
    input: u64,
    output: u64,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
) -> Usage {
    let read = cache_read.unwrap_or(0);
    Usage {
        input_tokens: input + read + cache_write.unwrap_or(0),
        output_tokens: output,
        cached_tokens: read,
        ..Default::default()
    }
}
