//! Browser side of `GET /api/events`: one `EventSource` per signed-in page that
//! hears what changed in the user's conversations in other tabs and devices.

use crate::ui::layout::{Change, Changes, Refresh};
use chorus_types::UserEvent;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{EventSource, MessageEvent};

pub fn listen(changes: Changes, refresh: Refresh) {
    // Without it the page still works; it just does not follow other tabs.
    let Ok(source) = EventSource::new("/api/events") else {
        return;
    };
    let announce = move |change: Change| {
        changes.push(change);
        refresh.sidebar();
    };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if let Some(event) = ev
            .data()
            .as_string()
            .and_then(|d| serde_json::from_str::<UserEvent>(&d).ok())
        {
            announce(Change::Event(event));
        }
    });
    let on_missed = Closure::<dyn FnMut(MessageEvent)>::new(move |_| announce(Change::Missed));
    // The browser reconnects by itself after a drop; whatever happened in
    // between is unknown, so every reopen after the first counts as missed.
    let opened = Rc::new(Cell::new(false));
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        if opened.replace(true) {
            announce(Change::Missed);
        }
    });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    let _ = source.add_event_listener_with_callback("missed", on_missed.as_ref().unchecked_ref());
    let held = SendWrapper::new((source, on_message, on_missed, on_open));
    on_cleanup(move || held.0.close());
}
