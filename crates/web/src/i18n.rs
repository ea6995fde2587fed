//! Every word the UI shows comes from one message catalogue (Fluent), so a
//! service can add Welsh or another language without touching code.
//!
//! `i18n/en.ftl` is built into the binary. The pseudo-locale `en-XA` is the
//! same catalogue with every letter accented and every message bracketed in
//! `⟦ ⟧`: a page rendered in it shows at a glance (and the tests check) any
//! word that did not come from the catalogue. A message missing from the
//! catalogue renders as `⟪id⟫`, which the tests also look for.

use std::borrow::Cow;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// The English catalogue.
pub const EN: &str = include_str!("../i18n/en.ftl");

/// A language's messages.
pub struct Catalogue {
    bundle: FluentBundle<FluentResource>,
    lang: String,
}

impl std::fmt::Debug for Catalogue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalogue")
            .field("lang", &self.lang)
            .finish()
    }
}

/// Errors loading a catalogue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// The language is not one Starling ships.
    #[error("no messages for language `{0}`: use en (or en-XA to check translations)")]
    Unknown(String),
    /// The catalogue does not parse.
    #[error("the message catalogue does not parse: {0}")]
    Parse(String),
}

fn pseudo(text: &str) -> Cow<'_, str> {
    let accented: String = text
        .chars()
        .map(|c| match c {
            'a' => 'á',
            'e' => 'é',
            'i' => 'í',
            'o' => 'ó',
            'u' => 'ú',
            'A' => 'Á',
            'E' => 'É',
            'I' => 'Í',
            'O' => 'Ó',
            'U' => 'Ú',
            'c' => 'ç',
            'n' => 'ñ',
            other => other,
        })
        .collect();
    Cow::Owned(format!("⟦{accented}⟧"))
}

impl Catalogue {
    /// The catalogue for `lang`: `en`, or `en-XA` (pseudo).
    pub fn load(lang: &str) -> Result<Catalogue, CatalogueError> {
        let (text, is_pseudo) = match lang {
            "en" | "en-GB" => (EN, false),
            "en-XA" => (EN, true),
            other => return Err(CatalogueError::Unknown(other.to_owned())),
        };
        let id: LanguageIdentifier = "en-GB"
            .parse()
            .map_err(|_| CatalogueError::Unknown(lang.to_owned()))?;
        let resource = FluentResource::try_new(text.to_owned())
            .map_err(|(_, errors)| CatalogueError::Parse(format!("{errors:?}")))?;
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        bundle.set_use_isolating(false);
        if is_pseudo {
            bundle.set_transform(Some(pseudo));
        }
        bundle
            .add_resource(resource)
            .map_err(|errors| CatalogueError::Parse(format!("{errors:?}")))?;
        Ok(Catalogue {
            bundle,
            lang: lang.to_owned(),
        })
    }

    /// The language tag pages declare (`lang="…"`).
    pub fn lang(&self) -> &str {
        if self.lang == "en-XA" { "en" } else { "en-GB" }
    }

    /// The message `id`.
    pub fn t(&self, id: &str) -> String {
        self.format(id, None)
    }

    /// The message `id` with arguments.
    pub fn ta(&self, id: &str, args: &[(&str, FluentValue<'_>)]) -> String {
        let mut a = FluentArgs::new();
        for (k, v) in args {
            a.set(*k, v.clone());
        }
        self.format(id, Some(&a))
    }

    fn format(&self, id: &str, args: Option<&FluentArgs<'_>>) -> String {
        let Some(pattern) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            tracing::warn!(id, "message missing from the catalogue");
            return format!("⟪{id}⟫");
        };
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(id, ?errors, "message did not format");
        }
        text.into_owned()
    }
}

/// A text argument.
pub fn s(v: impl Into<String>) -> FluentValue<'static> {
    FluentValue::from(v.into())
}

/// A number argument (plurals).
pub fn n(v: usize) -> FluentValue<'static> {
    FluentValue::from(v as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn messages_format_and_the_pseudo_locale_marks_them() {
        let en = Catalogue::load("en").unwrap();
        assert_eq!(en.t("nav-journals"), "Journals");
        assert!(en.t("no-such-message").starts_with('⟪'));
        let xa = Catalogue::load("en-XA").unwrap();
        let text = xa.t("nav-journals");
        assert!(text.starts_with('⟦') && text.contains('ó'), "{text}");
        assert!(Catalogue::load("xx").is_err());
    }
}
