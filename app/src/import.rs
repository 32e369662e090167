//! CSV import with progress and a per-row report, and the export link.
//! The browser reads the file and sends it in chunks, so progress is real.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::Me;
use crate::codec::Json;
use crate::error::UiError;
use crate::layout::SignedIn;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportRow {
    pub row: usize,
    pub name: String,
    pub error: Option<String>,
}

/// Imports one chunk of rows; `first_row` is the spreadsheet row number of
/// the chunk's first line (the header is row 1).
#[server(endpoint = "contacts/import", output = Json)]
pub async fn import_contacts(
    csrf: String,
    header: String,
    rows: String,
    first_row: u32,
) -> Result<Vec<ImportRow>, UiError> {
    use crate::ssr::{audit, deps, require_agent, require_csrf};
    let session = require_agent()?;
    require_csrf(&session, &csrf)?;
    let report = store::csv_io::import_rows(
        &deps().store,
        &audit(&session.agent),
        Some(&session.agent.id),
        &header,
        &rows,
        first_row as usize,
    )
    .await?;
    Ok(report
        .into_iter()
        .map(|r| ImportRow {
            row: r.row,
            name: r.name,
            error: r.error,
        })
        .collect())
}

/// Rows per request: small enough for steady progress.
#[cfg(feature = "hydrate")]
const CHUNK: usize = 25;

#[component]
pub fn ImportPage() -> impl IntoView {
    view! { <SignedIn render=|me| view! { <Import me /> } /> }
}

#[component]
fn Import(me: Me) -> impl IntoView {
    let file_input: NodeRef<leptos::html::Input> = NodeRef::new();
    let total = RwSignal::new(0usize);
    let done = RwSignal::new(0usize);
    let running = RwSignal::new(false);
    let report = RwSignal::new(Vec::<ImportRow>::new());
    let failure = RwSignal::new(None::<String>);
    let csrf = StoredValue::new(me.csrf.clone());

    let start = move |_| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen_futures::JsFuture;
            let Some(file) = file_input
                .get()
                .and_then(|i| i.files())
                .and_then(|f| f.get(0))
            else {
                failure.set(Some("choose a CSV file first".into()));
                return;
            };
            failure.set(None);
            report.set(Vec::new());
            running.set(true);
            leptos::task::spawn_local(async move {
                let text = match JsFuture::from(file.text())
                    .await
                    .ok()
                    .and_then(|v| v.as_string())
                {
                    Some(t) => t,
                    None => {
                        failure.set(Some("the file could not be read".into()));
                        running.set(false);
                        return;
                    }
                };
                let mut lines = text.lines();
                let header = lines.next().unwrap_or_default().to_string();
                let rows: Vec<&str> = lines.collect();
                total.set(rows.len());
                done.set(0);
                for (i, chunk) in rows.chunks(CHUNK).enumerate() {
                    let first_row = (2 + i * CHUNK) as u32;
                    match import_contacts(
                        csrf.get_value(),
                        header.clone(),
                        chunk.join("\n"),
                        first_row,
                    )
                    .await
                    {
                        Ok(mut rows) => report.update(|r| r.append(&mut rows)),
                        Err(e) => {
                            failure.set(Some(e.message));
                            break;
                        }
                    }
                    done.update(|d| *d += chunk.len());
                }
                running.set(false);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (file_input, total, done, running, report, failure, csrf);
    };
    let imported = move || report.with(|r| r.iter().filter(|x| x.error.is_none()).count());
    let refused = move || {
        report.with(|r| {
            r.iter()
                .filter(|x| x.error.is_some())
                .cloned()
                .collect::<Vec<_>>()
        })
    };

    view! {
        <h1>"Import contacts"</h1>
        <p>"A CSV file whose first line names the columns, with at least " <code>"name"</code> " and "
           <code>"msisdn"</code> " (or " <code>"phone"</code> "). Good rows are added; bad rows are listed below with the reason."</p>
        <p><a href="/contacts/export.csv" rel="external" download="contacts.csv">"Export all contacts as CSV"</a></p>
        <div class="form">
            <label for="csv-file">"CSV file"</label>
            <input id="csv-file" type="file" accept=".csv,text/csv" node_ref=file_input />
            <div class="form-actions">
                <button type="button" on:click=start disabled=move || running.get()>
                    {move || if running.get() { "Importing…" } else { "Import" }}
                </button>
                <a href="/contacts">"Back to contacts"</a>
            </div>
            <noscript><p class="notice">"Importing needs JavaScript; the CLI can import too: contact-manager import-contacts FILE.csv"</p></noscript>
        </div>
        {move || failure.get().map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
        <Show when=move || { total.get() > 0 }>
            <div role="status" aria-live="polite" class="import-progress">
                <label for="import-progress">{move || format!("{} of {} rows processed", done.get(), total.get())}</label>
                <progress id="import-progress" max=move || total.get() value=move || done.get()></progress>
                <Show when=move || !running.get() && done.get() == total.get()>
                    <p>{move || format!("Done: {} contacts added, {} rows refused.", imported(), refused().len())}</p>
                </Show>
            </div>
        </Show>
        <Show when=move || !refused().is_empty()>
            <h2>"Rows not imported"</h2>
            <ul class="session-list" aria-label="Rows not imported">
                {move || refused().into_iter().map(|r| view! {
                    <li class="session">
                        <strong>{format!("Row {}", r.row)}{if r.name.is_empty() { String::new() } else { format!(" · {}", r.name) }}</strong>
                        <span class="small">{r.error.unwrap_or_default()}</span>
                    </li>
                }).collect_view()}
            </ul>
        </Show>
    }
}
