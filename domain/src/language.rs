//! The languages the relay writes to customers in. The lines themselves are
//! `relay/locales/{code}.ftl`; a contact may have one (`Contact::language`),
//! others get the server's default (`CM_CUSTOMER_LANGUAGE`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Es,
}

crate::named_enum!(Language, "language", { En => "en", Es => "es" });

impl Language {
    /// The language's own name, as a customer or agent picks it.
    pub fn label(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::Es => "Español",
        }
    }

    /// A language as a form or API gives it: a code (`en`, `es`), any case;
    /// blank means none (the default).
    pub fn parse_field(
        field: &str,
        value: Option<&str>,
    ) -> Result<Option<Language>, crate::FieldError> {
        match value.map(str::trim) {
            None | Some("") => Ok(None),
            Some(code) => code.parse().map(Some).map_err(|_| {
                let known: Vec<&str> = Language::ALL.iter().map(|l| l.as_str()).collect();
                crate::FieldError::new(field, format!("must be one of {}", known.join(", ")))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_in_any_case_and_blank_is_the_default() {
        assert_eq!(
            Language::parse_field("language", Some(" ES ")),
            Ok(Some(Language::Es))
        );
        assert_eq!(Language::parse_field("language", Some("")), Ok(None));
        assert_eq!(Language::parse_field("language", None), Ok(None));
        let refused = Language::parse_field("language", Some("klingon")).unwrap_err();
        assert_eq!(refused.field, "language");
        assert!(refused.message.contains("en, es"), "{}", refused.message);
    }
}
