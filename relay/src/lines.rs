//! The customer-facing lines in every language: `relay/locales/{code}.ftl`,
//! compiled in and parsed once. `dialogue::Line::text` is the one way in.

use std::collections::HashMap;
use std::sync::LazyLock;

use domain::Language;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};

type Bundle = FluentBundle<FluentResource>;

fn source(language: Language) -> &'static str {
    match language {
        Language::En => include_str!("../locales/en.ftl"),
        Language::Es => include_str!("../locales/es.ftl"),
    }
}

static BUNDLES: LazyLock<HashMap<Language, Bundle>> = LazyLock::new(|| {
    Language::ALL
        .iter()
        .map(|&language| {
            let resource = FluentResource::try_new(source(language).to_string()).unwrap_or_else(
                |(_, errors)| panic!("relay/locales/{language}.ftl does not parse: {errors:?}"),
            );
            let id: unic_langid::LanguageIdentifier = language
                .as_str()
                .parse()
                .expect("language codes are valid identifiers");
            let mut bundle = Bundle::new_concurrent(vec![id]);
            // No bidi isolation marks around names: these go out as SMS and
            // WhatsApp text, where they would show as stray characters.
            bundle.set_use_isolating(false);
            bundle
                .add_resource(resource)
                .expect("one resource per bundle cannot clash");
            (language, bundle)
        })
        .collect()
});

/// The line `key` in `language`, with `args`; English when the language
/// lacks it (a test checks that none does).
pub(crate) fn render(language: Language, key: &str, args: &FluentArgs) -> String {
    format_in(language, key, args)
        .or_else(|| format_in(Language::En, key, args))
        .unwrap_or_else(|| panic!("relay/locales/en.ftl has no line {key}"))
}

fn format_in(language: Language, key: &str, args: &FluentArgs) -> Option<String> {
    let bundle = BUNDLES.get(&language)?;
    let pattern = bundle.get_message(key)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(args), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(%language, key, ?errors, "a customer line formatted with errors");
    }
    Some(text.into_owned())
}

/// Whether `language`'s file has the line `key`.
#[cfg(test)]
pub(crate) fn has(language: Language, key: &str) -> bool {
    BUNDLES[&language].has_message(key)
}
