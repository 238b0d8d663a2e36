//! Feature sections. Each feature owns its `[section]`: the type lives in the
//! feature's folder, implements [`Section`], and is named in the feature's plug
//! ([`crate::plugin::Plug::section`]). The core keeps the sections as written and
//! checks each against its type when the configuration is loaded, so a typo in a
//! feature's section is refused with its key (and line, or variable) like any other.

use super::ConfigError;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// A feature's configuration section.
pub trait Section:
    Serialize + DeserializeOwned + fmt::Debug + Clone + PartialEq + Send + Sync + 'static
{
    /// The section's key, e.g. `hunter` for `[hunter]`.
    const NAME: &'static str;

    /// Checks that types alone cannot express. Returns `(key, problem)`, the key in
    /// full (`hunter.schedule`).
    fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

/// A section as the core sees it: its name and how to check it.
#[derive(Debug, Clone, Copy)]
pub struct SectionSpec {
    pub name: &'static str,
    /// Checks the section as written in the file, so an error carries its line.
    pub check_text: fn(text: &str, origin: &str) -> Result<(), ConfigError>,
    /// Checks the section after environment overrides: shape, then rules.
    pub check_value: fn(&toml::Value) -> Result<(), (String, String)>,
}

impl SectionSpec {
    pub const fn of<T: Section>() -> Self {
        Self {
            name: T::NAME,
            check_text: check_text::<T>,
            check_value: check_value::<T>,
        }
    }
}

/// The feature sections present in the configuration, as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sections(BTreeMap<String, toml::Value>);

impl Sections {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn raw(&self, name: &str) -> Option<&toml::Value> {
        self.0.get(name)
    }

    /// The typed section, if present.
    pub fn get<T: Section>(&self) -> anyhow::Result<Option<T>> {
        self.0
            .get(T::NAME)
            .map(|v| {
                T::deserialize(v.clone())
                    .map_err(|e| anyhow::anyhow!("[{}]: {}", T::NAME, e.message()))
            })
            .transpose()
    }

    /// Sets (or replaces) a section.
    pub fn set<T: Section>(&mut self, section: &T) {
        let value = toml::Value::try_from(section)
            .unwrap_or_else(|_| toml::Value::Table(toml::Table::new()));
        self.0.insert(T::NAME.to_owned(), value);
    }

    /// Removes a section, turning its feature off.
    pub fn remove(&mut self, name: &str) {
        self.0.remove(name);
    }
}

fn check_value<T: Section>(value: &toml::Value) -> Result<(), (String, String)> {
    let section = serde_path_to_error::deserialize::<_, T>(value.clone()).map_err(|e| {
        let key = match e.path().to_string().as_str() {
            "" | "." => T::NAME.to_owned(),
            inner => format!("{}.{inner}", T::NAME),
        };
        let message = e.inner().message().replace("unknown field", "unknown key");
        (key, message)
    })?;
    section.validate()
}

fn check_text<T: Section>(text: &str, origin: &str) -> Result<(), ConfigError> {
    let de =
        toml::Deserializer::parse(text).map_err(|e| super::load::in_file(text, origin, e, ""))?;
    serde_path_to_error::deserialize::<_, Only<T>>(de)
        .map(drop)
        .map_err(|e| {
            let key = e.path().to_string();
            super::load::in_file(text, origin, e.into_inner(), &key)
        })
}

/// Deserializes one section of a document and skips the rest, so the section's
/// errors keep their place in the file.
struct Only<T>(PhantomData<T>);

impl<'de, T: Section> Deserialize<'de> for Only<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(OnlyVisitor::<T>(PhantomData))
    }
}

struct OnlyVisitor<T>(PhantomData<T>);

impl<'de, T: Section> Visitor<'de> for OnlyVisitor<T> {
    type Value = Only<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a configuration document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == T::NAME {
                map.next_value::<T>()?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Only(PhantomData))
    }
}
