//! Contacts: search, create, edit, delete, and Start conversation.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::auth::Me;
use crate::codec::Json;
use crate::error::{ErrorKind, UiError};
use crate::layout::{ErrorNotice, FieldError, LoadingLine, LoadingTransition, SignedIn};
use domain::model::{Contact, Page};
use domain::templates::WhatsappTemplate;
use domain::Channel;
use std::collections::BTreeMap;

/// A page of contacts, and a fresh nonce for Start conversation attempts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContactsView {
    pub page: Page<ContactLine>,
    pub nonce: String,
    /// The WhatsApp templates to choose from when a contact's window is
    /// closed (native relay mode; none configured: empty).
    #[serde(default)]
    pub templates: Vec<WhatsappTemplate>,
    /// The signed-in agent's name, for the templates' previews.
    #[serde(default)]
    pub agent_name: String,
}

/// A contact, with its number as people write it (`+44 7700 900123`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactLine {
    pub contact: Contact,
    pub number: String,
    /// Starting on WhatsApp now opens with a template (the customer has not
    /// written in the last 24 hours): the agent chooses it first.
    #[serde(default)]
    pub whatsapp_needs_template: bool,
}

#[cfg(feature = "ssr")]
impl From<Contact> for ContactLine {
    fn from(contact: Contact) -> Self {
        ContactLine {
            number: contact.msisdn.for_people(),
            contact,
            whatsapp_needs_template: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartOutcome {
    pub message: String,
    pub next_nonce: String,
}

#[server(endpoint = "contacts/list", output = Json)]
pub async fn list_contacts(q: String, page: u32) -> Result<ContactsView, UiError> {
    use crate::ssr::{deps, require_agent};
    use store::{ContactQuery, Paging};
    let session = require_agent()?;
    let paging = Paging::new(Some(page.max(1)), Some(20)).map_err(domain::DomainError::from)?;
    let deps = deps();
    let page = deps
        .store
        .list_contacts(&ContactQuery {
            q: Some(q),
            paging: Some(paging),
            owner_agent_id: None,
        })
        .await?;
    let templates = deps
        .conversations
        .whatsapp_templates()
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    let needs = deps.conversations.starts_need_template(&page.items).await?;
    let items = page
        .items
        .into_iter()
        .zip(needs)
        .map(|(contact, whatsapp_needs_template)| ContactLine {
            whatsapp_needs_template,
            ..ContactLine::from(contact)
        })
        .collect();
    Ok(ContactsView {
        page: Page {
            items,
            page: page.page,
            per_page: page.per_page,
            total: page.total,
        },
        nonce: crate::ssr::nonce(),
        templates,
        agent_name: session.agent.display_name.clone(),
    })
}

#[server(endpoint = "contacts/get", output = Json)]
pub async fn get_contact(id: String) -> Result<ContactLine, UiError> {
    use crate::ssr::{deps, require_agent};
    require_agent()?;
    Ok(deps().store.contact(&id).await?.into())
}

#[server(endpoint = "contacts/save", output = Json)]
pub async fn save_contact(
    csrf: String,
    id: String,
    name: String,
    msisdn: String,
    version: String,
    /// `en`, `es`, or empty for the server's default; absent keeps it.
    language: Option<String>,
) -> Result<Contact, UiError> {
    use crate::ssr::{audit, deps, finish, require_agent, require_csrf, Then};
    use domain::input::{ContactChanges, NewContact};
    use domain::model::ContactInput;
    use domain::DomainError;
    let back = if id.is_empty() {
        "/contacts/new".to_string()
    } else {
        format!("/contacts/{id}")
    };
    let result = async {
        let session = require_agent()?;
        require_csrf(&session, &csrf)?;
        let store = deps().store;
        let ctx = audit(&session.agent);
        let region = store.rules().phone_region;
        let mut input = ContactInput {
            name: Some(name.clone()),
            msisdn: Some(msisdn.clone()),
            language: language.clone(),
            ..Default::default()
        };
        if id.is_empty() {
            input.owner_agent_id = Some(session.agent.id.clone());
            let new = NewContact::try_from((&input, region)).map_err(DomainError::from)?;
            Ok(store.create_contact(&ctx, &new).await?)
        } else {
            let current = store.contact(&id).await?;
            if !domain::access::can_change_contact(&session.agent, &current) {
                return Err(UiError::new(
                    ErrorKind::Forbidden,
                    "only its owner or an admin can change this contact",
                ));
            }
            input.version = version.parse().ok();
            let changes = ContactChanges::try_from((&input, region)).map_err(DomainError::from)?;
            Ok(store.update_contact(&ctx, &id, &changes).await?)
        }
    }
    .await;
    // A stale edit shows the number as it is now, written for people.
    let result = result.map_err(|mut e| {
        if let Some(msisdn) = e.current.as_mut().and_then(|c| c.get_mut("msisdn")) {
            if let Some(number) = msisdn.as_str().map(domain::phone::for_people) {
                *msisdn = serde_json::Value::String(number);
            }
        }
        e
    });
    let saved_name = result.as_ref().map(|c| c.name.clone()).unwrap_or_default();
    finish(
        result,
        Then::Go(format!(
            "/contacts?{}",
            crate::ssr::encode_query(&[("saved", &saved_name)])
        )),
        &back,
        &[
            ("name", &name),
            ("msisdn", &msisdn),
            ("language", language.as_deref().unwrap_or_default()),
        ],
    )
}

#[server(endpoint = "contacts/delete", output = Json)]
pub async fn delete_contact(csrf: String, id: String) -> Result<(), UiError> {
    use crate::ssr::{audit, deps, finish, require_agent, require_csrf, Then};
    let result = async {
        let session = require_agent()?;
        require_csrf(&session, &csrf)?;
        let store = deps().store;
        let current = store.contact(&id).await?;
        if !domain::access::can_change_contact(&session.agent, &current) {
            return Err(UiError::new(
                ErrorKind::Forbidden,
                "only its owner or an admin can delete this contact",
            ));
        }
        store.delete_contact(&audit(&session.agent), &id).await?;
        Ok(())
    }
    .await;
    finish(
        result,
        Then::Go("/contacts?deleted=1".into()),
        &format!("/contacts/{id}/delete"),
        &[],
    )
}

/// Starts a conversation with the contact on the channel (the domain's
/// `Conversations::start`). The same nonce, contact and channel are one
/// attempt: a double click sends once. `template` (empty: none) and
/// `values` (`values[NAME]`): the WhatsApp template chosen in the chooser.
#[server(endpoint = "contacts/start", output = Json)]
pub async fn start_conversation(
    csrf: String,
    contact_id: String,
    channel: String,
    nonce: String,
    #[server(default)] template: String,
    #[server(default)] values: BTreeMap<String, String>,
) -> Result<StartOutcome, UiError> {
    use crate::ssr::{audit, deps, finish, require_agent, require_csrf, Then};
    use relay::conversations::{AttemptKey, StartError, TemplateRequest};
    use relay::StartTemplate;
    let result = async {
        let session = require_agent()?;
        require_csrf(&session, &csrf)?;
        let channel =
            Channel::parse_field("channel", &channel).map_err(domain::DomainError::from)?;
        // The page's nonce is shared by its buttons: contact and channel tell them apart.
        let attempt = AttemptKey::new(&format!("ui:{contact_id}:{channel}"), "nonce", &nonce)
            .map_err(|_| {
                UiError::new(
                    ErrorKind::Invalid,
                    "this page is out of date: reload it and try again",
                )
            })?;
        let template = (!template.trim().is_empty()).then(|| TemplateRequest {
            id: template.clone(),
            values: values.clone(),
        });
        let started = deps()
            .conversations
            .start(
                &audit(&session.agent),
                &session.agent,
                &contact_id,
                channel,
                &attempt,
                template.as_ref(),
            )
            .await;
        let message = match started {
            Ok(s) => {
                let started = format!(
                    "{} conversation with {} started",
                    label(s.channel),
                    s.contact.name
                );
                let template = match &s.template {
                    Some((t, StartTemplate::Sent)) => {
                        format!(": the template “{}” was sent to them, and", t.label)
                    }
                    Some((t, StartTemplate::WindowOpen)) => format!(
                        ": they wrote in the last 24 hours, so the template “{}” was not needed, and",
                        t.label
                    ),
                    Some((t, StartTemplate::AlreadySent)) => format!(
                        ": the template “{}” was not sent, as one already went since they last wrote, and",
                        t.label
                    ),
                    _ => ":".to_string(),
                };
                format!("{started}{template} it will appear in your Webex App")
            }
            Err(e @ (StartError::AlreadyStarted { .. } | StartError::InProgress)) => e.to_string(),
            // As before the operation moved to the domain: the page keeps its
            // nonce after a failure, so this is a second click.
            Err(StartError::AlreadyFailed { .. }) => StartError::InProgress.to_string(),
            Err(e) => return Err(start_error(e)),
        };
        Ok(StartOutcome {
            message,
            next_nonce: crate::ssr::nonce(),
        })
    }
    .await;
    let ok_message = result
        .as_ref()
        .map(|o| o.message.clone())
        .unwrap_or_default();
    finish(
        result,
        Then::Reload(format!(
            "/contacts?{}",
            crate::ssr::encode_query(&[("started", &ok_message)])
        )),
        "/contacts",
        &[],
    )
}

#[cfg(feature = "ssr")]
fn start_error(e: relay::conversations::StartError) -> UiError {
    use domain::DomainError as D;
    use relay::conversations::StartError as S;
    match e {
        S::Invalid(f) => D::Invalid(f).into(),
        S::NotFound { entity, id } => D::NotFound { entity, id }.into(),
        S::Storage(detail) => D::Storage(detail).into(),
        trigger @ S::Trigger(_) => UiError::new(ErrorKind::Failed, trigger.to_string()),
        refused @ (S::AlreadyStarted { .. }
        | S::InProgress
        | S::AlreadyFailed { .. }
        | S::OptedOut { .. }) => UiError::new(ErrorKind::Conflict, refused.to_string()),
    }
}

pub fn label(channel: Channel) -> &'static str {
    channel.label()
}

#[component]
pub fn ContactsPage() -> impl IntoView {
    view! { <SignedIn render=|me| view! { <ContactList me /> } /> }
}

#[component]
fn ContactList(me: Me) -> impl IntoView {
    let query = use_query_map();
    let q = move || query.with(|m| m.get("q").unwrap_or_default());
    let page = move || {
        query.with(|m| {
            m.get("page")
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(1)
        })
    };
    let start = ServerAction::<StartConversation>::new();
    let contacts = Resource::new(move || (q(), page()), |(q, page)| list_contacts(q, page));
    let nonce = RwSignal::new(String::new());
    // The contact whose WhatsApp template chooser is open (`?choose=` when
    // the button was pressed before the page was interactive).
    let choosing = RwSignal::new(query.with_untracked(|m| m.get("choose")));
    // A finished start gives the buttons a fresh nonce for the next attempt
    // and closes the chooser.
    Effect::new(move |_| {
        if let Some(Ok(outcome)) = start.value().get() {
            nonce.set(outcome.next_nonce);
            choosing.set(None);
        }
    });
    let flash = move || {
        query.with(|m| {
            m.get("started")
                .or_else(|| m.get("saved").map(|n| format!("Saved {n}")))
                .or_else(|| m.get("deleted").map(|_| "Contact deleted".to_string()))
        })
    };
    let start_error = move || match start.value().get() {
        Some(Err(e)) => Some(e.message),
        _ => query.with(|m| m.get("error")),
    };
    let start_ok = move || match start.value().get() {
        Some(Ok(o)) => Some(o.message),
        Some(Err(_)) => None,
        None => flash(),
    };
    let csrf = me.csrf.clone();
    let (busy, set_busy) = signal(false);
    let page_href = move |n: u32| {
        format!(
            "/contacts?{}",
            crate::layout::encode_query(&[("q", &q()), ("page", &n.to_string())])
        )
    };

    view! {
        <div class="page-head">
            <h1>"Contacts"</h1>
            <div class="contact-actions">
                <a class="button" href="/contacts/new">"New contact"</a>
                <a class="button secondary" href="/contacts/import">"Import / export"</a>
            </div>
        </div>
        <form method="get" action="/contacts" class="search" role="search">
            <label for="q" class="visually-hidden">"Search contacts"</label>
            <input id="q" name="q" type="search" placeholder="Name or number" value=q />
            <button type="submit" class="secondary">"Search"</button>
        </form>
        <div aria-live="polite">
            <Show when=move || start.pending().get()>
                <p class="notice" role="status">"Starting conversation…"</p>
            </Show>
            {move || start_ok().map(|m| view! { <p class="notice success" role="status">{m}</p> })}
            {move || start_error().map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
        </div>
        <LoadingLine busy=busy what="Loading contacts…" />
        <LoadingTransition busy=set_busy>
            {move || {
                let csrf = csrf.clone();
                contacts.get().map(move |result| match result {
                    Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| contacts.refetch()) /> }.into_any(),
                    Ok(view) => {
                        if nonce.get_untracked().is_empty() {
                            nonce.set(view.nonce.clone());
                        }
                        let total = view.page.total;
                        let current = view.page.page;
                        let pages = ((total + 19) / 20).max(1) as u32;
                        if view.page.items.is_empty() {
                            return view! {
                                <div class="empty">
                                    {if q().is_empty() {
                                        view! { <p>"No contacts yet."</p> <p><a href="/contacts/new">"Add your first contact"</a></p> }.into_any()
                                    } else {
                                        view! { <p>"No contacts match “" {q()} "”."</p> <p><a href="/contacts">"Show all contacts"</a></p> }.into_any()
                                    }}
                                </div>
                            }.into_any();
                        }
                        let chooser = Chooser {
                            templates: StoredValue::new(view.templates.clone()),
                            agent_name: view.agent_name.clone(),
                            choosing,
                            q: q(),
                        };
                        let rows = view.page.items.into_iter().map(|c| {
                            let csrf = csrf.clone();
                            let chooser = chooser.clone();
                            view! { <ContactRow line=c csrf start nonce chooser /> }
                        }).collect_view();
                        view! {
                            <ul class="contact-list" aria-label="Contacts">{rows}</ul>
                            <nav class="pager" aria-label="Pages">
                                <span>{format!("Page {current} of {pages} · {total} contacts")}</span>
                                {(current > 1).then(|| view! { <a href=page_href(current - 1)>"Previous"</a> })}
                                {(current < pages).then(|| view! { <a href=page_href(current + 1)>"Next"</a> })}
                            </nav>
                        }.into_any()
                    }
                })
            }}
        </LoadingTransition>
    }
}

/// What a row needs for the WhatsApp template chooser.
#[derive(Clone)]
struct Chooser {
    templates: StoredValue<Vec<WhatsappTemplate>>,
    agent_name: String,
    /// The contact whose chooser is open.
    choosing: RwSignal<Option<String>>,
    /// The search, kept by Cancel.
    q: String,
}

#[component]
fn ContactRow(
    line: ContactLine,
    csrf: String,
    start: ServerAction<StartConversation>,
    nonce: RwSignal<String>,
    chooser: Chooser,
) -> impl IntoView {
    let ContactLine {
        contact,
        number,
        whatsapp_needs_template,
    } = line;
    let choosing = chooser.choosing;
    let has_templates = chooser.templates.with_value(|t| !t.is_empty());
    let buttons = Channel::ALL
        .iter()
        .copied()
        .filter(|ch| contact.channels.get(*ch).is_some())
        .map(|ch| {
            let name = format!("Start {} conversation with {}", label(ch), contact.name);
            let csrf = csrf.clone();
            let contact_id = contact.id.clone();
            if ch == Channel::Whatsapp && whatsapp_needs_template && has_templates {
                // The window is closed: the template is chosen first. Before
                // the page is interactive the button reloads the page with
                // the chooser open.
                let open_id = contact_id.clone();
                let is_open = {
                    let id = contact_id.clone();
                    move || choosing.get().as_deref() == Some(id.as_str())
                };
                return view! {
                    <form method="get" action="/contacts" class="inline"
                        on:submit=move |ev| {
                            ev.prevent_default();
                            choosing.set(Some(open_id.clone()));
                        }>
                        <input type="hidden" name="q" value=chooser.q.clone() />
                        <input type="hidden" name="choose" value=contact_id />
                        <button type="submit" class=format!("channel {}", ch.as_str()) aria-label=name.clone() title=name
                            aria-expanded=move || is_open().to_string()
                            disabled=move || start.pending().get()>
                            {label(ch)}
                        </button>
                    </form>
                }
                .into_any();
            }
            view! {
                <ActionForm action=start attr:class="inline">
                    <input type="hidden" name="csrf" value=csrf />
                    <input type="hidden" name="contact_id" value=contact_id />
                    <input type="hidden" name="channel" value=ch.as_str() />
                    <input type="hidden" name="nonce" value=move || nonce.get() />
                    <button type="submit" class=format!("channel {}", ch.as_str()) aria-label=name.clone() title=name
                        disabled=move || start.pending().get()>
                        {label(ch)}
                    </button>
                </ActionForm>
            }
            .into_any()
        })
        .collect_view();
    let open = {
        let id = contact.id.clone();
        move || choosing.get().as_deref() == Some(id.as_str())
    };
    let chooser_view = {
        let contact = contact.clone();
        move || {
            open().then(|| {
                view! {
                    <TemplateChooser contact=contact.clone() csrf=csrf.clone() start nonce chooser=chooser.clone() />
                }
            })
        }
    };
    view! {
        <li class="contact">
            <div class="contact-main">
                <a class="contact-name" href=format!("/contacts/{}", contact.id)>{contact.name.clone()}</a>
                <span class="muted number">{number}</span>
            </div>
            <div class="contact-actions">{buttons}</div>
            {chooser_view}
        </li>
    }
}

/// Starting on WhatsApp when the customer's window is closed: the agent
/// chooses the template (or none), types the values it asks for, sees the
/// text when the configuration gives it, and starts; the template goes at
/// once (`Conversations::start`).
#[component]
fn TemplateChooser(
    contact: Contact,
    csrf: String,
    start: ServerAction<StartConversation>,
    nonce: RwSignal<String>,
    chooser: Chooser,
) -> impl IntoView {
    let Chooser {
        templates,
        agent_name,
        choosing,
        q,
    } = chooser;
    let first = templates.with_value(|t| t.first().map(|t| t.id.clone()).unwrap_or_default());
    let fallback_label =
        templates.with_value(|t| t.first().map(|t| t.label.clone()).unwrap_or_default());
    let selected = RwSignal::new(first.clone());
    let typed = RwSignal::new(BTreeMap::<String, String>::new());
    let error = move || match start.value().get() {
        Some(Err(e)) => Some(e),
        _ => None,
    };
    let key = contact.id.clone();
    let title_id = format!("choose-{key}-title");
    let title: NodeRef<leptos::html::H2> = NodeRef::new();
    // Opening the chooser takes the keyboard (and a screen reader) to it.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(title) = title.get() {
            let _ = title.focus();
        }
    });
    let radios = templates.with_value(|list| {
        list.iter()
            .enumerate()
            .map(|(i, t)| {
                let id = t.id.clone();
                let input_id = format!("tpl-{key}-{i}");
                let checked = id == first;
                let value = id.clone();
                let label_for = input_id.clone();
                view! {
                    <label for=label_for>
                        <input type="radio" id=input_id name="template" value=value checked=checked
                            on:change=move |_| selected.set(id.clone()) />
                        <span>{t.label.clone()} <span class="muted small">{format!(" ({}, {})", t.id, t.language)}</span></span>
                    </label>
                }
            })
            .collect_view()
    });
    let none_id = format!("tpl-{key}-none");
    let fields = {
        let key = key.clone();
        move || {
            let chosen = selected.get();
            templates.with_value(|list| {
                list.iter()
                    .find(|t| t.id == chosen)
                    .map(|t| {
                        t.variables
                            .asked()
                            .map(|(name, label)| {
                                let input_id = format!("tpl-{key}-value-{name}");
                                let error_id = format!("{input_id}-error");
                                let field = format!("template.values.{name}");
                                let form_name = format!("values[{name}]");
                                let name = name.to_string();
                                let stored = name.clone();
                                let label_for = input_id.clone();
                                view! {
                                    <label for=label_for>{label.to_string()}</label>
                                    <input id=input_id name=form_name required autocomplete="off"
                                        aria-describedby=error_id.clone()
                                        prop:value=move || typed.with(|m| m.get(&name).cloned().unwrap_or_default())
                                        on:input=move |ev| {
                                            let value = event_target_value(&ev);
                                            typed.update(|m| { m.insert(stored.clone(), value); });
                                        } />
                                    <p id=error_id class="field-error">{move || error().and_then(|e| e.for_field(&field))}</p>
                                }
                            })
                            .collect_view()
                    })
            })
        }
    };
    let preview = {
        let contact_name = contact.name.clone();
        move || {
            let chosen = selected.get();
            templates.with_value(|list| {
                list.iter()
                    .find(|t| t.id == chosen)
                    .and_then(|t| typed.with(|v| t.preview_with(&contact_name, &agent_name, v)))
            })
        }
    };
    let cancel_href = format!("/contacts?{}", crate::layout::encode_query(&[("q", &q)]));
    let labelled_by = title_id.clone();
    let none_for = none_id.clone();
    view! {
        <ActionForm action=start attr:class="form chooser" attr:aria-labelledby=labelled_by>
            <h2 id=title_id class="chooser-title" tabindex="-1" node_ref=title>{format!("Start WhatsApp with {}", contact.name)}</h2>
            <p class="muted small">
                {format!("{} has not written on WhatsApp in the last 24 hours, and WhatsApp then allows only an approved template: the one you choose is sent as you start.", contact.name)}
            </p>
            <input type="hidden" name="csrf" value=csrf />
            <input type="hidden" name="contact_id" value=contact.id.clone() />
            <input type="hidden" name="channel" value="whatsapp" />
            <input type="hidden" name="nonce" value=move || nonce.get() />
            <fieldset>
                <legend>"Template"</legend>
                {radios}
                <label for=none_for>
                    <input type="radio" id=none_id name="template" value="" on:change=move |_| selected.set(String::new()) />
                    <span>"None now" <span class="muted small">{format!(" (when you write, “{fallback_label}” goes instead of your message)")}</span></span>
                </label>
            </fieldset>
            {fields}
            {move || preview().map(|text| view! {
                <div class="template-preview" aria-live="polite">
                    <p class="muted small">"Preview"</p>
                    <p>{text}</p>
                </div>
            })}
            <div class="form-actions">
                <button type="submit" disabled=move || start.pending().get()>"Start"</button>
                <a href=cancel_href on:click=move |_| choosing.set(None)>"Cancel"</a>
            </div>
        </ActionForm>
    }
}

