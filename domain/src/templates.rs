//! WhatsApp templates: the approved messages that may open a conversation
//! when WhatsApp's 24-hour window is closed. The configured list (the
//! catalog), where each variable's value comes from, and the agent's
//! choice at start, checked against the catalog. The rules live here once;
//! `platform::connect` sends, `server` reads the setting, the relay and the
//! sidebar use these types.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::error::FieldError;

/// Longest value an agent may type for an `ask:` variable. Ours: Connect's
/// template page gives no limit, and a parameter is one phrase of a message.
pub const ASKED_VALUE_MAX: usize = 1024;

/// Where a template variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "text")]
pub enum VariableSource {
    /// The customer's name as the agent knows it.
    CustomerName,
    /// The display name of the agent handling the conversation.
    AgentName,
    /// Fixed text from the setting.
    Text(String),
    /// Typed by the agent when choosing the template at start; the text is
    /// the label the agent sees.
    Ask(String),
}

impl VariableSource {
    /// Reads a source as written in the settings: `customer_name`,
    /// `agent_name`, `text:FIXED TEXT` or `ask:LABEL`.
    pub fn parse(source: &str) -> Result<VariableSource, &'static str> {
        let source = source.trim();
        match source {
            "customer_name" => Ok(VariableSource::CustomerName),
            "agent_name" => Ok(VariableSource::AgentName),
            other => {
                if let Some(text) = other.strip_prefix("text:") {
                    if !text.is_empty() {
                        return Ok(VariableSource::Text(text.to_string()));
                    }
                } else if let Some(label) = other.strip_prefix("ask:") {
                    if !label.trim().is_empty() {
                        return Ok(VariableSource::Ask(label.trim().to_string()));
                    }
                }
                Err("the source must be customer_name, agent_name, text:FIXED TEXT or ask:LABEL")
            }
        }
    }
}

/// Each template variable's name and where its value comes from, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TemplateVariables(pub Vec<(String, VariableSource)>);

/// A variable name as registered in Connect.
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(
            "the variable name must be letters, digits, '_' or '-' (as registered in Connect)",
        );
    }
    Ok(())
}

impl TemplateVariables {
    /// Reads `CM_WHATSAPP_TEMPLATE_VARIABLES`: `name=source` pairs separated
    /// by commas, each source `customer_name`, `agent_name`, `text:FIXED` or
    /// `ask:LABEL` (neither can contain a comma). Empty: a template without
    /// variables.
    pub fn parse(setting: &str) -> Result<TemplateVariables, String> {
        let mut variables: Vec<(String, VariableSource)> = Vec::new();
        for part in setting.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |why: &str| format!("CM_WHATSAPP_TEMPLATE_VARIABLES: \"{part}\": {why}");
            let (name, source) = part
                .split_once('=')
                .ok_or_else(|| bad("expected name=source"))?;
            let name = name.trim();
            check_name(name).map_err(bad)?;
            if variables.iter().any(|(n, _)| n == name) {
                return Err(bad("this variable is named twice"));
            }
            variables.push((
                name.to_string(),
                VariableSource::parse(source).map_err(bad)?,
            ));
        }
        Ok(TemplateVariables(variables))
    }

    /// The `parameters` of the template message: every variable with its
    /// value. `asked`: the agent's values by variable name (checked by
    /// [`WhatsappTemplates::choose`]; one missing here is sent empty, and
    /// Connect says so).
    pub fn values(
        &self,
        customer_name: &str,
        agent_name: &str,
        asked: &BTreeMap<String, String>,
    ) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|(name, source)| {
                let value = match source {
                    VariableSource::CustomerName => customer_name.to_string(),
                    VariableSource::AgentName => agent_name.to_string(),
                    VariableSource::Text(text) => text.clone(),
                    VariableSource::Ask(_) => asked.get(name).cloned().unwrap_or_default(),
                };
                (name.clone(), value)
            })
            .collect()
    }

    /// The variables the agent types: (name, label).
    pub fn asked(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|(name, source)| match source {
            VariableSource::Ask(label) => Some((name.as_str(), label.as_str())),
            _ => None,
        })
    }
}

