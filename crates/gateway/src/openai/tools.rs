//! Turns OpenAI-style tool-call deltas (an index, an id and name once, then
//! argument pieces) into start / delta / end events.

use crate::StreamEvent;

#[derive(Default)]
pub(crate) struct ToolCallTracker {
    /// Indexes of calls started and not yet ended, in start order.
    open: Vec<u32>,
}

impl ToolCallTracker {
    /// One delta for call `index`. The first one carrying an id (or name) starts it.
    pub fn seen(
        &mut self,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: Option<String>,
        out: &mut Vec<StreamEvent>,
    ) {
        if !self.open.contains(&index) {
            self.open.push(index);
            out.push(StreamEvent::ToolCallStart {
                index,
                id: id.unwrap_or_else(|| format!("call_{index}")),
                name: name.unwrap_or_default(),
            });
        }
        if let Some(arguments) = arguments.filter(|a| !a.is_empty()) {
            out.push(StreamEvent::ToolCallDelta { index, arguments });
        }
    }

    /// Ends every open call (OpenAI has no per-call end marker).
    pub fn end_all(&mut self) -> impl Iterator<Item = StreamEvent> + '_ {
        self.open
            .drain(..)
            .map(|index| StreamEvent::ToolCallEnd { index })
    }
}
