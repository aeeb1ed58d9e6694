//! RFC 5322 addresses: `parse_address_list` and `parse_mailbox` on the
//! input as (lossy) UTF-8. What parses must print (`Display`) as text that
//! parses back to the same value, and that text holds no control character
//! (so it is safe in a header or an SMTP command). `parse_address_details`
//! must agree with `parse_address_list` as its documentation promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postie_mime::address::{self, Address};

fn no_controls(text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "control character in {text:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);

    if let Ok(list) = address::parse_address_list(&input) {
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        for (one, text) in list.iter().zip(&shown) {
            no_controls(text);
            let again = address::parse_address_list(text)
                .unwrap_or_else(|e| panic!("{text:?} (from {input:?}) does not parse back: {e}"));
            // An empty group alone prints as `name:;`, which is one address.
            assert_eq!(again, [one.clone()], "{text:?} parses back differently (from {input:?})");
            for mailbox in one.mailboxes() {
                let _ = (mailbox.addr_spec(), mailbox.is_ascii(), mailbox.domain_unicode());
                let _ = mailbox.addr_spec_ascii();
            }
            if let Address::Mailbox(m) = one {
                let parsed = address::parse_mailbox(text)
                    .unwrap_or_else(|e| panic!("{text:?} is not a mailbox: {e}"));
                assert_eq!(&parsed, m);
            }
        }
        let joined = shown.join(", ");
        let again = address::parse_address_list(&joined)
            .unwrap_or_else(|e| panic!("{joined:?} (from {input:?}) does not parse back: {e}"));
        assert_eq!(again, list, "the joined list {joined:?} parses back differently");
    }

    match address::parse_mailbox(&input) {
        Ok(mailbox) => {
            let text = mailbox.to_string();
            no_controls(&text);
            let again = address::parse_mailbox(&text)
                .unwrap_or_else(|e| panic!("{text:?} (from {input:?}) does not parse back: {e}"));
            assert_eq!(again, mailbox, "{text:?} parses back differently (from {input:?})");
        }
        Err(e) => {
            let _ = (e.to_string(), e.position(), e.reason());
            assert!(e.position() <= input.len(), "error position past the end");
        }
    }

    // parse_address_details promises: an input parse_address_list accepts
    // gives the same mailboxes, all Ok; one it refuses gives at least one Err.
    let details = address::parse_address_details(&input);
    match address::parse_address_list(&input) {
        Ok(list) => {
            let mailboxes = address::mailboxes(&list);
            assert_eq!(details.len(), mailboxes.len(), "details count differs for {input:?}");
            for (detail, mailbox) in details.iter().zip(&mailboxes) {
                let detail = detail
                    .as_ref()
                    .unwrap_or_else(|e| panic!("details refuse {input:?} that the list parser accepts: {e}"));
                assert_eq!(detail.local, mailbox.local(), "local part differs for {input:?}");
                assert_eq!(detail.domain.as_deref(), mailbox.domain(), "domain differs for {input:?}");
                // The mailbox's name may come from a trailing comment
                // (`a@b (Fred)`); the details' phrase never does.
                if let Some(phrase) = &detail.phrase {
                    assert_eq!(Some(phrase.as_str()), mailbox.name(), "name differs for {input:?}");
                }
            }
        }
        Err(e) => assert!(
            details.iter().any(Result::is_err),
            "details accept {input:?} that the list parser refuses: {e}"
        ),
    }
});
