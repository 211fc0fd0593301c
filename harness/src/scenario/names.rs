//! The name rules Kubernetes applies (apimachinery's `IsDNS1123Label`, `IsDNS1123Subdomain`,
//! `IsDNS1035Label`, `IsQualifiedName`, `IsValidLabelValue`), so `validate` rejects what the
//! API server would, before anything is created. Each returns why a name is wrong.

/// Why a name breaks a rule; shown after "`NAME` is not valid: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("it is empty")]
    Empty,
    #[error("it has {length} characters, at most {max} are allowed")]
    TooLong { length: usize, max: usize },
    #[error("only {allowed} are allowed")]
    Characters { allowed: &'static str },
    #[error("it must start and end with a letter or digit")]
    Ends,
    #[error("a Service name must start with a letter")]
    ServiceStart,
    #[error("it has an empty part between dots")]
    EmptyPart,
    #[error("part `{part}`: {why}")]
    Part { part: String, why: Box<NameError> },
    #[error("{what} `{name}`: {why}")]
    Within {
        what: &'static str,
        name: String,
        why: Box<NameError>,
    },
    #[error("each dot-separated part has 1 to 63 characters")]
    PartLength,
    #[error("`.` and `..` are not interface names")]
    DotInterface,
    #[error("set by cnicheck itself")]
    Reserved,
}

impl NameError {
    /// `why`, said of the part `what` `name` of a longer name (a label key's prefix, ...).
    pub fn within(what: &'static str, name: &str, why: NameError) -> NameError {
        NameError::Within {
            what,
            name: name.to_owned(),
            why: Box::new(why),
        }
    }
}

const LABEL_MAX: usize = 63;
const SUBDOMAIN_MAX: usize = 253;

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters: namespace, pod and NAD names.
pub(crate) fn dns_label(name: &str) -> Result<(), NameError> {
    length(name, LABEL_MAX)?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(NameError::Characters {
            allowed: "lowercase letters, digits and `-`",
        });
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(NameError::Ends);
    }
    Ok(())
}

/// A DNS-1123 label that starts with a letter: Service names.
pub(crate) fn dns1035_label(name: &str) -> Result<(), NameError> {
    dns_label(name)?;
    if name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(NameError::ServiceStart)
    }
}

/// Dot-separated DNS-1123 labels, at most 253 characters: object names, CRD names.
pub(crate) fn dns_subdomain(name: &str) -> Result<(), NameError> {
    length(name, SUBDOMAIN_MAX)?;
    name.split('.').try_for_each(|part| {
        dns_label(part).map_err(|why| {
            if part.is_empty() {
                NameError::EmptyPart
            } else {
                NameError::Part {
                    part: part.to_owned(),
                    why: Box::new(why),
                }
            }
        })
    })
}

/// A label key: `[PREFIX/]NAME`, the prefix a DNS subdomain, the name at most 63 characters
/// of `[A-Za-z0-9._-]`, alphanumeric at both ends.
pub(crate) fn label_key(key: &str) -> Result<(), NameError> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            dns_subdomain(prefix).map_err(|why| NameError::within("prefix", prefix, why))?;
            name
        }
        None => key,
    };
    length(name, LABEL_MAX)?;
    label_chars(name)
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9._-]`, alphanumeric at both
/// ends.
pub(crate) fn label_value(value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Ok(());
    }
    length(value, LABEL_MAX)?;
    label_chars(value)
}

fn label_chars(text: &str) -> Result<(), NameError> {
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(NameError::Characters {
            allowed: "letters, digits, `-`, `_` and `.`",
        });
    }
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !text.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(NameError::Ends);
    }
    Ok(())
}

/// A name to look up: dot-separated labels of letters, digits, `-` and `_`, an optional
/// trailing dot, at most 253 characters.
pub(crate) fn dns_name(name: &str) -> Result<(), NameError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    length(name, SUBDOMAIN_MAX)?;
    for part in name.split('.') {
        if part.is_empty() || part.len() > LABEL_MAX {
            return Err(NameError::PartLength);
        }
        if !part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            return Err(NameError::Characters {
                allowed: "letters, digits, `-`, `_` and dots",
            });
        }
    }
    Ok(())
}

/// A Linux interface name as cnicheck accepts it: 1 to 15 characters of `[A-Za-z0-9._-]`.
pub(crate) fn interface_name(name: &str) -> Result<(), NameError> {
    length(name, 15)?;
    if name == "." || name == ".." {
        return Err(NameError::DotInterface);
    }
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Ok(())
    } else {
        Err(NameError::Characters {
            allowed: "letters, digits, `-`, `_` and `.`",
        })
    }
}

fn length(name: &str, max: usize) -> Result<(), NameError> {
    match name.len() {
        0 => Err(NameError::Empty),
        length if length > max => Err(NameError::TooLong { length, max }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains_follow_apimachinery() {
        assert!(dns_label("client-1").is_ok());
        for bad in ["", "Client_1.X", "-a", "a-", &"a".repeat(64), "my scenario"] {
            assert!(dns_label(bad).is_err(), "{bad}");
        }
        assert!(dns1035_label("1server").is_err());
        assert!(dns_subdomain("network-attachment-definitions.k8s.cni.cncf.io").is_ok());
        assert!(dns_subdomain("a..b").is_err());
        assert!(dns_subdomain(&"a.".repeat(127)).is_err());
    }

    #[test]
    fn label_keys_and_values() {
        for good in ["app", "app.kubernetes.io/name", "A_b.c-1"] {
            assert!(label_key(good).is_ok(), "{good}");
        }
        for bad in [
            "bad key!",
            "",
            "/x",
            "Bad_Prefix/x",
            "a/",
            "_a",
            &"k".repeat(64),
        ] {
            assert!(label_key(bad).is_err(), "{bad}");
        }
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_x").is_ok());
        for bad in ["a b", "-a", "a.", &"v".repeat(64), "a\u{1b}]0;x"] {
            assert!(label_value(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_and_interface_names() {
        assert!(dns_name("kubernetes.default.svc.cluster.local.").is_ok());
        assert!(dns_name("_sip._tcp.example.com").is_ok());
        assert!(dns_name("a..b").is_err());
        assert!(dns_name("a->b").is_err());
        assert!(interface_name("net1").is_ok());
        assert!(interface_name("a-very-long-interface").is_err());
        assert!(interface_name("a/b").is_err());
    }
}