#[component]
pub fn ContactFormPage() -> impl IntoView {
    view! { <SignedIn render=|me| view! { <ContactForm me /> } /> }
}

#[component]
fn ContactForm(me: Me) -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    // The contact and its conversations, in one resource.
    let existing = Resource::new(id, |id| async move {
        if id.is_empty() {
            Ok(None)
        } else {
            let contact = get_contact(id.clone()).await?;
            let conversations = crate::conversations::list_conversations(Some(id), None).await?;
            Ok(Some((contact, conversations)))
        }
    });
    let save = ServerAction::<SaveContact>::new();
    let error = move || match save.value().get() {
        Some(Err(e)) => Some(e),
        _ => query.with(|m| {
            m.get("error").map(|message| UiError {
                field: m.get("field"),
                ..UiError::new(ErrorKind::Invalid, message)
            })
        }),
    };
    let csrf = me.csrf.clone();
    view! {
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading the contact…"</p> }>
            {move || {
                let csrf = csrf.clone();
                existing.get().map(move |r| match r {
                    Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| existing.refetch()) /> <p><a href="/contacts">"Back to contacts"</a></p> }.into_any(),
                    Ok(loaded) => {
                        let (contact, conversations) = match loaded {
                            Some((c, list)) => (Some(c), Some(list)),
                            None => (None, None),
                        };
                        let is_new = contact.is_none();
                        let typed = |k: &str| query.with(|m| m.get(k));
                        let name = typed("name").or_else(|| contact.as_ref().map(|c| c.contact.name.clone())).unwrap_or_default();
                        let msisdn = typed("msisdn").or_else(|| contact.as_ref().map(|c| c.number.clone())).unwrap_or_default();
                        let language = typed("language")
                            .or_else(|| contact.as_ref().and_then(|c| c.contact.language).map(|l| l.as_str().to_string()))
                            .unwrap_or_default();
                        let contact = contact.map(|c| c.contact);
                        let version = contact.as_ref().map(|c| c.version.to_string()).unwrap_or_default();
                        let cid = contact.as_ref().map(|c| c.id.clone()).unwrap_or_default();
                        let delete_href = format!("/contacts/{cid}/delete");
                        view! {
                            <h1>{if is_new { "New contact" } else { "Edit contact" }}</h1>
                            <ActionForm action=save attr:class="form" attr:novalidate=true>
                                <input type="hidden" name="csrf" value=csrf.clone() />
                                <input type="hidden" name="id" value=cid.clone() />
                                <input type="hidden" name="version" value=version />
                                <label for="name">"Name"</label>
                                <input id="name" name="name" value=name autocomplete="off" required
                                    aria-describedby="name-error" />
                                <FieldError id="name-error" message=Signal::derive(move || error().and_then(|e| e.for_field("name"))) />
                                <label for="msisdn">"Phone number"</label>
                                <input id="msisdn" name="msisdn" type="tel" value=msisdn autocomplete="off" required
                                    aria-describedby="msisdn-help msisdn-error" />
                                <p id="msisdn-help" class="muted small">"With country code, e.g. +44 7700 900123."</p>
                                <FieldError id="msisdn-error" message=Signal::derive(move || error().and_then(|e| e.for_field("msisdn"))) />
                                <label for="language">"Language of our automatic replies"</label>
                                <select id="language" name="language" aria-describedby="language-help language-error">
                                    <option value="" selected=language.is_empty()>"The server's default"</option>
                                    {domain::Language::ALL.iter().map(|l| {
                                        let code = l.as_str();
                                        view! { <option value=code selected=language == code>{l.label()}</option> }
                                    }).collect_view()}
                                </select>
                                <p id="language-help" class="muted small">"The questions, \"conversation ended\" and opt-out answers the relay sends this customer. What you write goes as you write it."</p>
                                <FieldError id="language-error" message=Signal::derive(move || error().and_then(|e| e.for_field("language"))) />
                                {move || error().filter(|e| e.field.is_none()).map(|e| {
                                    let current = e.current.clone();
                                    view! {
                                        <div class="notice error" role="alert">
                                            <p>{e.message.clone()}</p>
                                            {current.and_then(|c| c.get("name").map(|n| {
                                                let msisdn = c.get("msisdn").and_then(|m| m.as_str()).unwrap_or_default().to_string();
                                                view! { <p>"Now: " <strong>{n.as_str().unwrap_or_default().to_string()}</strong> " · " {msisdn}</p>
                                                        <p><a href=move || format!("/contacts/{}", id())>"Reload the current values"</a></p> }
                                            }))}
                                        </div>
                                    }
                                })}
                                <div class="form-actions">
                                    <button type="submit" disabled=move || save.pending().get()>
                                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                                    </button>
                                    <a href="/contacts">"Cancel"</a>
                                    {(!is_new).then(|| view! { <a class="danger-link" href=delete_href.clone()>"Delete…"</a> })}
                                </div>
                            </ActionForm>
                            {conversations.map(|list| view! { <crate::conversations::Conversations list /> })}
                        }.into_any()
                    }
                })
            }}
        </Transition>
    }
}

