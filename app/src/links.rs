//! "My links": an agent's WhatsApp and SMS links with the routing keyword
//! written in, and a QR code of each, to share or print (seed: "a QR code
//! with a routing command"). Admins see any agent's (`/links?agent={id}`).
//! The QR codes are drawn on the server (the `qrcode` crate is not in the
//! browser's bundle) and sent as SVG text.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::codec::Json;
use crate::error::UiError;
use crate::layout::{ErrorNotice, LoadingLine, LoadingTransition, SignedIn};

/// One channel's link: where it leads, or the setting that is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelLink {
    /// "WhatsApp" or "SMS".
    pub channel: String,
    pub link: Result<Link, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub url: String,
    /// The business number, as people write it.
    pub number: String,
    /// The QR code of `url`: an `<svg role="img">` with its accessible name.
    pub qr_svg: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentLinks {
    pub agent_name: String,
    pub mine: bool,
    /// What the customer sends: `webexAgent_{public id}`.
    pub keyword: String,
    pub links: Vec<ChannelLink>,
}

/// The links of the signed-in agent, or (admins) of agent `agent`.
#[server(endpoint = "agent-links", output = Json)]
pub async fn get_agent_links(agent: Option<String>) -> Result<AgentLinks, UiError> {
    use crate::ssr::{deps, require_admin, require_agent};
    use domain::agent_links::{sms_link, whatsapp_link};
    let web = require_agent()?;
    let deps = deps();
    let agent = match agent.filter(|a| !a.is_empty() && *a != web.agent.id) {
        Some(id) => {
            require_admin(&web)?;
            deps.store.agent_by_id(&id).await?
        }
        None => web.agent.clone(),
    };
    let keyword = agent.public_id.keyword();
    let numbers = &deps.business_numbers;
    let link = |channel: &str,
                number: &Result<domain::Msisdn, String>,
                url: fn(&domain::Msisdn, &str) -> String| {
        ChannelLink {
            channel: channel.to_string(),
            link: number.as_ref().map_err(Clone::clone).and_then(|n| {
                let url = url(n, &keyword);
                let label = format!("QR code: {channel} link to {}", agent.display_name);
                Ok(Link {
                    qr_svg: qr_svg(&url, &label)?,
                    number: n.for_people(),
                    url,
                })
            }),
        }
    };
    Ok(AgentLinks {
        links: vec![
            link("WhatsApp", &numbers.whatsapp, whatsapp_link),
            link("SMS", &numbers.sms, sms_link),
        ],
        mine: agent.id == web.agent.id,
        agent_name: agent.display_name,
        keyword,
    })
}

/// The QR code of `data` as inline SVG, named for screen readers (the
/// crate's output starts with an XML declaration, which HTML does not want).
#[cfg(feature = "ssr")]
fn qr_svg(data: &str, label: &str) -> Result<String, String> {
    use qrcode::render::svg;
    // Medium error correction: survives a smudged print, stays small.
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)
        .map_err(|e| format!("no QR code for this link: {e}"))?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = image
        .find("<svg")
        .ok_or("the QR code is not an SVG image")?;
    let label = escape(label);
    Ok(image[start..].replacen(
        "<svg ",
        &format!(r#"<svg role="img" aria-label="{label}" class="qr-code" "#),
        1,
    ))
}

#[cfg(feature = "ssr")]
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `/links`: the signed-in agent's links; `?agent=ID` an admin's view of
/// another's; `&print=1` the sheet alone, to print.
#[component]
pub fn LinksPage() -> impl IntoView {
    view! { <SignedIn render=|_me| view! { <Links /> } /> }
}

#[component]
fn Links() -> impl IntoView {
    let query = use_query_map();
    let agent = move || query.with(|q| q.get("agent"));
    let print = move || query.with(|q| q.get("print").is_some());
    let links = Resource::new(agent, get_agent_links);
    let (busy, set_busy) = signal(false);
    view! {
        <section class="card links-page" class:print-view=print>
            <LoadingLine busy what="Loading the links…" />
            <LoadingTransition busy=set_busy>
                {move || links.get().map(|r| match r {
                    Ok(l) => view! { <LinksSheet links=l print=print() agent=agent() /> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e retry=Callback::new(move |_| links.refetch()) /> }.into_any(),
                })}
            </LoadingTransition>
        </section>
    }
}

#[component]
fn LinksSheet(links: AgentLinks, print: bool, agent: Option<String>) -> impl IntoView {
    let title = if links.mine {
        "My links".to_string()
    } else {
        format!("Links of {}", links.agent_name)
    };
    let print_href = match &agent {
        Some(id) => format!(
            "/links?{}",
            crate::layout::encode_query(&[("agent", id), ("print", "1")])
        ),
        None => "/links?print=1".to_string(),
    };
    let back_href = match &agent {
        Some(id) => format!("/links?{}", crate::layout::encode_query(&[("agent", id)])),
        None => "/links".to_string(),
    };
    let name = links.agent_name.clone();
    view! {
        <h1 class="no-print">{title}</h1>
        <p class="no-print muted small">
            "Customers who open a link, or scan its code with their phone's camera, find "
            <code>{links.keyword.clone()}</code>
            " written for them; once they send it, they are connected to "
            {if links.mine { "you".to_string() } else { links.agent_name.clone() }}
            ". The code names no email address."
        </p>
        <h2 class="print-only">{format!("Chat with {name}")}</h2>
        <p class="print-only">
            "Scan a code with your phone's camera, or open the link, then press Send: "
            "you are connected to " {name.clone()} "."
        </p>
        <div class="qr-grid">
            {links.links.into_iter().map(|c| view! { <ChannelCard c /> }).collect_view()}
        </div>
        <p class="no-print form-actions">
            {if print {
                view! {
                    <span class="muted small">"Print this page with your browser (Ctrl+P or ⌘P). "</span>
                    <a href=back_href>"Back"</a>
                }.into_any()
            } else {
                view! { <a class="button secondary" href=print_href>"Printable view"</a> }.into_any()
            }}
        </p>
    }
}

#[component]
fn ChannelCard(c: ChannelLink) -> impl IntoView {
    let id = format!("link-{}", c.channel.to_lowercase());
    match c.link {
        Ok(link) => view! {
            <figure class="qr" data-channel=c.channel.to_lowercase()>
                <div inner_html=link.qr_svg></div>
                <figcaption>
                    <span><strong>{c.channel.clone()}</strong> " · " {link.number.clone()}</span>
                    <label class="no-print" for=id.clone()>{format!("{} link", c.channel)}</label>
                    <input class="no-print link-text" id=id type="text" readonly value=link.url.clone()
                        on:focus=|ev| select_all(&ev) />
                    <a class="no-print" href=link.url.clone()>{format!("Open the {} link", c.channel)}</a>
                </figcaption>
            </figure>
        }.into_any(),
        Err(missing) => view! {
            <div class="notice" role="note" data-channel=c.channel.to_lowercase()>
                <p>{format!("No {} link: {missing}.", c.channel)}</p>
                <p class="muted small">"An admin sets it in the server's settings (see the README)."</p>
            </div>
        }.into_any(),
    }
}

/// Focusing the link's text selects it all, ready to copy.
fn select_all(ev: &leptos::ev::FocusEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        {
            input.select();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}
