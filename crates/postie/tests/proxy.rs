//! `postie send --proxy`: through the real SOCKS5 proxies `scripts/servers.sh`
//! starts (microsocks, with and without a user) to the test Postfix, the
//! transcript naming the proxy, the proxy's password from the environment
//! (never printed), a wrong one (77), and the flags' usage errors (64, 78).
//! With `CI` set a missing server fails; elsewhere the real-server tests
//! skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use postie_testkit::{closed_port, real_path, real_server, wait_for};

fn postie(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postie"));
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_'], "")
}

fn delivered(local: &str, token: &str) -> bool {
    let dir = real_path("POSTIE_TEST_POSTFIX_MAIL")
        .unwrap()
        .join("example.org")
        .join(local)
        .join("new");
    wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(token)))
    })
    .is_some()
}

/// `postie send` of a small message to `to`@example.org at the test
/// Postfix, named `localhost` (the proxy resolves it), with `extra` flags.
fn send(to: &str, token: &str, extra: &[&str], env: &[(&str, &str)]) -> Option<Output> {
    let postfix = real_server("POSTIE_TEST_POSTFIX")?;
    let port = postfix.port.to_string();
    let rcpt = format!("{to}@example.org");
    let subject = format!("proxy {token}");
    let mut args = vec![
        "send",
        "--server",
        "localhost",
        "--port",
        &port,
        "--to",
        &rcpt,
        "--subject",
        &subject,
        "--body",
        "Through the proxy.",
        "--timeout",
        "20",
    ];
    args.extend_from_slice(extra);
    Some(postie(&args, env))
}

#[test]
fn send_through_the_proxy_delivers_and_says_so() {
    let Some(proxy) = real_server("POSTIE_TEST_SOCKS") else {
        return;
    };
    let url = format!("socks5://{}:{}", proxy.host, proxy.port);
    let token = token();
    let out = send("proxy-cli", &token, &["--proxy", &url, "-v"], &[]).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let postfix = real_server("POSTIE_TEST_POSTFIX").unwrap();
    let line = format!(
        "* connecting to localhost:{} via SOCKS5 proxy {}:{}",
        postfix.port, proxy.host, proxy.port
    );
    assert!(text(&out).contains(&line), "{}", text(&out));
    assert!(delivered("proxy-cli", &token));
}

#[test]
fn the_proxy_password_comes_from_the_environment() {
    let Some(proxy) = real_server("POSTIE_TEST_SOCKS_AUTH") else {
        return;
    };
    let user = std::env::var("POSTIE_TEST_SOCKS_USER").unwrap();
    let password = std::env::var("POSTIE_TEST_SOCKS_PASSWORD").unwrap();
    let url = format!("socks5://{user}@{}:{}", proxy.host, proxy.port);
    let token = token();
    let flags = ["--proxy", &url, "--proxy-password-env", "PROXY_PW", "-v"];
    let out = send(
        "proxy-cli-auth",
        &token,
        &flags,
        &[("PROXY_PW", password.as_str())],
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(&password), "{}", text(&out));
    assert!(delivered("proxy-cli-auth", &token));

    // A wrong one: the proxy refused us, as a refused AUTH is (77).
    let out = send(
        "never",
        &token,
        &[
            "--proxy",
            &url,
            "--proxy-password-env",
            "PROXY_PW",
            "--json",
        ],
        &[("PROXY_PW", "not-the-password")],
    )
    .unwrap();
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(&format!(
            "SOCKS5 proxy {}:{}: it refused the username and password",
            proxy.host, proxy.port
        )),
        "{all}"
    );
    assert!(!all.contains("not-the-password"), "{all}");
    // No password at all for a proxy that wants one.
    let bare = format!("socks5://{}:{}", proxy.host, proxy.port);
    let out = send("never", &token, &["--proxy", &bare], &[]).unwrap();
    assert_eq!(out.status.code(), Some(77), "{}", text(&out));
    assert!(
        text(&out).contains("it may want a user and password"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_destination_the_proxy_cannot_reach_is_a_temporary_failure() {
    let Some(proxy) = real_server("POSTIE_TEST_SOCKS") else {
        return;
    };
    let url = format!("socks5://{}:{}", proxy.host, proxy.port);
    let port = closed_port().to_string();
    let out = postie(
        &[
            "send",
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--to",
            "a@example.org",
            "--body",
            "x",
            "--proxy",
            &url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        text(&out).contains("connection refused by the destination (REP 5)"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_proxy_that_is_not_there_gets_no_wrong_port_hint() {
    let url = format!("socks5://127.0.0.1:{}", closed_port());
    let out = postie(
        &[
            "send",
            "--server",
            "mx.example.test",
            "--to",
            "a@example.org",
            "--body",
            "x",
            "--proxy",
            &url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("SOCKS5 proxy 127.0.0.1:"), "{all}");
    assert!(!all.contains("hint: nothing listens"), "{all}");
}

/// Flags, environment, exit code, and what the error says.
type Case = (
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    i32,
    &'static str,
);

#[test]
fn proxy_flags_that_cannot_work_are_usage_errors() {
    let base = [
        "send",
        "--server",
        "mx.example.test",
        "--to",
        "a@example.org",
        "--body",
        "x",
    ];
    let cases: [Case; 6] = [
        (
            &["--proxy", "http://proxy:3128"],
            &[],
            64,
            "the scheme must be socks5",
        ),
        (
            &["--proxy", "socks5://bob:hunter2@proxy:1080"],
            &[],
            64,
            "the password does not go in the URL",
        ),
        (
            &["--proxy", "socks5://bob@proxy:1080"],
            &[],
            64,
            "give the password with --proxy-password-env",
        ),
        (
            &[
                "--proxy",
                "socks5://proxy:1080",
                "--proxy-password-env",
                "PW",
            ],
            &[("PW", "x")],
            64,
            "--proxy-password-env needs a user in --proxy",
        ),
        (&["--proxy-password-env", "PW"], &[], 64, "--proxy"),
        (
            &[
                "--proxy",
                "socks5://bob@proxy:1080",
                "--proxy-password-env",
                "POSTIE_UNSET_PW",
            ],
            &[],
            78,
            "--proxy-password-env POSTIE_UNSET_PW is not set",
        ),
    ];
    for (flags, env, code, says) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(flags);
        let out = postie(&args, env);
        let all = text(&out);
        assert_eq!(out.status.code(), Some(code), "{flags:?}: {all}");
        assert!(all.contains(says), "{flags:?}: {all}");
        assert!(!all.contains("hunter2"), "{flags:?}: {all}");
    }
}
