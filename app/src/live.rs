//! Browser side of a running answer: an `EventSource` on
//! `/api/jobs/{id}/events`. The browser itself reconnects after a network drop and
//! sends `Last-Event-ID`, so the server resumes exactly after the last event seen.

use crate::ui::message::LiveMessage;
use chorus_types::{JobEvent, JobId, MessageState};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{EventSource, MessageEvent};

pub fn attach(
    job: JobId,
    live: LiveMessage,
    on_title: Callback<String>,
    on_end: impl Fn() + 'static,
) {
    let Ok(source) = EventSource::new(&format!("/api/jobs/{}/events", job.0)) else {
        live.error.set(Some(
            "This browser cannot follow the answer live. Reload to see it.".into(),
        ));
        return;
    };
    let on_end = std::rc::Rc::new(on_end);

    // The page was rendered with what the database had (a saved prefix of the
    // log); the first text of each kind from the log replaces it, the rest
    // appends. After a reconnect the browser resumes after the last event, so
    // these stay set and everything appends.
    let mut seen_text = false;
    let mut seen_reasoning = false;
    let mut seen_tools = false;
    let on_message = {
        let source = source.clone();
        let on_end = on_end.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let Some(data) = ev.data().as_string() else {
                return;
            };
            let Ok(event) = serde_json::from_str::<JobEvent>(&data) else {
                return;
            };
            // Events flow again: an interruption notice is over.
            if live.error.with_untracked(Option::is_some)
                && live.state.get_untracked() == MessageState::Streaming
            {
                live.error.set(None);
            }
            match event {
                JobEvent::Delta { text } if !std::mem::replace(&mut seen_text, true) => {
                    live.text.set(text)
                }
                JobEvent::Delta { text } => live.text.update(|t| t.push_str(&text)),
                JobEvent::Reasoning { text } if !std::mem::replace(&mut seen_reasoning, true) => {
                    live.reasoning.set(text)
                }
                JobEvent::Reasoning { text } => live.reasoning.update(|t| t.push_str(&text)),
                JobEvent::ToolCall { step } if !std::mem::replace(&mut seen_tools, true) => {
                    live.tools.set(vec![step])
                }
                JobEvent::ToolCall { step } => {
                    live.tools
                        .update(|steps| match steps.iter_mut().find(|s| s.id == step.id) {
                            Some(known) => *known = step,
                            None => steps.push(step),
                        })
                }
                JobEvent::ToolResult {
                    id,
                    output,
                    is_error,
                    files,
                } => live.tools.update(|steps| {
                    if let Some(step) = steps.iter_mut().find(|s| s.id == id) {
                        step.output = Some(output);
                        step.is_error = is_error;
                        step.files = files;
                    }
                }),
                JobEvent::Usage { .. } => {}
                // The view that asked may have been replaced meanwhile.
                JobEvent::Title { title } => {
                    on_title.try_run(title);
                }
                JobEvent::Done { state, error } => {
                    source.close();
                    // A call still running when the answer stopped never finishes.
                    live.tools.update(|steps| {
                        for step in steps.iter_mut().filter(|s| s.output.is_none()) {
                            step.output = Some("Stopped before the tool finished.".into());
                            step.is_error = true;
                        }
                    });
                    live.state.set(state);
                    live.error.set(error);
                    on_end();
                }
            }
        })
    };
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));

    let on_error = {
        let source = source.clone();
        Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            // CONNECTING means the browser is retrying by itself; CLOSED means the
            // server said the job is gone (e.g. it restarted).
            if source.ready_state() == EventSource::CLOSED
                && live.state.get_untracked() == MessageState::Streaming
            {
                live.state.set(MessageState::Failed);
                live.error.set(Some(
                    "Lost the live answer. Reload the page to see what was saved.".into(),
                ));
                on_end();
            }
        })
    };
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));

    // The server lost its connection to Redis (scale-out): say so under the
    // answer; the stream resumes where it was when the connection is back.
    let on_interrupted = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if let Some(reason) = ev.data().as_string() {
            live.error.set(Some(reason));
        }
    });
    let _ = source
        .add_event_listener_with_callback("interrupted", on_interrupted.as_ref().unchecked_ref());

    let held = SendWrapper::new((source, on_message, on_error, on_interrupted));
    on_cleanup(move || held.0.close());
}
