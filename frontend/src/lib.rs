//! Browser entry point: hydrates the HTML that the server rendered.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // A marker for the browser tests: from here on the page is interactive.
    let _ = js_sys::Reflect::set(&js_sys::global(), &"__cm_hydrated".into(), &true.into());
}
