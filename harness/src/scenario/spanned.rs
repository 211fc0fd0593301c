//! YAML values that keep where each part is written, for messages with `file:line:col`: one
//! name or a list of names, and a mapping whose keys keep their positions.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};
use serde_saphyr::{Location, Spanned};
use std::borrow::Cow;
use std::fmt;

/// One name or a list of names: `from: client` or `from: [a, b]`. Every name keeps its own
/// position, which serde's untagged enums would lose.
#[derive(Debug, Clone)]
pub struct OneOrMany {
    names: Vec<Spanned<String>>,
    /// Where the value is written (for an empty list, the only place there is).
    at: Location,
}

impl OneOrMany {
    pub fn as_slice(&self) -> &[Spanned<String>] {
        &self.names
    }

    pub fn location(&self) -> Location {
        self.at
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The outer span is where a lone scalar sits; list items carry their own spans.
        let spanned = Spanned::<StringOrList>::deserialize(deserializer)?;
        let names = match spanned.value {
            StringOrList::One(name) => {
                vec![Spanned::new(name, spanned.referenced, spanned.defined)]
            }
            StringOrList::Many(names) => names,
        };
        Ok(OneOrMany {
            names,
            at: spanned.referenced,
        })
    }
}

enum StringOrList {
    One(String),
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl<'de> de::Visitor<'de> for Visitor {
            type Value = StringOrList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or a list of names")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<StringOrList, E> {
                Ok(StringOrList::One(name.to_owned()))
            }

            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringOrList, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element()? {
                    names.push(name);
                }
                Ok(StringOrList::Many(names))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for OneOrMany {
    fn schema_name() -> Cow<'static, str> {
        "OneOrMany".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// A YAML mapping whose keys keep their positions (`Spanned` has no `Ord`, so it cannot key a
/// `BTreeMap`). Entries stay in file order; duplicate keys are rejected by the parser.
#[derive(Debug, Clone)]
pub struct SpannedMap<V>(Vec<(Spanned<String>, V)>);

impl<V> Default for SpannedMap<V> {
    fn default() -> Self {
        SpannedMap(Vec::new())
    }
}

impl<V> SpannedMap<V> {
    pub fn iter(&self) -> impl Iterator<Item = (&Spanned<String>, &V)> {
        self.0.iter().map(|(key, value)| (key, value))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.iter()
            .find(|(candidate, _)| candidate.value == key)
            .map(|(_, value)| value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SpannedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<V>(std::marker::PhantomData<V>);

        impl<'de, V: Deserialize<'de>> de::Visitor<'de> for Visitor<V> {
            type Value = SpannedMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(SpannedMap(entries))
            }
        }

        deserializer.deserialize_map(Visitor(std::marker::PhantomData))
    }
}
