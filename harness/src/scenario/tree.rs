//! A YAML document as a tree that remembers where every node is, and a serde `Deserializer`
//! over it, so a typed check (a manifest against its k8s-openapi type) can say where in the
//! file it failed and which fields the type does not know.
//!
//! The tree holds what `run` sends: scalars are typed the way the cluster layer reads
//! manifests (`serde_saphyr` into JSON values, YAML 1.1 booleans included), so a label value
//! `yes` is the boolean here too, and a typed check catches that a string was meant.

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::{Location, Spanned};
use std::cell::RefCell;
use std::fmt;

/// A node with the place it was written.
pub(crate) type Located = Spanned<Node>;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    String(String),
    Seq(Vec<Located>),
    /// Entries in file order; the parser rejects duplicate keys.
    Map(Vec<(Spanned<String>, Located)>),
}

impl Node {
    /// The value at `key`, for a mapping.
    pub fn get(&self, key: &str) -> Option<&Located> {
        self.entry(key).map(|(_, value)| value)
    }

    pub fn entry(&self, key: &str) -> Option<(&Spanned<String>, &Located)> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .find(|(candidate, _)| candidate.value == key)
                .map(|(key, value)| (key, value)),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(text) => Some(text),
            _ => None,
        }
    }

    /// Every string in the tree, with where it is.
    pub fn strings<'a>(located: &'a Located, out: &mut Vec<&'a Spanned<Node>>) {
        match &located.value {
            Node::String(_) => out.push(located),
            Node::Seq(items) => items.iter().for_each(|item| Node::strings(item, out)),
            Node::Map(entries) => entries
                .iter()
                .for_each(|(_, value)| Node::strings(value, out)),
            _ => {}
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;

        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Node, D::Error> {
                Node::deserialize(inner)
            }
            fn visit_bool<E>(self, value: bool) -> Result<Node, E> {
                Ok(Node::Bool(value))
            }
            fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
                Ok(Node::Signed(value))
            }
            fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
                Ok(Node::Unsigned(value))
            }
            fn visit_i128<E: de::Error>(self, value: i128) -> Result<Node, E> {
                i64::try_from(value)
                    .map(Node::Signed)
                    .map_err(|_| E::custom(format!("integer {value} is too large")))
            }
            fn visit_u128<E: de::Error>(self, value: u128) -> Result<Node, E> {
                u64::try_from(value)
                    .map(Node::Unsigned)
                    .map_err(|_| E::custom(format!("integer {value} is too large")))
            }
            fn visit_f64<E>(self, value: f64) -> Result<Node, E> {
                Ok(Node::Float(value))
            }
            fn visit_str<E>(self, value: &str) -> Result<Node, E> {
                Ok(Node::String(value.to_owned()))
            }
            fn visit_string<E>(self, value: String) -> Result<Node, E> {
                Ok(Node::String(value))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(Node::Map(entries))
            }
        }

        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Why a typed check failed, where, and at which field.
#[derive(Debug)]
pub(crate) struct TypeError {
    pub message: String,
    pub at: Location,
    /// `spec.podSelector.matchLabels.app`; empty at the top.
    pub path: String,
    /// A scalar that is a boolean or a number where the type wants a string.
    pub wants_string: bool,
    located: bool,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TypeError {}

impl de::Error for TypeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        TypeError {
            message: message.to_string(),
            at: Location::UNKNOWN,
            path: String::new(),
            wants_string: false,
            located: false,
        }
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        let expected = expected.to_string();
        let scalar = matches!(
            unexpected,
            de::Unexpected::Bool(_)
                | de::Unexpected::Signed(_)
                | de::Unexpected::Unsigned(_)
                | de::Unexpected::Float(_)
        );
        TypeError {
            wants_string: scalar && expected.contains("string"),
            ..Self::custom(format_args!("expected {expected}, found {unexpected}"))
        }
    }
}

impl TypeError {
    fn at(mut self, at: Location) -> Self {
        if !self.located {
            self.at = at;
            self.located = true;
        }
        self
    }

    fn within(mut self, segment: &str) -> Self {
        self.path = if self.path.is_empty() {
            segment.to_owned()
        } else if self.path.starts_with('[') {
            format!("{segment}{}", self.path)
        } else {
            format!("{segment}.{}", self.path)
        };
        self
    }
}

/// A field the type does not know, with where its key is.
#[derive(Debug, Clone)]
pub(crate) struct UnknownField {
    pub path: String,
    pub at: Location,
}

