//! The records the product stores and the inputs that change them. JSON is
//! camelCase, with the seed's field names for contacts and sessions.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::phone::Msisdn;

/// The ids by which a contact is reached on each channel.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ContactChannels {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
}

impl ContactChannels {
    pub fn get(&self, channel: Channel) -> Option<&str> {
        match channel {
            Channel::Whatsapp => self.whatsapp.as_deref(),
            Channel::Sms => self.sms.as_deref(),
        }
    }

    pub fn set(&mut self, channel: Channel, id: Option<String>) {
        match channel {
            Channel::Whatsapp => self.whatsapp = id,
            Channel::Sms => self.sms = id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub id: String,
    pub name: String,
    pub msisdn: Msisdn,
    pub channels: ContactChannels,
    pub owner_agent_id: Option<String>,
    /// The language the relay writes to them in; none: the server's default.
    #[serde(default)]
    pub language: Option<crate::Language>,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// Body of a contact create or update. On update, omitted fields keep their
/// value; `version`, when given, must be the stored version.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    pub msisdn: Option<String>,
    /// The channels this contact can be reached on; default: all.
    pub channels: Option<Vec<String>>,
    pub owner_agent_id: Option<String>,
    /// `en` or `es`: the language the relay writes to them in; empty for
    /// the server's default.
    pub language: Option<String>,
    pub version: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// The customer is in the no-session dialogue (asking name, agent).
    Onboarding,
    Active,
    Ended,
}

crate::named_enum!(SessionStatus, "session status", {
    Onboarding => "onboarding",
    Active => "active",
    Ended => "ended",
});

/// Which agent a customer on a channel is routed to. One per (channel, channel id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub customer_channel: Channel,
    pub customer_channel_id: String,
    pub collab_agent_id: Option<String>,
    pub collab_guest_id: Option<String>,
    pub collab_extra1: Option<String>,
    pub collab_extra2: Option<String>,
    pub collab_extra3: Option<String>,
    pub contact_id: Option<String>,
    pub status: SessionStatus,
    pub last_inbound_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The customer's current conversation (open, or the last one closed).
    #[serde(default)]
    pub conversation_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    Open,
    Closed,
}

crate::named_enum!(ConversationStatus, "conversation status", {
    Open => "open",
    Closed => "closed",
});

/// What closed a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// The agent, in the sidebar (End session) or through a session update.
    Agent,
    /// A caller of `POST /api/v1/conversations/{id}/close` (a Connect flow).
    Api,
    /// No message either way for `CM_CONVERSATION_IDLE_HOURS`.
    Inactivity,
    /// The customer replied STOP (or its kin).
    OptOut,
    /// The customer was routed to another agent: their engagement with the
    /// new agent is a new conversation.
    Transfer,
}

crate::named_enum!(ClosedBy, "closed by", {
    Agent => "agent",
    Api => "api",
    Inactivity => "inactivity",
    OptOut => "opt_out",
    Transfer => "transfer",
});

/// A customer's engagement with one agent: opened when the customer (or the
/// agent's Start) begins it, closed with a reason, reopened while it is
/// still the customer's latest. Its transcript stays readable when closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub session_id: String,
    pub customer_channel: Channel,
    pub customer_channel_id: String,
    pub contact_id: Option<String>,
    /// The agent engaged (collabAgentId); none while the customer is still
    /// in the dialogue that finds their agent.
    pub agent: Option<String>,
    pub status: ConversationStatus,
    pub opened_at: String,
    pub closed_at: Option<String>,
    /// None while open, and for conversations closed before they were recorded.
    pub closed_by: Option<ClosedBy>,
    pub close_reason: Option<String>,
    pub reopened_at: Option<String>,
    pub updated_at: String,
}

/// Body of a session create (POST) or update (PUT). On PUT omitted fields
/// keep their value; the customer's channel and id cannot change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SessionInput {
    pub customer_channel: Option<String>,
    pub customer_channel_id: Option<String>,
    pub collab_agent_id: Option<String>,
    pub collab_guest_id: Option<String>,
    pub collab_extra1: Option<String>,
    pub collab_extra2: Option<String>,
    pub collab_extra3: Option<String>,
    pub contact_id: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Agent,
}

crate::named_enum!(Role, "role", { Admin => "admin", Agent => "agent" });

/// A business agent who chats from the Webex App.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    pub id: String,
    /// What the agent's links and QR codes name them by (no email).
    #[cfg_attr(feature = "server", schema(value_type = String, example = "0a1b2c3d4e"))]
    pub public_id: crate::agent_links::PublicAgentId,
    pub email: String,
    pub display_name: String,
    pub webex_person_id: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
}

/// One relayed message, as the transcript shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub session_id: String,
    /// The conversation it belongs to (none for lines older than conversations).
    #[serde(default)]
    pub conversation_id: Option<String>,
    pub direction: Direction,
    pub channel: String,
    pub body: String,
    /// `webex` for the agent's messages, `connect` for the customer's; none
    /// for lines the relay wrote itself (dialogue, template, notices).
    pub provider: Option<String>,
    pub status: MessageStatus,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub attachment_url: Option<String>,
    pub attachment_mime: Option<String>,
    pub attachment_name: Option<String>,
    pub created_at: String,
}

/// A customer on a channel, their id in the one written form the store
/// keeps (`+447700900123` for SMS, `447700900123` for WhatsApp). Made once
/// where a number comes in (`Store::customer`), then carried, not parsed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub channel: Channel,
    pub id: String,
}

/// Where a customer without an agent is in the onboarding dialogue
/// (`sessions.onboarding_step`; the lines are `relay::dialogue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnboardingStep {
    AskName,
    AskAgent,
}

crate::named_enum!(OnboardingStep, "onboarding step", { AskName => "ask_name", AskAgent => "ask_agent" });

/// Which way a transcript line went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Customer to agent.
    Inbound,
    /// To the customer (the agent's words, dialogue lines, the template).
    Outbound,
}

crate::named_enum!(Direction, "direction", { Inbound => "inbound", Outbound => "outbound" });

/// Where a transcript line is on its way. The order is the order of
/// progress: a status only ever moves to a greater one (a late "submitted"
/// receipt does not undo "read"), and `Failed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// A customer's message, stored, not yet in the agent's space.
    Received,
    /// Ours, waiting for its turn.
    Queued,
    /// Being posted into Webex (a crash here is checked before a retry).
    Posting,
    /// Accepted by Webex or Connect.
    Sent,
    /// Connect's receipts, in order.
    Submitted,
    Delivered,
    Read,
    Failed,
}

crate::named_enum!(MessageStatus, "message status", {
    Received => "received",
    Queued => "queued",
    Posting => "posting",
    Sent => "sent",
    Submitted => "submitted",
    Delivered => "delivered",
    Read => "read",
    Failed => "failed",
});

/// A page of a listing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: i64,
}

/// Who made a change: written to the audit log with every mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    ApiKey(String),
    Agent(String),
    System,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::ApiKey(name) => format!("api-key:{name}"),
            Actor::Agent(email) => format!("agent:{email}"),
            Actor::System => "system".into(),
        }
    }
}

/// A bearer token and when it stops working (Webex guests, the Service
/// App). Debug never prints the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at_ms: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod status_order {
    use super::*;

    #[test]
    fn statuses_only_move_forward_and_failure_is_final() {
        use MessageStatus::*;
        assert!(Sent > Posting && Posting > Queued);
        assert!(Submitted > Sent);
        assert!(Delivered > Submitted);
        assert!(Read > Delivered);
        assert!(Failed > Read, "failure is final");
    }
}
