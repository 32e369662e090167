//! The conversation with a customer who has no agent yet (seed: WhatsApp and
//! SMS Message Handlers, "no session" branch): the routing keyword, the
//! questions, and every line we send on the business's behalf. Pure: the
//! relay does the lookups and keeps the step in the session row.

/// The routing request of the seed: `webexAgent_{agent}` anywhere in the
/// text (any case; see `domain::agent_links`).
const KEYWORD: &str = domain::agent_links::ROUTING_KEYWORD;
/// What a customer sends to start again after a conversation ended.
pub const RESTART: &str = "START";
/// Longest name we keep from the customer.
const NAME_MAX: usize = 100;

pub use domain::model::OnboardingStep as Step;
use domain::Language;
use fluent_bundle::FluentArgs;

/// A routing request: the agent named and the text without the keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRequest {
    /// An email address or an agent id.
    pub agent: String,
    pub rest: String,
}

/// Finds `webexAgent_{agent}` (any case) and removes it from the text.
pub fn routing_request(text: &str) -> Option<RoutingRequest> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find(&KEYWORD.to_ascii_lowercase())?;
    let after = start + KEYWORD.len();
    let end = text[after..]
        .find(char::is_whitespace)
        .map_or(text.len(), |i| after + i);
    let agent = text[after..end]
        .trim_end_matches(|c: char| ".,;:!?)\"'".contains(c))
        .to_string();
    if agent.is_empty() {
        return None;
    }
    let rest = format!("{} {}", &text[..start], &text[end..]);
    Some(RoutingRequest {
        agent,
        rest: rest.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

/// Whether the customer asks to start a new conversation.
pub fn is_restart(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case(RESTART)
}

/// The first email address in the text, lowercased.
pub fn find_email(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || "<>,;:()\"'".contains(c))
        .map(|w| w.trim_end_matches('.'))
        .find(|w| {
            let mut parts = w.splitn(2, '@');
            let (local, domain) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.contains('@')
        })
        .map(str::to_lowercase)
}

/// The customer's answer to "what is your name", cleaned; None when empty.
pub fn clean_name(text: &str) -> Option<String> {
    let name = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then(|| name.chars().take(NAME_MAX).collect())
}

/// What we say to a customer on the business's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    AskName,
    AskAgent {
        name: String,
    },
    NotAnEmail,
    PleaseWait,
    Initiated {
        agent: String,
    },
    AgentNotFound,
    SessionEnded,
    /// An MMS with no conversation to go to (seed: MMS Message Handler).
    SessionNotFound,
    /// The conversation ended after `hours` without a message either way.
    IdleEnded {
        hours: u64,
    },
    /// The answer to STOP (and the other opt-out words).
    OptedOut,
    /// The answer to START or UNSTOP.
    OptedIn,
    /// The customer sent a card number (seed: CCE flows, PCI compliance).
    CardNumberHidden,
}

