//! Admin › Privacy: find what is held about a customer's number, download it
//! as JSON (a subject access request), or erase it after typing the number
//! again; and the retention settings in force. Admins only: every server
//! function checks it. The rules are in `store::privacy`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::admin::AdminFrame;
use crate::auth::Me;
use crate::codec::Json;
use crate::error::UiError;
use crate::layout::ErrorNotice;
use domain::privacy::{ErasureReport, HeldCounts, Retention};

/// What is held about one number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldView {
    /// E.164, as the export and erase forms send it back.
    pub number: String,
    /// As people write it.
    pub shown: String,
    pub held: HeldCounts,
}

#[cfg(feature = "ssr")]
fn admin(csrf: Option<&str>) -> Result<store::WebSession, UiError> {
    let s = crate::ssr::require_agent()?;
    crate::ssr::require_admin(&s)?;
    if let Some(csrf) = csrf {
        crate::ssr::require_csrf(&s, csrf)?;
    }
    Ok(s)
}

#[cfg(feature = "ssr")]
fn parse(field: &str, number: &str) -> Result<domain::Msisdn, UiError> {
    domain::Msisdn::parse(number, crate::ssr::deps().store.rules().phone_region)
        .map_err(|why| UiError::field(field, why))
}

#[server(endpoint = "admin/privacy/find", output = Json)]
pub async fn find_customer(number: String) -> Result<HeldView, UiError> {
    let result = async {
        admin(None)?;
        let msisdn = parse("number", &number)?;
        let held = crate::ssr::deps().store.held_about(&msisdn).await?;
        Ok(HeldView {
            shown: msisdn.for_people(),
            number: msisdn.as_str().to_string(),
            held,
        })
    }
    .await;
    // Never the number in a redirect's query: the page shows results only live.
    done(result)
}

/// The fitting status for a failure; a form posted before hydration is sent
/// back to the page.
#[cfg(feature = "ssr")]
fn done<T>(result: Result<T, UiError>) -> Result<T, UiError> {
    use crate::ssr::{finish, Then};
    finish(
        result,
        Then::Reload("/admin/privacy".into()),
        "/admin/privacy",
        &[],
    )
}

/// Erases the number's customer. `confirm` is the number typed again, in
/// any written form: it must be the same number.
#[server(endpoint = "admin/privacy/erase", output = Json)]
pub async fn erase_customer(
    csrf: String,
    number: String,
    confirm: String,
) -> Result<ErasureReport, UiError> {
    let result = async {
        let s = admin(Some(&csrf))?;
        let msisdn = parse("number", &number)?;
        let typed = parse("confirm", &confirm)?;
        if typed != msisdn {
            return Err(UiError::field(
                "confirm",
                "this is not the number being erased: type it again to confirm",
            ));
        }
        Ok(crate::ssr::deps()
            .store
            .erase_customer(&crate::ssr::audit(&s.agent), &msisdn)
            .await?)
    }
    .await;
    done(result)
}

#[server(endpoint = "admin/privacy/retention", output = Json)]
pub async fn retention_in_force() -> Result<Retention, UiError> {
    admin(None)?;
    Ok(crate::ssr::deps().retention)
}

#[component]
pub fn PrivacyPage() -> impl IntoView {
    view! { <AdminFrame title="Privacy" body=|me| view! { <Privacy me /> } /> }
}

fn kept(days: Option<u32>, forever: &'static str) -> String {
    match days {
        None => forever.to_string(),
        Some(1) => "deleted after 1 day".to_string(),
        Some(d) => format!("deleted after {d} days"),
    }
}

/// The counts, one line per kind, in words an admin knows.
fn held_lines(h: &HeldCounts) -> Vec<(&'static str, String)> {
    vec![
        ("Contacts", h.contacts.to_string()),
        ("Channel ids", h.contact_channels.to_string()),
        ("Sessions", h.sessions.to_string()),
        ("Transcript lines", h.messages.to_string()),
        ("Cached media files", h.media_files.to_string()),
        ("Guest tokens", h.guest_tokens.to_string()),
        (
            "Relay jobs",
            format!("{} ({} waiting)", h.outbox_jobs, h.pending_jobs),
        ),
        ("Webhook dedup records", h.dedup_records.to_string()),
        ("Start conversation presses", h.start_attempts.to_string()),
        ("Audit entries", h.audit_entries.to_string()),
    ]
}

fn counts_view(label: &'static str, h: &HeldCounts) -> impl IntoView {
    view! {
        <dl class="counts" aria-label=label>
            {held_lines(h).into_iter().map(|(k, v)| view! {
                <div><dt>{k}</dt><dd>{v}</dd></div>
            }).collect_view()}
        </dl>
    }
}

