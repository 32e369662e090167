//! Who may see and change what. The one place for these rules: the UI's
//! server functions and any other surface ask here.

use crate::model::{Agent, Contact, Role, Session};

/// Whether a session is routed to this agent. Sessions name their agent by
/// Webex person id or by email (the seed's `collabAgentId`).
pub fn is_assigned_to(session: &Session, agent: &Agent) -> bool {
    session.collab_agent_id.as_deref().is_some_and(|id| {
        id.eq_ignore_ascii_case(&agent.email) || agent.webex_person_id.as_deref() == Some(id)
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionStatus;
    use crate::Channel;

    fn agent(email: &str, role: Role) -> Agent {
        Agent {
            id: format!("id-{email}"),
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
}
