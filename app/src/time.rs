//! Times on every page, in the reader's time zone (the browser's), one
//! format (`domain::times`). The server does not know the reader's zone: it
//! renders the absolute time in UTC, saying so; once the page is live in the
//! browser the clock starts and every time is shown in local time, relative
//! when recent, and kept current.

use leptos::prelude::*;

/// The browser's current time in ms; `None` on the server and until the page
/// has hydrated (so the first render in the browser equals the server's).
#[derive(Clone, Copy)]
pub struct Clock(pub RwSignal<Option<i64>>);

pub fn provide_clock() {
    let now = RwSignal::new(None);
    provide_context(Clock(now));
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| {
        now.set(Some(browser_now()));
        // "5 min ago" must not go stale while the page stays open.
        set_interval(
            move || now.set(Some(browser_now())),
            std::time::Duration::from_secs(30),
        );
    });
}

#[cfg(feature = "hydrate")]
fn browser_now() -> i64 {
    js_sys::Date::now() as i64
}

#[cfg(not(feature = "hydrate"))]
fn browser_now() -> i64 {
    0
}

/// The reader's offset from UTC in minutes (east positive) at an instant,
/// with the browser's daylight-saving rules.
#[cfg(feature = "hydrate")]
fn offset_at(ms: i64) -> i32 {
    -(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64)).get_timezone_offset() as i32)
}

#[cfg(not(feature = "hydrate"))]
fn offset_at(_ms: i64) -> i32 {
    0
}

/// The text of a time (RFC 3339 from the API) now: local and relative in the
/// browser, absolute UTC before that. Text that is not a time is kept.
pub fn time_text(rfc3339: &str, now: Option<i64>) -> String {
    match (domain::times::parse_rfc3339(rfc3339), now) {
        (None, _) => rfc3339.to_string(),
        (Some(at), None) => domain::times::absolute(at, 0),
        (Some(at), Some(now)) => domain::times::when(at, now, offset_at(at), offset_at(now)),
    }
}

fn exact_text(rfc3339: &str, local: bool) -> String {
    match domain::times::parse_rfc3339(rfc3339) {
        None => rfc3339.to_string(),
        Some(at) => domain::times::exact(at, if local { offset_at(at) } else { 0 }),
    }
}

/// A time as a `<time>` element: the text as above, the exact time on hover.
#[component]
pub fn Time(#[prop(into)] at: String) -> impl IntoView {
    let clock = use_context::<Clock>().map(|c| c.0);
    let now = move || clock.and_then(|c| c.get());
    let (text_at, title_at) = (at.clone(), at.clone());
    view! {
        <time
            datetime=at
            title=move || exact_text(&title_at, now().is_some())
        >
            {move || time_text(&text_at, now())}
        </time>
    }
}