/// Deserializes `T` from `root`; returns the first type error, or the fields `T` ignored.
pub(crate) fn check_as<T: de::DeserializeOwned>(
    root: &Located,
) -> Result<Vec<UnknownField>, TypeError> {
    let unknown = RefCell::new(Vec::new());
    let path = RefCell::new(Vec::new());
    T::deserialize(NodeDeserializer {
        node: root,
        key: None,
        unknown: &unknown,
        path: &path,
    })?;
    Ok(unknown.into_inner())
}

#[derive(Clone, Copy)]
struct NodeDeserializer<'a> {
    node: &'a Located,
    /// The key this node is the value of.
    key: Option<&'a Spanned<String>>,
    unknown: &'a RefCell<Vec<UnknownField>>,
    /// Keys and indices from the root to here, for naming ignored fields.
    path: &'a RefCell<Vec<String>>,
}

impl<'a> NodeDeserializer<'a> {
    fn child(self, node: &'a Located, key: Option<&'a Spanned<String>>) -> Self {
        NodeDeserializer { node, key, ..self }
    }
}

impl<'de, 'a> Deserializer<'de> for NodeDeserializer<'a> {
    type Error = TypeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        let at = self.node.referenced;
        match &self.node.value {
            Node::Null => visitor.visit_unit(),
            Node::Bool(value) => visitor.visit_bool(*value),
            Node::Signed(value) => visitor.visit_i64(*value),
            Node::Unsigned(value) => visitor.visit_u64(*value),
            Node::Float(value) => visitor.visit_f64(*value),
            Node::String(value) => visitor.visit_str(value),
            Node::Seq(items) => visitor.visit_seq(SeqAccess {
                items: items.iter().enumerate(),
                de: self,
            }),
            Node::Map(entries) => visitor.visit_map(MapAccess {
                entries: entries.iter(),
                value: None,
                de: self,
            }),
        }
        .map_err(|error| error.at(at))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        match self.node.value {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypeError> {
        match &self.node.value {
            Node::String(variant) => visitor
                .visit_enum(variant.as_str().into_deserializer())
                .map_err(|error: TypeError| error.at(self.node.referenced)),
            _ => self.deserialize_any(visitor),
        }
    }

    /// Called for exactly the fields the type has no place for.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypeError> {
        if let Some(key) = self.key {
            self.unknown.borrow_mut().push(UnknownField {
                path: self.path.borrow().join("."),
                at: key.referenced,
            });
        }
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct SeqAccess<'a, I> {
    items: I,
    de: NodeDeserializer<'a>,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Located)>> de::SeqAccess<'de> for SeqAccess<'a, I> {
    type Error = TypeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, TypeError> {
        let Some((index, item)) = self.items.next() else {
            return Ok(None);
        };
        let segment = format!("[{index}]");
        self.de.path.borrow_mut().push(segment.clone());
        let result = seed.deserialize(self.de.child(item, None));
        self.de.path.borrow_mut().pop();
        result.map(Some).map_err(|error| error.within(&segment))
    }
}

struct MapAccess<'a, I> {
    entries: I,
    value: Option<(&'a Spanned<String>, &'a Located)>,
    de: NodeDeserializer<'a>,
}

impl<'de, 'a, I: Iterator<Item = &'a (Spanned<String>, Located)>> de::MapAccess<'de>
    for MapAccess<'a, I>
{
    type Error = TypeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, TypeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        let key_deserializer: de::value::StrDeserializer<'_, TypeError> =
            key.value.as_str().into_deserializer();
        seed.deserialize(key_deserializer)
            .map(Some)
            .map_err(|error| error.at(key.referenced))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, TypeError> {
        let (key, value) = self
            .value
            .take()
            .expect("serde asks for a value after its key");
        self.de.path.borrow_mut().push(key.value.clone());
        let result = seed.deserialize(self.de.child(value, Some(key)));
        self.de.path.borrow_mut().pop();
        result.map_err(|error| error.within(&key.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::networking::v1::NetworkPolicy;

    fn tree(yaml: &str) -> Located {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn type_errors_have_a_place_and_a_path() {
        let root = tree(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: x\n  labels: {app: yes}\nspec:\n  podSelector: {}\n",
        );
        let error = check_as::<NetworkPolicy>(&root).unwrap_err();
        assert_eq!(error.path, "metadata.labels.app");
        assert_eq!((error.at.line(), error.at.column()), (5, 17));
        assert!(error.wants_string, "{error}");
    }

    #[test]
    fn ignored_fields_are_reported() {
        let root = tree(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec:\n  podSelectr: {}\n  policyTypes: [Ingress]\n",
        );
        let unknown = check_as::<NetworkPolicy>(&root).unwrap();
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].path, "spec.podSelectr");
        assert_eq!((unknown[0].at.line(), unknown[0].at.column()), (5, 3));
    }
}
