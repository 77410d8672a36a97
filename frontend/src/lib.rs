//! The wasm entry point: hydrates the page the server rendered.

// Without `erase_components` (release builds) the hydration future's type
// nests every view of a page; the settings page goes past the default 128.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