/// An approved WhatsApp template: its Connect template id, what agents call
/// it, its language, and every variable it declares with where the value
/// comes from (Connect requires all of them, by the names given when the
/// template was registered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatsappTemplate {
    pub id: String,
    /// What agents see in the chooser (the id when none is configured).
    pub label: String,
    /// Connect's template message has no language field (the id names a
    /// template registered in one language); kept to tell agents and admins
    /// which template this is.
    pub language: String,
    /// The template's text with `{{variable}}` where a value goes, if the
    /// configuration gives it: Connect keeps the text, we only show it.
    pub preview: Option<String>,
    pub variables: TemplateVariables,
}

impl WhatsappTemplate {
    /// The preview with the values filled in; an asked value not typed yet
    /// shows as `[Label]`.
    pub fn preview_with(
        &self,
        customer_name: &str,
        agent_name: &str,
        asked: &BTreeMap<String, String>,
    ) -> Option<String> {
        let mut text = self.preview.clone()?;
        for (name, source) in &self.variables.0 {
            let value = match source {
                VariableSource::CustomerName => customer_name.to_string(),
                VariableSource::AgentName => agent_name.to_string(),
                VariableSource::Text(t) => t.clone(),
                VariableSource::Ask(label) => asked
                    .get(name)
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                    .map_or_else(|| format!("[{label}]"), str::to_string),
            };
            text = text.replace(&format!("{{{{{name}}}}}"), &value);
        }
        Some(text)
    }

    /// Whether the agent types any of its values.
    pub fn asks(&self) -> bool {
        self.variables.asked().next().is_some()
    }
}

/// One template as written in `CM_WHATSAPP_TEMPLATES` (JSON or TOML), before
/// it is checked. `variables` maps each variable name to its source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    pub id: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub preview: Option<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

/// The configured templates, checked (none: templates are off). Ids are
/// unique; the first is the one sent when an agent writes outside the
/// window of a conversation started without a choice, when nobody is there
/// to type values, so it may not ask.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WhatsappTemplates(Vec<WhatsappTemplate>);

/// The agent's choice at start: a configured template and the values typed
/// for its `ask:` variables (and only those). Made by
/// [`WhatsappTemplates::choose`] (or read back from the session, where it is
/// stored so that a later template in the same conversation is the same one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateChoice {
    id: String,
    values: BTreeMap<String, String>,
}

impl TemplateChoice {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }
}

impl WhatsappTemplates {
    /// Checks a list; `setting` names where it came from in errors, which
    /// say which template, which variable and why.
    pub fn new(setting: &str, list: Vec<WhatsappTemplate>) -> Result<WhatsappTemplates, String> {
        for (i, t) in list.iter().enumerate() {
            let which = format!("{setting}: template {} (\"{}\")", i + 1, t.id);
            if t.id.trim().is_empty() || t.id.chars().any(char::is_control) {
                return Err(format!(
                    "{setting}: template {}: the id is empty or has control characters",
                    i + 1
                ));
            }
            if list[..i].iter().any(|other| other.id == t.id) {
                return Err(format!("{which}: this id is configured twice"));
            }
            if t.label.trim().is_empty() {
                return Err(format!("{which}: the label is empty"));
            }
            if i == 0 && t.asks() {
                return Err(format!(
                    "{which}: the first template is the one sent when an agent writes outside the 24-hour window without having chosen one, so none of its variables can be ask: (put a template without ask: variables first)"
                ));
            }
        }
        Ok(WhatsappTemplates(list))
    }