#[component]
fn Privacy(me: Me) -> impl IntoView {
    let find = ServerAction::<FindCustomer>::new();
    let erase = ServerAction::<EraseCustomer>::new();
    let retention = Resource::new(|| (), |_| retention_in_force());
    // After an erasure the counts found before it are out of date.
    Effect::new(move |_| {
        if erase.value().get().is_some_and(|r| r.is_ok()) {
            find.value().set(None);
        }
    });
    let field_error = move |field: &'static str| {
        move || {
            find.value()
                .get()
                .and_then(|r| r.err())
                .or_else(|| erase.value().get().and_then(|r| r.err()))
                .and_then(|e| e.for_field(field))
        }
    };
    let csrf = me.csrf.clone();
    view! {
        <p class="muted small">"For a customer's request: see what is held about their phone number (every channel), download it, or erase it."</p>
        <section class="card" aria-labelledby="retention-h">
            <h2 id="retention-h">"Retention"</h2>
            <Suspense fallback=|| view! { <p class="muted" role="status">"Loading…"</p> }>
                {move || retention.get().map(|r| match r {
                    Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| retention.refetch()) /> }.into_any(),
                    Ok(r) => view! {
                        <ul class="plain" aria-label="Retention in force">
                            <li>"Transcripts: " {kept(r.transcript_days, "kept for ever")}</li>
                            <li>"Media files: " {kept(r.media_days, "kept until their link expires")}</li>
                        </ul>
                        <p class="muted small">"Set by " <code>"CM_TRANSCRIPT_RETENTION_DAYS"</code> " and " <code>"CM_MEDIA_RETENTION_DAYS"</code> "."</p>
                    }.into_any(),
                })}
            </Suspense>
        </section>
        <section class="card" aria-labelledby="find-h">
            <h2 id="find-h">"Find a customer"</h2>
            <ActionForm action=find attr:class="form" attr:role="search" attr:aria-label="Find a customer by number">
                <label for="privacy-number">"Phone number"</label>
                <input id="privacy-number" name="number" type="tel" required autocomplete="off"
                    placeholder="e.g. +44 7700 900123"
                    aria-describedby="privacy-number-error" />
                <p id="privacy-number-error" class="field-error" role="alert">{field_error("number")}</p>
                <div class="form-actions">
                    <button type="submit" disabled=move || find.pending().get()>
                        {move || if find.pending().get() { "Finding…" } else { "Find" }}
                    </button>
                </div>
            </ActionForm>
        </section>
        <div aria-live="polite">
            {move || erase.value().get().and_then(|r| r.ok()).map(|report| view! {
                <section class="card notice success" role="status" aria-labelledby="erased-h">
                    <h2 id="erased-h">"Erased"</h2>
                    <p>"Everything below was deleted; audit entries were kept with the number and name replaced by " <code>"[erased]"</code> "."</p>
                    {counts_view("Erased", &report.removed)}
                    <p class="muted small">"Audit log: " <code>"privacy.erase"</code> " " {report.erasure_id.clone()}</p>
                </section>
            })}
        </div>
        {move || {
            let csrf = csrf.clone();
            find.value().get().and_then(|r| r.ok()).map(move |found| {
                let nothing = found.held.is_empty();
                let (n1, n2) = (found.number.clone(), found.number.clone());
                let (c1, c2) = (csrf.clone(), csrf.clone());
                view! {
                    <section class="card" aria-labelledby="held-h">
                        <h2 id="held-h">{format!("Held about {}", found.shown)}</h2>
                        {if nothing {
                            view! { <p class="empty">"Nothing is held about this number."</p> }.into_any()
                        } else {
                            counts_view("Held", &found.held).into_any()
                        }}
                        <form method="post" action="/admin/privacy/export.json" class="form-actions">
                            <input type="hidden" name="csrf" value=c1 />
                            <input type="hidden" name="number" value=n1 />
                            <button type="submit" class="secondary">"Export JSON"</button>
                        </form>
                        {(!nothing).then(|| view! {
                            <details class="confirm-details">
                                <summary>"Erase this customer…"</summary>
                                <p>"Deletes the contact, sessions, transcripts, cached media, guest tokens, queued messages and webhook records of this number on every channel, at once and for good. Audit entries are kept, with the number and name replaced."</p>
                                <ActionForm action=erase attr:class="form">
                                    <input type="hidden" name="csrf" value=c2 />
                                    <input type="hidden" name="number" value=n2 />
                                    <label for="privacy-confirm">"Type the number to confirm"</label>
                                    <input id="privacy-confirm" name="confirm" type="tel" required autocomplete="off"
                                        aria-describedby="privacy-confirm-error" />
                                    <p id="privacy-confirm-error" class="field-error" role="alert">{field_error("confirm")}</p>
                                    <div class="form-actions">
                                        <button type="submit" class="danger" disabled=move || erase.pending().get()>
                                            {move || if erase.pending().get() { "Erasing…" } else { "Erase for good" }}
                                        </button>
                                    </div>
                                </ActionForm>
                            </details>
                        })}
                    </section>
                }
            })
        }}
        <div aria-live="polite">
            {move || erase.value().get().and_then(|r| r.err()).filter(|e| e.field.is_none()).map(|e| view! {
                <p class="notice error" role="alert">{e.message}</p>
            })}
            {move || find.value().get().and_then(|r| r.err()).filter(|e| e.field.is_none()).map(|e| view! {
                <p class="notice error" role="alert">{e.message}</p>
            })}
        </div>
    }
}
