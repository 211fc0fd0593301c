//! The README's quick starts stay true: every command in their `sh` blocks either runs here,
//! against the built binary and without a cluster, or says what it needs that tests do not have
//! with a `# needs: ...` comment (on a line of its own for the rest of its block, or at the end
//! of the command). Files the commands name must exist.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Programs a quick-start command may start with and still be run here.
const RUNNABLE: [&str; 3] = [
    "cnicheck",
    "target/release/cnicheck",
    "ci/eks-anywhere/post-upgrade",
];

#[derive(Debug)]
struct QuickStartCommand {
    section: String,
    line: usize,
    text: String,
    needs: Option<String>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn quick_start_commands() -> Vec<QuickStartCommand> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut commands = Vec::new();
    let (mut section, mut in_block, mut block_needs) = (String::new(), false, None::<String>);
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in readme.lines().enumerate() {
        if !in_block && line.starts_with("## ") {
            section = line.trim_start_matches("## ").to_string();
        }
        if !section.starts_with("Quick start") {
            continue;
        }
        match line.trim() {
            "```sh" if !in_block => (in_block, block_needs) = (true, None),
            "```" if in_block => in_block = false,
            _ if !in_block => {}
            "" => {}
            comment if comment.starts_with('#') && pending.is_none() => {
                if let Some(needs) = comment.strip_prefix("# needs:") {
                    block_needs = Some(needs.trim().to_string());
                }
            }
            text => {
                let (line_number, mut joined) =
                    pending.take().unwrap_or((index + 1, String::new()));
                joined.push_str(text.trim_end_matches('\\').trim_end());
                if text.ends_with('\\') {
                    joined.push(' ');
                    pending = Some((line_number, joined));
                    continue;
                }
                let needs = match joined.split_once("# needs:") {
                    Some((_, needs)) => Some(needs.trim().to_string()),
                    None => block_needs.clone(),
                };
                commands.push(QuickStartCommand {
                    section: section.clone(),
                    line: line_number,
                    text: joined,
                    needs,
                });
            }
        }
    }
    commands
}

#[test]
fn quick_starts_are_found() {
    let commands = quick_start_commands();
    let sections: std::collections::BTreeSet<_> =
        commands.iter().map(|c| c.section.as_str()).collect();
    assert!(
        [
            "Quick start: kind",
            "Quick start: EKS",
            "Quick start: EKS Anywhere"
        ]
        .iter()
        .all(|s| sections.contains(s)),
        "quick-start sections missing, found {sections:?}"
    );
    assert!(
        commands.iter().any(|c| c.needs.is_none()),
        "no quick-start command runs here"
    );
    for command in &commands {
        if let Some(needs) = &command.needs {
            assert!(
                !needs.is_empty(),
                "README.md:{}: `# needs:` says nothing",
                command.line
            );
        }
    }
}

#[test]
fn every_quick_start_command_runs_here_or_says_what_it_needs() {
    // `cnicheck` on PATH is the binary under test; no kubeconfig, so nothing reaches a cluster.
    let bin_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let link = bin_dir.join("cnicheck");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_cnicheck"), &link).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut problems = Vec::new();
    for command in quick_start_commands()
        .into_iter()
        .filter(|c| c.needs.is_none())
    {
        let program = command.text.split_whitespace().next().unwrap_or_default();
        if !RUNNABLE.contains(&program) {
            problems.push(format!(
                "README.md:{} ({}): `{}` cannot run in tests: add `# needs: WHAT` or use one of {RUNNABLE:?}",
                command.line, command.section, command.text
            ));
            continue;
        }
        let script = command
            .text
            .replacen("target/release/cnicheck", "cnicheck", 1);
        let output = Command::new("timeout")
            .args(["60", "bash", "-euc", &script])
            .current_dir(repo_root())
            .env("PATH", &path)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env_remove("CNICHECK_AGENT_IMAGE")
            .env_remove("CNICHECK_REGISTRY")
            .env_remove("CNICHECK_EXTERNAL_TARGET")
            .output()
            .unwrap();
        if !output.status.success() {
            problems.push(format!(
                "README.md:{} ({}): `{}` exited with {}\n{}{}",
                command.line,
                command.section,
                command.text,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn files_named_in_quick_starts_exist() {
    let mut missing = Vec::new();
    for command in quick_start_commands() {
        for word in command.text.split_whitespace() {
            let is_repo_path = ["kind-configs/", "ci/", "harness/", "scenarios/"]
                .iter()
                .any(|p| word.starts_with(p));
            if is_repo_path && !repo_root().join(word).exists() {
                missing.push(format!("README.md:{}: {word}", command.line));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named in quick starts but not in the repository: {missing:?}"
    );
}