#[component]
pub fn DeleteContactPage() -> impl IntoView {
    view! { <SignedIn render=|me| view! { <DeleteContact me /> } /> }
}

#[component]
fn DeleteContact(me: Me) -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let contact = Resource::new(id, get_contact);
    let delete = ServerAction::<DeleteContact>::new();
    let csrf = me.csrf.clone();
    view! {
        <Transition fallback=|| view! { <p class="muted" role="status">"Loading the contact…"</p> }>
            {move || {
                let csrf = csrf.clone();
                contact.get().map(move |r| match r {
                    Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| contact.refetch()) /> <p><a href="/contacts">"Back to contacts"</a></p> }.into_any(),
                    Ok(ContactLine { contact: c, number, .. }) => view! {
                        <h1>"Delete contact?"</h1>
                        <p>"Delete " <strong>{c.name.clone()}</strong> " (" {number} ") permanently? Their sessions keep routing, without a contact."</p>
                        {move || match delete.value().get() {
                            Some(Err(e)) => Some(e.message),
                            _ => query.with(|m| m.get("error")),
                        }.map(|m| view! { <p class="notice error" role="alert">{m}</p> })}
                        <ActionForm action=delete attr:class="form-actions">
                            <input type="hidden" name="csrf" value=csrf.clone() />
                            <input type="hidden" name="id" value=c.id.clone() />
                            <button type="submit" class="danger" disabled=move || delete.pending().get()>
                                {let label = format!("Delete {}", c.name); move || if delete.pending().get() { "Deleting…".to_string() } else { label.clone() }}
                            </button>
                            <a href=format!("/contacts/{}", c.id)>"Cancel"</a>
                        </ActionForm>
                    }.into_any(),
                })
            }}
        </Transition>
    }
}
