//! `${NAME}` and `${NAME:ARGUMENT}` in manifests' string values: what only the run knows (a
//! pod's address, the nodes' pod CIDRs, the `--external-target` host), filled in as each
//! manifest is applied. Names are upper case (`[A-Z][A-Z0-9_]*`); `$${` writes a literal `${`.
//! Validation checks every reference offline; the runner resolves them.

use super::reference::WorkloadRef;
use std::fmt;

/// A run-time value a manifest may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable<'a> {
    /// `CNICHECK_EXTERNAL_HOST`: the host of `--external-target`.
    ExternalHost,
    /// `POD_IP:W`: the address of the one pod of workload W.
    PodIp(WorkloadRef<'a>),
    /// `NODE_IP:W`: the InternalIP of the node the one pod of W runs on.
    NodeIp(WorkloadRef<'a>),
    /// `POD_CIDR:W`: the pod CIDR of the node the one pod of W runs on.
    PodCidr(WorkloadRef<'a>),
    /// `POD_NETWORK`: the smallest CIDR that holds every node's pod CIDR.
    PodNetwork,
    /// `SERVICE_IP:W`: the ClusterIP of W's Service.
    ServiceIp(WorkloadRef<'a>),
    /// `NAMESPACE:ALIAS`: the real name of a namespace of the scenario (`default`: its own),
    /// e.g. for the `kubernetes.io/metadata.name` label every namespace carries.
    Namespace(&'a str),
}

/// Every name, with its argument, for hints.
pub const KNOWN: &str = "CNICHECK_EXTERNAL_HOST, POD_IP:WORKLOAD, NODE_IP:WORKLOAD, \
    POD_CIDR:WORKLOAD, POD_NETWORK, SERVICE_IP:WORKLOAD, NAMESPACE:ALIAS";

impl<'a> Variable<'a> {
    fn parse(inner: &'a str) -> Result<Self, VariableError> {
        let (name, argument) = match inner.split_once(':') {
            Some((name, argument)) => (name, Some(argument)),
            None => (inner, None),
        };
        let workload = || match argument {
            Some(argument) if !argument.is_empty() => Ok(WorkloadRef::parse(argument)),
            _ => Err(VariableError::MissingWorkload(name.to_owned())),
        };
        let alone = |variable| match argument {
            None => Ok(variable),
            Some(_) => Err(VariableError::UnexpectedArgument(name.to_owned())),
        };
        match name {
            "CNICHECK_EXTERNAL_HOST" => alone(Variable::ExternalHost),
            "POD_NETWORK" => alone(Variable::PodNetwork),
            "POD_IP" => workload().map(Variable::PodIp),
            "NODE_IP" => workload().map(Variable::NodeIp),
            "POD_CIDR" => workload().map(Variable::PodCidr),
            "SERVICE_IP" => workload().map(Variable::ServiceIp),
            "NAMESPACE" => match argument {
                Some(alias) if !alias.is_empty() => Ok(Variable::Namespace(alias)),
                _ => Err(VariableError::MissingAlias),
            },
            _ => Err(VariableError::Unknown(name.to_owned())),
        }
    }

    /// The workload it is about, if any.
    pub fn workload(&self) -> Option<WorkloadRef<'a>> {
        match *self {
            Variable::PodIp(workload)
            | Variable::NodeIp(workload)
            | Variable::PodCidr(workload)
            | Variable::ServiceIp(workload) => Some(workload),
            Variable::ExternalHost | Variable::PodNetwork | Variable::Namespace(_) => None,
        }
    }
}

impl fmt::Display for Variable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variable::ExternalHost => f.write_str("${CNICHECK_EXTERNAL_HOST}"),
            Variable::PodNetwork => f.write_str("${POD_NETWORK}"),
            Variable::PodIp(workload) => write!(f, "${{POD_IP:{workload}}}"),
            Variable::NodeIp(workload) => write!(f, "${{NODE_IP:{workload}}}"),
            Variable::PodCidr(workload) => write!(f, "${{POD_CIDR:{workload}}}"),
            Variable::ServiceIp(workload) => write!(f, "${{SERVICE_IP:{workload}}}"),
            Variable::Namespace(alias) => write!(f, "${{NAMESPACE:{alias}}}"),
        }
    }
}

/// Why a `${...}` names no variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariableError {
    #[error("`${{{0}}}` is not a variable cnicheck knows")]
    Unknown(String),
    #[error("`${{{0}}}` needs a workload: `${{{0}:WORKLOAD}}`")]
    MissingWorkload(String),
    #[error("`${{NAMESPACE}}` needs a namespace alias: `${{NAMESPACE:ALIAS}}`")]
    MissingAlias,
    #[error("`${{{0}}}` takes no argument")]
    UnexpectedArgument(String),
    #[error("`${{` is not closed by `}}`")]
    Unclosed,
}

/// A piece of a string: text as is, or a reference to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Variable(Result<Variable<'a>, VariableError>),
}

