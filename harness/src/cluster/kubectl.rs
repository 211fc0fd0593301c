//! The `kubectl` commands cnicheck prints for users to paste (reproduce a probe, look at a
//! component). They carry the `--kubeconfig` and `--context` the run was given, so a pasted
//! command reaches the cluster cnicheck tested and not whatever the shell's default points at.

use std::fmt::Display;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kubectl {
    /// ` --kubeconfig PATH --context NAME`, each only when the run was given it, shell-quoted.
    connection: String,
}

impl Kubectl {
    pub fn new(kubeconfig: Option<&Path>, context: Option<&str>) -> Self {
        let mut connection = String::new();
        if let Some(path) = kubeconfig {
            connection.push_str(" --kubeconfig ");
            connection.push_str(&shell_word(&path.to_string_lossy()));
        }
        if let Some(context) = context {
            connection.push_str(" --context ");
            connection.push_str(&shell_word(context));
        }
        Kubectl { connection }
    }

    /// `kubectl [--kubeconfig ...] [--context ...] ARGS`.
    pub fn command(&self, args: impl Display) -> String {
        format!("kubectl{} {args}", self.connection)
    }

    /// `cnicheck cleanup --run RUN [--kubeconfig ...] [--context ...]`: cnicheck takes the
    /// same connection flags.
    pub fn cleanup_command(&self, run: impl Display) -> String {
        format!("cnicheck cleanup --run {run}{}", self.connection)
    }
}

/// `word` as one POSIX shell word: as it is when it holds nothing the shell would interpret,
/// else in single quotes.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:@%,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_carry_the_runs_connection_flags() {
        let kubectl = Kubectl::new(
            Some(Path::new("/home/ops/my cluster/eks-a.kubeconfig")),
            Some("admin@prod"),
        );
        assert_eq!(
            kubectl.command("-n x get pods"),
            "kubectl --kubeconfig '/home/ops/my cluster/eks-a.kubeconfig' --context admin@prod \
             -n x get pods"
        );
    }

    #[test]
    fn without_flags_kubectl_uses_its_own_defaults() {
        assert_eq!(Kubectl::default().command("get nodes"), "kubectl get nodes");
    }

    #[test]
    fn single_quotes_survive_quoting() {
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