    /// Reads the entries of `CM_WHATSAPP_TEMPLATES` and checks them.
    pub fn from_specs(
        setting: &str,
        specs: Vec<TemplateSpec>,
    ) -> Result<WhatsappTemplates, String> {
        let mut list = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let which = format!("{setting}: template {} (\"{}\")", i + 1, spec.id);
            let mut variables = Vec::new();
            for (name, source) in &spec.variables {
                let bad = |why: &str| format!("{which}: variable \"{name}\": {why}");
                check_name(name).map_err(bad)?;
                variables.push((name.clone(), VariableSource::parse(source).map_err(bad)?));
            }
            let id = spec.id.trim().to_string();
            list.push(WhatsappTemplate {
                label: spec
                    .label
                    .map(|l| l.trim().to_string())
                    .unwrap_or_else(|| id.clone()),
                language: spec.language.unwrap_or_else(|| "en".into()),
                preview: spec.preview.filter(|p| !p.trim().is_empty()),
                variables: TemplateVariables(variables),
                id,
            });
        }
        WhatsappTemplates::new(setting, list)
    }

    pub fn all(&self) -> &[WhatsappTemplate] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&WhatsappTemplate> {
        self.0.iter().find(|t| t.id == id)
    }

    /// The template for an agent's message outside the window: the one
    /// chosen at the conversation's start if it is still configured, else
    /// the first. With the chosen one come the values typed then.
    pub fn for_fallback<'a>(
        &'a self,
        chosen: Option<&'a TemplateChoice>,
    ) -> Option<(&'a WhatsappTemplate, Option<&'a BTreeMap<String, String>>)> {
        if let Some(choice) = chosen {
            if let Some(t) = self.get(&choice.id) {
                return Some((t, Some(&choice.values)));
            }
        }
        self.0.first().map(|t| (t, None))
    }

    /// Checks an agent's choice: a configured template, a value for each of
    /// its `ask:` variables (trimmed, at most [`ASKED_VALUE_MAX`]
    /// characters, no control characters) and none for others. Errors name
    /// the field as the API has it: `template.id`, `template.values.NAME`.
    pub fn choose(
        &self,
        id: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<TemplateChoice, FieldError> {
        let id = id.trim();
        if id.is_empty() {
            return Err(FieldError::new("template.id", "is required"));
        }
        let Some(template) = self.get(id) else {
            let known: Vec<&str> = self.0.iter().map(|t| t.id.as_str()).collect();
            let why = if known.is_empty() {
                "no WhatsApp template is configured (CM_WHATSAPP_TEMPLATES)".to_string()
            } else {
                format!(
                    "no WhatsApp template \"{id}\" is configured (configured: {})",
                    known.join(", ")
                )
            };
            return Err(FieldError::new("template.id", why));
        };
        let mut chosen = BTreeMap::new();
        for (name, label) in template.variables.asked() {
            let field = format!("template.values.{name}");
            let value = values.get(name).map(|v| v.trim()).unwrap_or_default();
            if value.is_empty() {
                return Err(FieldError::new(
                    field,
                    format!("{label} is required by template {id}"),
                ));
            }
            if value.chars().count() > ASKED_VALUE_MAX {
                return Err(FieldError::new(
                    field,
                    format!("is too long (at most {ASKED_VALUE_MAX} characters)"),
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(FieldError::new(
                    field,
                    "must not contain control characters",
                ));
            }
            chosen.insert(name.to_string(), value.to_string());
        }
        if let Some(extra) = values.keys().find(|k| !chosen.contains_key(*k)) {
            return Err(FieldError::new(
                format!("template.values.{extra}"),
                format!("template {id} does not ask for a value named {extra}"),
            ));
        }
        Ok(TemplateChoice {
            id: id.to_string(),
            values: chosen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, variables: &[(&str, &str)]) -> TemplateSpec {
        TemplateSpec {
            id: id.into(),
            label: None,
            language: None,
            preview: None,
            variables: variables
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn catalog() -> WhatsappTemplates {
        let mut order = spec(
            "order_update",
            &[("customer", "customer_name"), ("order", "ask:Order number")],
        );
        order.preview = Some("Hi {{customer}}, news about order {{order}}.".into());
        order.label = Some("Order update".into());
        WhatsappTemplates::from_specs(
            "T",
            vec![
                spec(
                    "reengage",
                    &[("agent", "agent_name"), ("shop", "text:Acme")],
                ),
                order,
            ],
        )
        .unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn specs_become_templates_with_defaults() {
        let c = catalog();
        let first = &c.all()[0];
        assert_eq!(
            (first.label.as_str(), first.language.as_str()),
            ("reengage", "en")
        );
        let order = c.get("order_update").unwrap();
        assert_eq!(order.label, "Order update");
        assert_eq!(
            order.variables.asked().collect::<Vec<_>>(),
            [("order", "Order number")]
        );
        assert_eq!(
            order
                .preview_with("Jo", "Ann", &values(&[("order", " A-1 ")]))
                .unwrap(),
            "Hi Jo, news about order A-1."
        );
        assert_eq!(
            order.preview_with("Jo", "Ann", &BTreeMap::new()).unwrap(),
            "Hi Jo, news about order [Order number]."
        );
    }

    #[test]
    fn bad_lists_are_refused_naming_the_template_the_variable_and_why() {
        for (list, says) in [
            (
                vec![spec("a", &[("x", "nobody")])],
                "T: template 1 (\"a\"): variable \"x\": the source must be",
            ),
            (
                vec![spec("a", &[("my var", "agent_name")])],
                "variable \"my var\": the variable name",
            ),
            (
                vec![spec("a", &[]), spec("a", &[])],
                "template 2 (\"a\"): this id is configured twice",
            ),
            (vec![spec(" ", &[])], "template 1: the id is empty"),
            (
                vec![spec("a", &[("order", "ask:Order")])],
                "template 1 (\"a\"): the first template",
            ),
            (
                vec![spec("a", &[("order", "ask: ")])],
                "variable \"order\": the source must be",
            ),
        ] {
            let e = WhatsappTemplates::from_specs("T", list).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn a_choice_needs_a_configured_template_and_exactly_its_asked_values() {
        let c = catalog();
        let ok = c
            .choose(" order_update ", &values(&[("order", "  A-1 ")]))
            .unwrap();
        assert_eq!(ok.id(), "order_update");
        assert_eq!(ok.values(), &values(&[("order", "A-1")]));
        assert_eq!(
            c.choose("reengage", &BTreeMap::new()).unwrap().values(),
            &BTreeMap::new()
        );
        for (id, given, field, says) in [
            ("", values(&[]), "template.id", "is required"),
            (
                "nope",
                values(&[]),
                "template.id",
                "configured: reengage, order_update",
            ),
            (
                "order_update",
                values(&[]),
                "template.values.order",
                "Order number",
            ),
            (
                "order_update",
                values(&[("order", " ")]),
                "template.values.order",
                "is required",
            ),
            (
                "order_update",
                values(&[("order", "a\nb")]),
                "template.values.order",
                "control",
            ),
            (
                "order_update",
                values(&[("order", "A"), ("customer", "B")]),
                "template.values.customer",
                "does not ask",
            ),
        ] {
            let e = c.choose(id, &given).unwrap_err();
            assert_eq!(e.field, field, "{id} {given:?}");
            assert!(e.message.contains(says), "{}", e.message);
        }
        let long = "x".repeat(ASKED_VALUE_MAX + 1);
        assert!(c
            .choose("order_update", &values(&[("order", &long)]))
            .is_err());
        let none = WhatsappTemplates::default()
            .choose("x", &values(&[]))
            .unwrap_err();
        assert!(none.message.contains("no WhatsApp template is configured"));
    }

    #[test]
    fn the_fallback_is_the_chosen_template_while_configured_else_the_first() {
        let c = catalog();
        let chosen = c
            .choose("order_update", &values(&[("order", "A-1")]))
            .unwrap();
        let (t, asked) = c.for_fallback(Some(&chosen)).unwrap();
        assert_eq!(
            (t.id.as_str(), asked),
            ("order_update", Some(chosen.values()))
        );
        assert_eq!(c.for_fallback(None).unwrap().0.id, "reengage");
        let gone = TemplateChoice {
            id: "removed".into(),
            values: BTreeMap::new(),
        };
        assert_eq!(c.for_fallback(Some(&gone)).unwrap().0.id, "reengage");
        assert!(WhatsappTemplates::default().for_fallback(None).is_none());
    }

    #[test]
    fn the_old_variables_setting_reads_as_before_and_may_ask() {
        let v =
            TemplateVariables::parse(" customer = customer_name , shop=text:Acme & Co ,").unwrap();
        assert_eq!(
            v.0,
            [
                ("customer".to_string(), VariableSource::CustomerName),
                ("shop".to_string(), VariableSource::Text("Acme & Co".into())),
            ]
        );
        assert_eq!(
            TemplateVariables::parse("variable1=customer_name,variable2=agent_name")
                .unwrap()
                .values("C", "A", &BTreeMap::new()),
            [
                ("variable1".to_string(), "C".to_string()),
                ("variable2".to_string(), "A".to_string())
            ]
        );
        let asked = TemplateVariables::parse("order=ask:Order number").unwrap();
        assert_eq!(
            asked.values("C", "A", &values(&[("order", "7")])),
            [("order".to_string(), "7".to_string())]
        );
    }
}