/// `text` cut into text and references, in order (`$${` gives the text `${`).
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if rest[..at].ends_with('$') {
            pieces.push(Piece::Text(&rest[..at - 1]));
            pieces.push(Piece::Text("${"));
            rest = &rest[at + 2..];
            continue;
        }
        let after = &rest[at + 2..];
        let name_end = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        if !after.starts_with(|c: char| c.is_ascii_uppercase()) {
            // `${lower}`, `${1}`: shell and templating text, not ours.
            pieces.push(Piece::Text(&rest[..at + 2]));
            rest = after;
            continue;
        }
        pieces.push(Piece::Text(&rest[..at]));
        match after[name_end..].find('}') {
            Some(close) => {
                let inner = &after[..name_end + close];
                pieces.push(Piece::Variable(Variable::parse(inner)));
                rest = &after[name_end + close + 1..];
            }
            None => {
                pieces.push(Piece::Variable(Err(VariableError::Unclosed)));
                rest = "";
            }
        }
    }
    pieces.push(Piece::Text(rest));
    pieces.retain(|piece| *piece != Piece::Text(""));
    pieces
}

/// Every reference in `text`.
pub fn references(text: &str) -> impl Iterator<Item = Result<Variable<'_>, VariableError>> {
    pieces(text).into_iter().filter_map(|piece| match piece {
        Piece::Variable(variable) => Some(variable),
        Piece::Text(_) => None,
    })
}

/// `text` with every reference replaced by its value; unchanged (borrowed) when it has none.
pub fn substitute<'t, E>(
    text: &'t str,
    mut value: impl FnMut(Variable<'t>) -> Result<String, E>,
    invalid: impl Fn(VariableError) -> E,
) -> Result<std::borrow::Cow<'t, str>, E> {
    let pieces = pieces(text);
    if let [Piece::Text(only)] = pieces[..] {
        return Ok(only.into());
    }
    let mut filled = String::with_capacity(text.len());
    for piece in pieces {
        match piece {
            Piece::Text(text) => filled.push_str(text),
            Piece::Variable(Ok(variable)) => filled.push_str(&value(variable)?),
            Piece::Variable(Err(error)) => return Err(invalid(error)),
        }
    }
    Ok(filled.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(namespace: &'static str, name: &'static str) -> WorkloadRef<'static> {
        WorkloadRef { namespace, name }
    }

    #[test]
    fn names_arguments_and_literal_text_are_told_apart() {
        assert_eq!(
            pieces("${POD_IP:y/b}/32"),
            [
                Piece::Variable(Ok(Variable::PodIp(pod("y", "b")))),
                Piece::Text("/32")
            ]
        );
        assert_eq!(
            pieces("from ${POD_NETWORK} to ${SERVICE_IP:web}"),
            [
                Piece::Text("from "),
                Piece::Variable(Ok(Variable::PodNetwork)),
                Piece::Text(" to "),
                Piece::Variable(Ok(Variable::ServiceIp(pod("default", "web")))),
            ]
        );
        assert_eq!(
            pieces("echo $${HOME}"),
            [
                Piece::Text("echo "),
                Piece::Text("${"),
                Piece::Text("HOME}")
            ]
        );
        assert_eq!(
            pieces("echo ${home} ${1}"),
            [
                Piece::Text("echo ${"),
                Piece::Text("home} ${"),
                Piece::Text("1}")
            ]
        );
        assert_eq!(pieces("plain"), [Piece::Text("plain")]);
    }

    #[test]
    fn malformed_references_say_what_is_wrong() {
        let errors = |text| references(text).filter_map(Result::err).collect::<Vec<_>>();
        assert_eq!(
            errors("${POD_IPS:b}"),
            [VariableError::Unknown("POD_IPS".into())]
        );
        assert_eq!(
            errors("${POD_IP}"),
            [VariableError::MissingWorkload("POD_IP".into())]
        );
        assert_eq!(
            errors("${POD_IP:}"),
            [VariableError::MissingWorkload("POD_IP".into())]
        );
        assert_eq!(
            errors("${POD_NETWORK:x}"),
            [VariableError::UnexpectedArgument("POD_NETWORK".into())]
        );
        assert_eq!(errors("${POD_IP:b"), [VariableError::Unclosed]);
        assert_eq!(errors("${NAMESPACE}"), [VariableError::MissingAlias]);
        assert_eq!(
            references("${NAMESPACE:y}").collect::<Vec<_>>(),
            [Ok(Variable::Namespace("y"))]
        );
    }

    #[test]
    fn substitution_fills_every_reference_and_borrows_plain_text() {
        let value = |variable: Variable<'_>| Ok::<_, String>(format!("<{variable}>"));
        let filled = substitute("${POD_IP:x/b}/32", value, |error| error.to_string()).unwrap();
        assert_eq!(filled, "<${POD_IP:x/b}>/32");
        let plain = substitute("10.0.0.0/8", value, |error| error.to_string()).unwrap();
        assert!(matches!(plain, std::borrow::Cow::Borrowed(_)));
        let error = substitute("${NOPE}", value, |error| error.to_string()).unwrap_err();
        assert_eq!(error, "`${NOPE}` is not a variable cnicheck knows");
    }
}
