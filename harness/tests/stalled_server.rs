//! `cnicheck run` against API servers that misbehave, all on 127.0.0.1: one that sends
//! response headers and then stalls, one that is not there. The run must end in time, say
//! which server and what it waited for, and a second signal must stop a stalled cleanup.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Accepts every connection, reads the request, sends the headers of a JSON answer and
/// never its body. Returns the server URL.
fn start_stalled_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        // The connections stay open (stalled) until the test process ends.
        let mut held: Vec<TcpStream> = Vec::new();
        for connection in listener.incoming() {
            let Ok(mut connection) = connection else {
                continue;
            };
            let mut request = [0; 8192];
            let _ = connection.read(&mut request);
            let _ = connection.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n{",
            );
            held.push(connection);
        }
    });
    url
}

/// A kubeconfig whose one context, `loopback`, points at `url`.
fn kubeconfig(name: &str, url: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "stalled-server-{name}-{}.kubeconfig",
        std::process::id()
    ));
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: loopback\n  cluster:\n    server: \
         {url}\nusers:\n- name: nobody\n  user:\n    token: not-a-token\ncontexts:\n- name: \
         loopback\n  context:\n    cluster: loopback\n    user: nobody\ncurrent-context: \
         loopback\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `cnicheck run` of the built-in suites against `kubeconfig`, stderr piped.
fn cnicheck_run(kubeconfig: &PathBuf, api_timeout: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cnicheck"))
        .args(["run", "--kubeconfig"])
        .arg(kubeconfig)
        .args(["--api-timeout", &api_timeout.to_string()])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The lines of `child`'s stderr, as they come.
fn stderr_lines(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Collects lines until one contains `wanted`; panics with what came after `within`.
fn wait_for_line(lines: &Receiver<String>, seen: &mut Vec<String>, wanted: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                let found = line.contains(wanted);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                panic!(
                    "no line with {wanted:?} within {within:?}; stderr:\n{}",
                    seen.join("\n")
                )
            }
        }
    }
}

/// Waits for `child` to exit, up to `within`; kills it and panics if it does not.
fn exit_code_within(child: &mut Child, within: Duration) -> i32 {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().expect("exited, not killed by a signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("cnicheck did not exit within {within:?}");
}

fn terminate(child: &Child) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid has no memory-safety requirements.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

#[test]
fn a_stalled_server_ends_the_run_naming_the_server_and_the_request() {
    let url = start_stalled_server();
    let kubeconfig = kubeconfig("run", &url);
    let started = Instant::now();
    let mut child = cnicheck_run(&kubeconfig, 2);
    let lines = stderr_lines(&mut child);
    let code = exit_code_within(&mut child, Duration::from_secs(30));
    let stderr: Vec<String> = lines.iter().collect();
    let stderr = stderr.join("\n");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(&format!("API server {url} (context loopback): ")),
        "{stderr}"
    );
    assert!(
        stderr.contains("GET /api/v1/nodes: no complete response within 2 s"),
        "{stderr}"
    );
    assert!(!stderr.contains("\x1b["), "colour on a pipe: {stderr}");
    assert!(
        stderr.contains("once the server answers, remove them with `cnicheck cleanup --run "),
        "what the run may have left is said: {stderr}"
    );
    let _ = std::fs::remove_file(kubeconfig);
}

#[test]
fn a_second_sigterm_stops_a_stalled_cleanup_and_says_how_to_finish_it() {
    let url = start_stalled_server();
    let kubeconfig = kubeconfig("signal", &url);
    // Long enough that only the signals can end it in time.
    let mut child = cnicheck_run(&kubeconfig, 120);
    let lines = stderr_lines(&mut child);
    let mut seen = Vec::new();
    wait_for_line(&lines, &mut seen, "cnicheck run ", Duration::from_secs(30));
    // The run is now waiting for the stalled server; the first signal starts the cleanup,
    // which waits for the same server.
    std::thread::sleep(Duration::from_millis(300));
    terminate(&child);
    wait_for_line(
        &lines,
        &mut seen,
        "removing everything run",
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "cleanup did not wait for the server: {}",
        seen.join("\n")
    );
    let second = Instant::now();
    terminate(&child);
    let code = exit_code_within(&mut child, Duration::from_secs(5));
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "took {:?}",
        second.elapsed()
    );
    seen.extend(lines.iter());
    let stderr = seen.join("\n");
    assert_eq!(code, 143, "{stderr}");
    let run = seen[0]
        .strip_prefix("cnicheck run ")
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no run id in {:?}", seen[0]));
    assert!(
        stderr.contains(&format!("namespaces cnicheck-{run}*")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "`cnicheck cleanup --run {run} --kubeconfig {}`",
            kubeconfig.display()
        )),
        "{stderr}"
    );
    let _ = std::fs::remove_file(kubeconfig);
}

#[test]
fn a_refused_port_says_refused_and_names_the_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let kubeconfig = kubeconfig("refused", &url);
    let mut child = cnicheck_run(&kubeconfig, 5);
    let lines = stderr_lines(&mut child);
    let code = exit_code_within(&mut child, Duration::from_secs(30));
    let stderr: Vec<String> = lines.iter().collect();
    let stderr = stderr.join("\n");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(!stderr.contains("client error (Connect)"), "{stderr}");
    let _ = std::fs::remove_file(kubeconfig);
}
