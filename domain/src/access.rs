//! Who may see and change what. The one place for these rules: the UI's
//! server functions and any other surface ask here.

use crate::model::{Agent, Contact, Conversation, Role, Session};

/// Whether a session is routed to this agent. Sessions name their agent by
/// Webex person id or by email (the seed's `collabAgentId`).
pub fn is_assigned_to(session: &Session, agent: &Agent) -> bool {
    names_agent(session.collab_agent_id.as_deref(), agent)
}

fn names_agent(collab_agent_id: Option<&str>, agent: &Agent) -> bool {
    collab_agent_id.is_some_and(|id| {
        id.eq_ignore_ascii_case(&agent.email) || agent.webex_person_id.as_deref() == Some(id)
    })
}

/// A conversation is its agent's (the one engaged in it, not whoever has
/// the customer now), and every admin's.
pub fn can_view_conversation(agent: &Agent, conversation: &Conversation) -> bool {
    agent.role == Role::Admin || names_agent(conversation.agent.as_deref(), agent)
}

pub fn can_view_session(agent: &Agent, session: &Session) -> bool {
    agent.role == Role::Admin || is_assigned_to(session, agent)
}

/// Ending a session: its agent, or an admin.
pub fn can_end_session(agent: &Agent, session: &Session) -> bool {
    can_view_session(agent, session)
}

/// Taking a customer over is what the Start conversation button does anyway
/// (the latest agent wins), so any agent may take over any session they can
/// find; only admins can list everyone's sessions.
pub fn can_take_over(agent: &Agent, _session: &Session) -> bool {
    !agent.disabled
}

/// Contacts are the business's shared address book: every agent can find
/// and start conversations with any of them. Changing or deleting one is for
/// its owner, an admin, or anyone while it has no owner.
pub fn can_change_contact(agent: &Agent, contact: &Contact) -> bool {
    agent.role == Role::Admin
        || contact
            .owner_agent_id
            .as_deref()
            .is_none_or(|owner| owner == agent.id)
}

pub fn is_admin(agent: &Agent) -> bool {
    agent.role == Role::Admin && !agent.disabled
}

/// What part of a session's transcript someone may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptView {
    /// Every line (admins).
    All,
    /// Lines written from this moment (ms since the epoch) on.
    Since(i64),
    /// Nothing (the session is not theirs).
    Nothing,
}

/// Takeover visibility. When an agent takes a customer over (the session is
/// routed to them, "latest agent wins"), they see the transcript from the
/// moment it became theirs (`agent_since_ms`): what the customer told an
/// earlier agent stays between them. Admins see every line. An earlier agent
/// no longer sees the session at all, like any session that is not theirs.
pub fn transcript_view(viewer: &Agent, session: &Session, agent_since_ms: i64) -> TranscriptView {
    if is_admin(viewer) {
        TranscriptView::All
    } else if is_assigned_to(session, viewer) {
        TranscriptView::Since(agent_since_ms)
    } else {
        TranscriptView::Nothing
    }
}

/// What an API key may call. `admin` includes the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiScope {
    /// The calls of the Connect flows: contacts, sessions and agents.
    Connect,
    /// Guest tokens and the attachment cache (`/guests/token`, `/attachments`).
    Services,
    /// Everything.
    Admin,
}

impl ApiScope {
    pub const ALL: [ApiScope; 3] = [ApiScope::Connect, ApiScope::Services, ApiScope::Admin];
    /// What a key gets when its creator names no scope (and what keys made
    /// before scopes existed got): everything a Connect flow calls, not admin.
    pub const DEFAULT: [ApiScope; 2] = [ApiScope::Connect, ApiScope::Services];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Connect => "connect",
            ApiScope::Services => "services",
            ApiScope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<ApiScope> {
        ApiScope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for ApiScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a key with `granted` scopes may make a call that needs `needed`.
pub fn key_allows(granted: &[ApiScope], needed: ApiScope) -> bool {
    granted.contains(&needed) || granted.contains(&ApiScope::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionStatus;
    use crate::Channel;

    fn agent(email: &str, role: Role) -> Agent {
        Agent {
            id: format!("id-{email}"),
            public_id: crate::agent_links::PublicAgentId::from_bytes([1, 2, 3, 4, 5]),
            email: email.into(),
            display_name: email.into(),
            webex_person_id: Some(format!("person-{email}")),
            role,
            disabled: false,
            created_at: String::new(),
        }
    }

    fn session(agent_id: &str) -> Session {
        Session {
            id: "s".into(),
            customer_channel: Channel::Sms,
            customer_channel_id: "+447700900123".into(),
            collab_agent_id: Some(agent_id.into()),
            collab_guest_id: None,
            collab_extra1: None,
            collab_extra2: None,
            collab_extra3: None,
            contact_id: None,
            status: SessionStatus::Active,
            last_inbound_at: None,
            created_at: String::new(),
            updated_at: String::new(),
            conversation_id: None,
        }
    }

    #[test]
    fn agents_see_their_own_sessions_admins_see_all() {
        let a = agent("a@example.com", Role::Agent);
        let b = agent("b@example.com", Role::Agent);
        let admin = agent("admin@example.com", Role::Admin);
        assert!(can_view_session(&a, &session("A@example.com")));
        assert!(can_view_session(&a, &session("person-a@example.com")));
        assert!(!can_view_session(&b, &session("a@example.com")));
        assert!(can_view_session(&admin, &session("a@example.com")));
    }

    #[test]
    fn after_a_takeover_the_new_agent_sees_from_the_takeover_admins_see_all() {
        let a = agent("a@example.com", Role::Agent);
        let b = agent("b@example.com", Role::Agent);
        let admin = agent("admin@example.com", Role::Admin);
        let taken = session("b@example.com");
        assert_eq!(
            transcript_view(&b, &taken, 1_000),
            TranscriptView::Since(1_000)
        );
        assert_eq!(transcript_view(&a, &taken, 1_000), TranscriptView::Nothing);
        assert_eq!(transcript_view(&admin, &taken, 1_000), TranscriptView::All);
    }

    #[test]
    fn scopes() {
        use ApiScope::*;
        assert!(key_allows(&[Connect], Connect));
        assert!(!key_allows(&[Connect], Services));
        assert!(!key_allows(&[Services], Connect));
        assert!(key_allows(&[Admin], Services));
        assert!(!key_allows(&[], Connect));
        assert_eq!(ApiScope::parse(" Services "), Some(Services));
        assert_eq!(ApiScope::parse("everything"), None);
    }
}
