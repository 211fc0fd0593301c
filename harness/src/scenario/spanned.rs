//! YAML values that keep where each part is written, for messages with `file:line:col`: one
//! name or a list of names, and a mapping whose keys keep their positions.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, de};
use serde_saphyr::{Location, Spanned};
use std::borrow::Cow;
use std::fmt;

/// One value or a list of them: `from: client` or `from: [a, b]`, `protocol: tcp` or
/// `protocol: [tcp, udp]`. Every value keeps its own position, which serde's untagged enums
/// would lose.
#[derive(Debug, Clone)]
pub struct OneOrMany<T = String> {
    items: Vec<Spanned<T>>,
    /// Where the value is written (for an empty list, the only place there is).
    at: Location,
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[Spanned<T>] {
        &self.items
    }

    pub fn location(&self) -> Location {
        self.at
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The outer span is where a lone scalar sits; list items carry their own spans.
        let spanned = Spanned::<ScalarOrList<T>>::deserialize(deserializer)?;
        let items = match spanned.value {
            ScalarOrList::One(item) => {
                vec![Spanned::new(item, spanned.referenced, spanned.defined)]
            }
            ScalarOrList::Many(items) => items,
        };
        Ok(OneOrMany {
            items,
            at: spanned.referenced,
        })
    }
}

enum ScalarOrList<T> {
    One(T),
    Many(Vec<Spanned<T>>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ScalarOrList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for Visitor<T> {
            type Value = ScalarOrList<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or a list of names")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<ScalarOrList<T>, E> {
                T::deserialize(de::value::StrDeserializer::new(name)).map(ScalarOrList::One)
            }

            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<ScalarOrList<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(ScalarOrList::Many(items))
            }
        }

        deserializer.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<T>();
        json_schema!({
            "anyOf": [item, { "type": "array", "items": item }]
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
