//! A user of msmtp switches to postie by one link and nothing else: with
//! their `~/.msmtprc` unchanged, `/usr/sbin/sendmail` becomes postie, and
//! mail(1) (bsd-mailx), cron's exact command and git send-email go on
//! delivering. Done as the issue asks, inside a private mount namespace
//! (`unshare --mount`) where postie is bind-mounted over
//! `/usr/sbin/sendmail`: the machine's own sendmail (Postfix's) is never
//! replaced, as a test checks at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use postie_testkit::{real_path, real_server, wait_for};

fn token() -> String {
    postie_mime::new_message_id("x")
        .unwrap()
        .replace(['<', '>', '@', '-', '_', '.'], "")
}

/// The message for LOCAL@example.org holding `token`, once Postfix has
/// delivered it.
fn delivered(mail: &Path, local: &str, token: &str) -> Option<String> {
    let dir = mail.join("example.org").join(local).join("new");
    wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&dir).ok()?.flatten().find_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            text.contains(token).then_some(text)
        })
    })
}

fn sha256_of(path: &Path) -> Vec<u8> {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    out.stdout
}

#[test]
fn mail_cron_and_git_send_email_keep_working_after_the_switch() {
    let Some(server) = real_server("POSTIE_TEST_POSTFIX") else {
        return;
    };
    let mail = real_path("POSTIE_TEST_POSTFIX_MAIL").unwrap();
    let ci = std::env::var_os("CI").is_some();
    for tool in ["unshare", "mail", "git"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map_or(true, |o| !o.status.success())
        {
            assert!(
                !ci,
                "{tool} is missing: scripts/servers.sh installs it, and CI must not skip"
            );
            eprintln!("skipping: {tool} is not installed");
            return;
        }
    }
    let sendmail = Path::new("/usr/sbin/sendmail");
    let before = sha256_of(sendmail);

    // The user's home: an msmtprc as msmtp users write it, and aliases
    // for cron's mail to root.
    let home = std::env::temp_dir().join(format!("postie-switch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let aliases = home.join("aliases");
    std::fs::write(&aliases, "root: rhea@example.org\n").unwrap();
    let rc = home.join(".msmtprc");
    std::fs::write(
        &rc,
        format!(
            "# ~/.msmtprc, unchanged from msmtp days\ndefaults\nlogfile ~/.msmtp.log\naliases {}\n\n\
             account relay\nhost {}\nport {}\nfrom ada@example.org\n\naccount default : relay\n",
            aliases.display(),
            server.host,
            server.port
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A repository with one patch, for git send-email.
    let repo = home.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (mail_token, cron_token, git_token) = (token(), token(), token());
    let script = format!(
        r#"set -e
mount --bind {postie} /usr/sbin/sendmail
# mail(1), as a user types it.
echo "sent by mail(1)" | mail -s "mail {mail_token}" mia@example.org
# cron's exact command, to the user's local name.
printf 'Subject: Cron <root@host> job {cron_token}\nTo: root\n\noutput\n' | /usr/sbin/sendmail -FCronDaemon -i -B8BITMIME -oem root
# git send-email with its default: /usr/sbin/sendmail.
cd {repo}
git init -q .
git -c user.name=Ada -c user.email=ada@example.org commit -q --allow-empty -m "fix {git_token}"
git format-patch -q -1 -o patches
git -c user.name=Ada -c user.email=ada@example.org send-email -q --confirm=never --suppress-cc=all \
    --from "Ada <ada@example.org>" --to oda@example.org --smtp-server /usr/sbin/sendmail patches/*.patch
"#,
        postie = env!("CARGO_BIN_EXE_postie"),
        repo = repo.display(),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap();
    if !out.status.success() && !ci && String::from_utf8_lossy(&out.stderr).contains("unshare") {
        eprintln!("skipping: {}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let got = delivered(&mail, "mia", &mail_token).expect("mail(1)'s message");
    assert!(got.contains("sent by mail(1)"), "{got}");
    assert!(got.contains("Return-Path: <ada@example.org>"), "{got}");
    let got = delivered(&mail, "rhea", &cron_token).expect("cron's mail to root, by its alias");
    assert!(got.contains("CronDaemon"), "{got}");
    let got = delivered(&mail, "oda", &git_token).expect("git send-email's patch");
    assert!(got.contains("[PATCH] fix"), "{got}");
    // msmtp's logfile kept working too: one line per message.
    let log = std::fs::read_to_string(home.join(".msmtp.log")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");

    // Outside the namespace, the machine's sendmail is as it was.
    assert_eq!(sha256_of(sendmail), before);
    let _ = std::fs::remove_dir_all(&home);
}