impl Line {
    /// A short name, part of the line's idempotency key.
    pub fn key(&self) -> &'static str {
        match self {
            Line::AskName => "ask-name",
            Line::AskAgent { .. } => "ask-agent",
            Line::NotAnEmail => "not-an-email",
            Line::PleaseWait => "please-wait",
            Line::Initiated { .. } => "initiated",
            Line::AgentNotFound => "agent-not-found",
            Line::SessionEnded => "session-ended",
            Line::SessionNotFound => "session-not-found",
            Line::IdleEnded { .. } => "idle-ended",
            Line::OptedOut => "opted-out",
            Line::OptedIn => "opted-in",
            Line::CardNumberHidden => "card-number-hidden",
        }
    }

    /// Sent even to a customer who opted out: the confirmation itself.
    pub fn is_consent_reply(&self) -> bool {
        matches!(self, Line::OptedOut | Line::OptedIn)
    }

    /// The line in the customer's language (`relay/locales/{code}.ftl`).
    pub fn text(&self, language: Language) -> String {
        let mut args = FluentArgs::new();
        args.set("restart", RESTART);
        match self {
            Line::AskAgent { name } => args.set("name", name.as_str()),
            Line::Initiated { agent } => args.set("agent", agent.as_str()),
            Line::IdleEnded { hours } => args.set("hours", *hours),
            _ => {}
        }
        crate::lines::render(language, self.key(), &args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_keyword_is_found_and_removed() {
        let r = routing_request("Hi webexAgent_agent-a@example.com, I need help").unwrap();
        assert_eq!(r.agent, "agent-a@example.com");
        assert_eq!(r.rest, "Hi I need help");
        let r = routing_request("WEBEXAGENT_bob@x.org").unwrap();
        assert_eq!((r.agent.as_str(), r.rest.as_str()), ("bob@x.org", ""));
        assert_eq!(routing_request("hello there"), None);
        assert_eq!(routing_request("webexAgent_ alone"), None);
        // The form the agents' links and QR codes write.
        let r = routing_request("webexAgent_0a1b2c3d4e").unwrap();
        assert_eq!((r.agent.as_str(), r.rest.as_str()), ("0a1b2c3d4e", ""));
    }

    #[test]
    fn emails_are_found_in_a_sentence() {
        assert_eq!(
            find_email("It is Agent-A@Example.com."),
            Some("agent-a@example.com".into())
        );
        assert_eq!(find_email("<a@b.co>"), Some("a@b.co".into()));
        assert_eq!(find_email("not an address"), None);
        assert_eq!(find_email("a@b"), None);
        assert_eq!(find_email("@b.com"), None);
    }

    #[test]
    fn names_are_cleaned_and_bounded() {
        assert_eq!(clean_name("  Jane   Doe "), Some("Jane Doe".into()));
        assert_eq!(clean_name("   "), None);
        assert_eq!(clean_name(&"x".repeat(500)).unwrap().len(), 100);
    }

    #[test]
    fn restart_is_the_word_alone() {
        assert!(is_restart(" start "));
        assert!(!is_restart("start over please"));
    }

    fn every_line() -> Vec<Line> {
        vec![
            Line::AskName,
            Line::AskAgent {
                name: "Jane".into(),
            },
            Line::NotAnEmail,
            Line::PleaseWait,
            Line::Initiated {
                agent: "Agent A".into(),
            },
            Line::AgentNotFound,
            Line::SessionEnded,
            Line::SessionNotFound,
            Line::IdleEnded { hours: 24 },
            Line::OptedOut,
            Line::OptedIn,
            Line::CardNumberHidden,
        ]
    }

    #[test]
    fn every_line_is_written_in_every_language_with_its_values() {
        for language in Language::ALL.iter().copied() {
            for line in every_line() {
                assert!(
                    crate::lines::has(language, line.key()),
                    "{language} lacks {}",
                    line.key()
                );
                let text = line.text(language);
                assert!(
                    !text.contains('{') && !text.contains('\u{2068}'),
                    "{language} {text}"
                );
            }
            assert!(Line::AskAgent {
                name: "Jane".into()
            }
            .text(language)
            .contains("Jane"));
            assert!(Line::Initiated {
                agent: "Agent A".into()
            }
            .text(language)
            .contains("Agent A"));
            assert!(Line::IdleEnded { hours: 24 }.text(language).contains("24"));
            // The carriers' words stay as they are in every language.
            assert!(Line::SessionEnded.text(language).contains("START"));
            assert!(Line::OptedOut.text(language).contains("START"));
            assert!(Line::OptedIn.text(language).contains("STOP"));
        }
        assert_eq!(
            Line::AskName.text(Language::En),
            "Hello! To connect you with the right person, what is your name?"
        );
        assert!(Line::AskName.text(Language::Es).starts_with("¡Hola!"));
    }

    #[test]
    fn steps_round_trip() {
        for s in [Step::AskName, Step::AskAgent] {
            assert_eq!(s.as_str().parse::<Step>(), Ok(s));
        }
    }
}
