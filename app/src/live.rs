//! The live sidebar in the browser: a page that shows sessions listens to
//! `/events` (Server-Sent Events) and looks again when one changes. The
//! browser's EventSource reconnects by itself after a dropped connection
//! (the server asks for 3 s); without JavaScript, or when the stream cannot
//! be opened, the page is as it was and a reload shows what is new.

/// Calls `changed` with a session's id whenever it changes (`*`: anything
/// may have), while the calling component lives. Does nothing on the server.
#[cfg(feature = "hydrate")]
pub fn on_session_change(changed: impl Fn(String) + 'static) {
    use leptos::prelude::on_cleanup;
    use send_wrapper::SendWrapper;
    use wasm_bindgen::{closure::Closure, JsCast};

    let Ok(source) = web_sys::EventSource::new("/events") else {
        return;
    };
    let listener =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let id = event
                .data()
                .as_string()
                .and_then(|data| serde_json::from_str::<serde_json::Value>(&data).ok())
                .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string));
            if let Some(id) = id {
                changed(id);
            }
        });
    if source
        .add_event_listener_with_callback("session", listener.as_ref().unchecked_ref())
        .is_err()
    {
        source.close();
        return;
    }
    // Both live until the page goes: then the stream is closed and the
    // listener freed.
    let held = SendWrapper::new((source, listener));
    on_cleanup(move || held.0.close());
}

#[cfg(not(feature = "hydrate"))]
pub fn on_session_change(_changed: impl Fn(String) + 'static) {}
