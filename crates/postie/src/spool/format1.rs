//! Format 1 spool records, written by postie before format 2: how to send
//! was a list of `postie send` flags, which only this command can read.
//! It registers this reader with postie-spool at start.

use clap::Parser as _;
use postie_smtp::TransportSettings;

use crate::args::{Cli, Command};

/// A format 1 record's flags, read as `postie send` reads them.
pub(crate) fn settings_from_flags(flags: &[String]) -> Result<TransportSettings, String> {
    let argv = ["postie", "send"]
        .into_iter()
        .map(str::to_owned)
        .chain(flags.iter().cloned());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Send(args),
        }) => args.transport.settings(),
        Ok(_) => Err("its flags are not those of postie send".to_owned()),
        Err(e) => Err(format!(
            "its flags do not parse: {}",
            e.to_string().lines().next().unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::args::TransportArgs;
    use postie_smtp::SecretSource;
    use postie_spool::meta::{Meta, Unreadable};
    use postie_spool::Digest;

    fn settings(argv: &[String]) -> TransportSettings {
        let full = ["postie".to_owned(), "send".to_owned()]
            .into_iter()
            .chain(argv.iter().cloned());
        match Cli::try_parse_from(full).unwrap().command {
            Command::Send(args) => args.transport.settings().unwrap(),
            _ => panic!("not send"),
        }
    }

    fn record(transport: TransportSettings) -> Meta {
        let stored = Digest {
            size: 5,
            sha256: String::new(),
        };
        Meta {
            transport,
            sha256: None,
            last_error: "e".into(),
            ..Meta::new("1-2-3", 1, stored, "a@x.org".into(), vec!["b@x.org".into()])
        }
    }

    /// A value for each flag that takes one (beyond clap's possible
    /// values), and the flags it needs.
    fn samples(id: &str) -> Option<Vec<&'static str>> {
        Some(match id {
            "servers" => vec!["--server=mx1.example.org"],
            "ports" => vec!["--port=2525"],
            "client" => vec!["--client=laptop.example.org"],
            "timeout" => vec!["--timeout=2.5"],
            "deadline" => vec!["--deadline=30"],
            "ca_file" => vec!["--ca-file=ca.pem"],
            "tls_fingerprint" => vec![
                "--tls-fingerprint=sha256:9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08",
                "--tls-fingerprint=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            "client_cert" | "client_key" => vec!["--client-cert=c.pem", "--client-key=k.pem"],
            "username" => vec!["--username=alice"],
            "password_env" => vec!["--password-env=PW"],
            "password_file" => vec!["--password-file=pw"],
            "oauth_token_env" => vec!["--oauth-token-env=TOKEN"],
            "auth" => vec!["--auth=SCRAM-SHA-256,PLAIN"],
            "dsn_notify" => vec!["--dsn-notify=success,delay"],
            "dsn_ret" => vec!["--dsn-ret=hdrs"],
            // A value that looks like a flag.
            "envid" => vec!["--envid=-odd"],
            "proxy" => vec!["--proxy=socks5://proxy.example:1081"],
            "proxy_password_env" => vec![
                "--proxy=socks5://bob@proxy.example",
                "--proxy-password-env=PROXY_PW",
            ],
            "source_ip" => vec!["--source-ip=192.0.2.7"],
            "dkim_key" | "dkim_selector" => {
                vec!["--dkim-key=/keys/mail.pem", "--dkim-selector=mail"]
            }
            "dkim_domain" => vec![
                "--dkim-key=/keys/mail.pem",
                "--dkim-selector=mail",
                "--dkim-domain=example.org",
            ],
            "dkim_canon" => vec![
                "--dkim-key=/keys/mail.pem",
                "--dkim-selector=mail",
                "--dkim-canon=simple/relaxed",
            ],
            "dkim_headers" => vec![
                "--dkim-key=/keys/mail.pem",
                "--dkim-selector=mail",
                "--dkim-headers=from:subject",
            ],
            _ => return None,
        })
    }

    /// Every flag clap defines for how to send changes the settings, and
    /// the settings come back whole from the record a kept message has
    /// (keep) and are what its retry sends with (flush). A flag added to
    /// `TransportArgs` without a way into the settings fails here.
    #[test]
    fn every_transport_flag_survives_keep_and_flush() {
        let mut command = <TransportArgs as clap::Args>::augment_args(clap::Command::new("t"));
        // Settles what each flag takes (clap fills it in when it builds).
        command.build();
        let mut checked = 0;
        let flags = command.get_arguments().filter(|arg| {
            // --help, which building adds.
            !matches!(
                arg.get_action(),
                clap::ArgAction::Help | clap::ArgAction::HelpShort | clap::ArgAction::HelpLong
            )
        });
        for arg in flags {
            let id = arg.get_id().as_str();
            let long = arg
                .get_long()
                .unwrap_or_else(|| panic!("{id} has no long name"));
            let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
            let argvs: Vec<Vec<String>> = if !takes_value {
                vec![vec![format!("--{long}")]]
            } else if !arg.get_possible_values().is_empty() {
                arg.get_possible_values()
                    .iter()
                    .map(|v| vec![format!("--{long}={}", v.get_name())])
                    .collect()
            } else {
                let sample = samples(id)
                    .unwrap_or_else(|| panic!("--{long}: add a sample value to this test"));
                vec![sample.into_iter().map(str::to_owned).collect()]
            };
            for argv in argvs {
                let made = settings(&argv);
                assert_ne!(
                    made,
                    TransportSettings::default(),
                    "{argv:?} changes nothing"
                );
                // Keep: what `postie send --spool-on-failure` records.
                let kept = record(made.clone()).to_json().unwrap();
                // Flush: what `postie spool flush` reads and sends with.
                let read = Meta::from_json(&kept).unwrap();
                assert_eq!(read.transport, made, "{argv:?}");
                let options = postie_smtp::SendOptions::from(read.transport);
                assert_eq!(options.transport_settings(), &made, "{argv:?}");
                checked += 1;
            }
        }
        assert!(checked >= 28, "{checked}");
    }

    #[test]
    fn the_settings_hold_where_the_secret_comes_from_never_a_secret() {
        std::env::set_var("POSTIE_TEST_META_PW", "hunter2-not-kept");
        let made = settings(&[
            "--username=alice".into(),
            "--password-env=POSTIE_TEST_META_PW".into(),
        ]);
        let text = String::from_utf8(record(made).to_json().unwrap()).unwrap();
        assert!(text.contains("POSTIE_TEST_META_PW"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_format_1_record_reads_its_flags() {
        // As postie wrote it before the settings were kept whole (and
        // before the hash was recorded).
        let old = br#"{"version":1,"id":"1-2-3","created":1,"account":null,"config":null,
            "flags":["--server=mx1","--port=2525","--tls=required","--username=alice",
                     "--password-env=PW","--envid=-odd","--timeout=2.5","--lmtp"],
            "reverse_path":"a@x.org","recipients":["b@x.org"],"size":5,
            "attempts":0,"next_attempt":1,"last_attempt":1,"last_error":"e",
            "maybe_delivered":false}"#;
        postie_spool::meta::read_format_1_with(settings_from_flags);
        let meta = Meta::from_json(old).unwrap();
        assert_eq!((meta.size, meta.sha256.as_deref()), (5, None));
        let flags: Vec<String> = [
            "--server=mx1",
            "--port=2525",
            "--tls=required",
            "--username=alice",
            "--password-env=PW",
            "--envid=-odd",
            "--timeout=2.5",
            "--lmtp",
        ]
        .map(str::to_owned)
        .to_vec();
        assert_eq!(meta.transport, settings(&flags));
        assert_eq!(meta.transport.dsn.envid.as_deref(), Some("-odd"));
        assert_eq!(
            Meta::from_json(br#"{"version":3,"whatever":true}"#),
            Err(Unreadable::Newer(3))
        );
        assert!(matches!(
            Meta::from_json(b"{\"version\":1,"),
            Err(Unreadable::Damaged(_))
        ));
    }

    #[test]
    fn paths_become_absolute() {
        let made = settings(&["--ca-file=ca.pem".into(), "--password-file=pw".into()]);
        assert!(made.ca_files.iter().all(|p| p.is_absolute()), "{made:?}");
        assert!(
            matches!(&made.auth.secret, Some(SecretSource::File(p)) if p.is_absolute()),
            "{made:?}"
        );
    }
}
