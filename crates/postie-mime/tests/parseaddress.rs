//! tcllib's `mime::parseaddress` as `parse_address_details`, and the
//! internationalized-address helpers of `Mailbox`.
//!
//! The expected values follow what tcllib 1.21's `mime::parseaddress` gives
//! for the same inputs, where the typed API keeps its meaning (`None` for an
//! empty string, the error as an `Err`, the local part unquoted); the
//! deliberate differences are noted where they show.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postie_mime::address::{
    mailboxes, parse_address_details, parse_address_list, parse_mailbox, AddressError,
    AddressErrorKind, ParsedAddress,
};

/// The one entry `input` must give, `Ok`.
fn single(input: &str) -> ParsedAddress {
    let mut list = parse_address_details(input);
    assert_eq!(list.len(), 1, "{input:?}: {list:?}");
    match list.remove(0) {
        Ok(parsed) => parsed,
        Err(err) => panic!("{input:?}: {err}"),
    }
}

fn all_ok(input: &str) -> Vec<ParsedAddress> {
    parse_address_details(input)
        .into_iter()
        .map(|entry| entry.unwrap_or_else(|err| panic!("{input:?}: {err}")))
        .collect()
}

fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

#[test]
fn phrase_and_angle_address() {
    assert_eq!(
        single("Fred Smith <fred@example.org>"),
        ParsedAddress {
            address: "fred@example.org".into(),
            comment: None,
            domain: s("example.org"),
            friendly: "Fred Smith".into(),
            group: None,
            local: "fred".into(),
            member_of_group: false,
            phrase: s("Fred Smith"),
            proper: "Fred Smith <fred@example.org>".into(),
            route: None,
        }
    );
}

#[test]
fn trailing_comment_is_the_friendly_name() {
    assert_eq!(
        single("fred@example.org (Fred Smith)"),
        ParsedAddress {
            address: "fred@example.org".into(),
            comment: s("Fred Smith"),
            domain: s("example.org"),
            friendly: "Fred Smith".into(),
            group: None,
            local: "fred".into(),
            member_of_group: false,
            phrase: None,
            proper: "fred@example.org".into(),
            route: None,
        }
    );
}

#[test]
fn comments_everywhere_are_collected() {
    // tcllib: comment "(lead) (tail)", friendly "lead) (tail".
    let p = single("(lead) a@b.test (tail)");
    assert_eq!(p.comment.as_deref(), Some("lead tail"));
    assert_eq!(p.friendly, "lead tail");
    assert_eq!(p.phrase, None);

    // A phrase wins over comments for `friendly`; the comments are kept.
    let p = single(r"Pete(A nice \) chap) <pete(his account)@silly.test(his host)>");
    assert_eq!(p.phrase.as_deref(), Some("Pete"));
    assert_eq!(p.friendly, "Pete");
    assert_eq!(
        p.comment.as_deref(),
        Some("A nice ) chap his account his host")
    );
    assert_eq!(p.proper, "Pete <pete@silly.test>");

    // Nested comments keep their inner parentheses; blank ones count as none.
    assert_eq!(
        single("a@b (Fred (the man))").comment.as_deref(),
        Some("Fred (the man)")
    );
    let p = single("a@b.test ( )");
    assert_eq!(p.comment, None);
    assert_eq!(p.friendly, "a");
}

#[test]
fn friendly_falls_back_to_the_local_part() {
    // As tcllib: the local part, not the whole address.
    let p = single("fred@example.org");
    assert_eq!(p.friendly, "fred");
    assert_eq!(p.proper, "fred@example.org");
    assert_eq!(p.phrase, None);
    assert_eq!(p.comment, None);

    // An X.400-style local part gives its personal name.
    assert_eq!(
        single("/G=Fred/S=Smith/@x400.example").friendly,
        "Fred Smith"
    );
    assert_eq!(
        single("/PN=Fred.Smith/O=Org/@x400.example").friendly,
        "Fred.Smith"
    );
    assert_eq!(single("/S=Smith/@x400.example").friendly, "Smith");
    assert_eq!(single("/O=Org/@x400.example").friendly, "/O=Org/");
}

#[test]
fn quoted_phrase_is_decoded_and_proper_requotes_it() {
    let p = single(r#""Smith, Fred" <fred@example.org>"#);
    assert_eq!(p.phrase.as_deref(), Some("Smith, Fred"));
    assert_eq!(p.friendly, "Smith, Fred");
    assert_eq!(p.proper, r#""Smith, Fred" <fred@example.org>"#);
    assert_eq!(p.address, "fred@example.org");

    let p = single(r#""Joe \"Q\" Public" <joe@x.test>"#);
    assert_eq!(p.phrase.as_deref(), Some(r#"Joe "Q" Public"#));
    assert_eq!(p.proper, r#""Joe \"Q\" Public" <joe@x.test>"#);

    // An obsolete phrase with a dot is quoted in `proper`.
    let p = single("Joe Q. Public <john.q.public@example.com>");
    assert_eq!(p.phrase.as_deref(), Some("Joe Q. Public"));
    assert_eq!(p.proper, r#""Joe Q. Public" <john.q.public@example.com>"#);
}

#[test]
fn source_route_is_kept() {
    let p = single("<@route1,@route2:user@host>");
    assert_eq!(p.route.as_deref(), Some("@route1,@route2"));
    assert_eq!(p.address, "user@host");
    assert_eq!(p.local, "user");
    assert_eq!(p.domain.as_deref(), Some("host"));
    assert_eq!(p.proper, "user@host");
    assert_eq!(p.friendly, "user");

    // White space, comments and empty elements in the route are dropped.
    let p = single("Mary < @a.test (x), , @[192.0.2.1] : mary@c.test >");
    assert_eq!(p.route.as_deref(), Some("@a.test,@[192.0.2.1]"));
    assert_eq!(p.proper, "Mary <mary@c.test>");
    assert_eq!(p.comment.as_deref(), Some("x"));

    assert_eq!(single("<user@host>").route, None);
}

#[test]
fn group_members_know_their_group() {
    let list = all_ok("friends: a@x, B <b@y>;");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].address, "a@x");
    assert_eq!(list[0].friendly, "a");
    assert_eq!(list[1].proper, "B <b@y>");
    assert_eq!(list[1].phrase.as_deref(), Some("B"));
    for member in &list {
        assert!(member.member_of_group);
        assert_eq!(member.group.as_deref(), Some("friends"));
    }

    // Mailboxes around a group are not members; a quoted group name is
    // decoded; the missing `;` at the very end is tolerated.
    let list = all_ok(r#"a@x, "The Team": b@y, (c) , c@z; , d@w, Last: e@v"#);
    let summary: Vec<(&str, Option<&str>, bool)> = list
        .iter()
        .map(|p| (p.address.as_str(), p.group.as_deref(), p.member_of_group))
        .collect();
    assert_eq!(
        summary,
        [
            ("a@x", None, false),
            ("b@y", Some("The Team"), true),
            ("c@z", Some("The Team"), true),
            ("d@w", None, false),
            ("e@v", Some("Last"), true),
        ]
    );
}

#[test]
fn empty_groups_give_no_entries() {
    assert!(parse_address_details("undisclosed-recipients:;").is_empty());
    assert!(parse_address_details("Undisclosed recipients: ;").is_empty());
    assert!(parse_address_details(
        "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;"
    )
    .is_empty());
    let list = all_ok("a@x, undisclosed-recipients:;, b@y");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|p| !p.member_of_group));
}

#[test]
fn empty_input_and_empty_members() {
    assert!(parse_address_details("").is_empty());
    assert!(parse_address_details("  (just a comment) ").is_empty());
    assert!(parse_address_details(", ,").is_empty());
    let locals: Vec<String> = all_ok(",a@b, , c@d,,")
        .into_iter()
        .map(|p| p.local)
        .collect();
    assert_eq!(locals, ["a", "c"]);
}

#[test]
fn one_bad_member_does_not_hide_the_others() {
    let input = "good@example.org, bad@@example.org, Fred Smith, \"Jones, Ed\" <ed@example.org>, last@example.org";
    let list = parse_address_details(input);
    assert_eq!(list.len(), 5, "{list:?}");

    assert_eq!(list[0].as_ref().unwrap().address, "good@example.org");

    let err = list[1].as_ref().unwrap_err();
    assert_eq!(err.input(), input);
    assert_eq!(err.position(), input.find("@@").unwrap() + 1);
    assert_eq!(
        err.reason(),
        &AddressErrorKind::Unexpected {
            found: '@',
            expected: "a domain"
        }
    );

    // A phrase with no address: reported at the comma that ends it.
    let err = list[2].as_ref().unwrap_err();
    assert_eq!(err.position(), input.find("Smith,").unwrap() + 5);
    assert_eq!(
        err.reason(),
        &AddressErrorKind::Unexpected {
            found: ',',
            expected: "'<' after a display name"
        }
    );
    assert!(err.to_string().contains("at byte"), "{err}");

    // The comma inside the quoted phrase did not split it.
    let ed = list[3].as_ref().unwrap();
    assert_eq!(ed.phrase.as_deref(), Some("Jones, Ed"));
    assert_eq!(ed.proper, r#""Jones, Ed" <ed@example.org>"#);
    assert_eq!(list[4].as_ref().unwrap().address, "last@example.org");

    // The strict parser refuses the whole list, at the first bad member.
    let strict = parse_address_list(input).unwrap_err();
    assert_eq!(strict.position(), err_position(&list[1]));
}

fn err_position(entry: &Result<ParsedAddress, AddressError>) -> usize {
    entry.as_ref().unwrap_err().position()
}

#[test]
fn bad_members_inside_a_group_and_after_it() {
    // An unclosed `<` runs to the end: one error for it, `a@x` still there.
    let list = parse_address_details("G: a@x, <b@y, c@z;");
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[0].as_ref().unwrap().group.as_deref(), Some("G"));
    assert_eq!(err_position(&list[1]), 12);
    assert_eq!(
        list[1].as_ref().unwrap_err().reason(),
        &AddressErrorKind::Unexpected {
            found: ',',
            expected: "'>'"
        }
    );
    let list = parse_address_details("a@x, G: b@y, <c");
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(err_position(&list[2]), 13);
    assert_eq!(
        list[2].as_ref().unwrap_err().reason(),
        &AddressErrorKind::UnclosedAngle
    );

    let list = parse_address_details("G: a@x, H: b@y; c@z, d@w");
    let kinds: Vec<Result<&str, AddressErrorKind>> = list
        .iter()
        .map(|e| {
            e.as_ref()
                .map(|p| p.address.as_str())
                .map_err(|e| *e.reason())
        })
        .collect();
    assert_eq!(
        kinds,
        [
            Ok("a@x"),
            Err(AddressErrorKind::NestedGroup),
            Err(AddressErrorKind::JunkAfterAddress('c')),
            Ok("d@w"),
        ]
    );

    // A group whose name is no phrase is one error, as the strict parser
    // reports it, for the whole group (up to its `;`).
    let input = "a@b: c@d; , e@f";
    let list = parse_address_details(input);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0], Err(parse_address_list(input).unwrap_err()));
    assert_eq!(
        list[0].as_ref().unwrap_err().reason(),
        &AddressErrorKind::JunkAfterAddress(':')
    );
    assert_eq!(list[1].as_ref().unwrap().address, "e@f");
    assert_eq!(
        parse_address_details(":;, x@y")[0]
            .as_ref()
            .unwrap_err()
            .reason(),
        &AddressErrorKind::Unexpected {
            found: ':',
            expected: "a group name before ':'"
        }
    );
}

#[test]
fn bare_local_part_has_no_domain() {
    let p = single("root");
    assert_eq!(p.local, "root");
    assert_eq!(p.domain, None);
    assert_eq!(p.address, "root");
    assert_eq!(p.proper, "root");
    assert_eq!(p.friendly, "root");

    let p = single("root (Charlie Root)");
    assert_eq!(p.friendly, "Charlie Root");
    assert_eq!(p.domain, None);

    let p = single("Fred <fred>");
    assert_eq!(p.proper, "Fred <fred>");
}

#[test]
fn quoted_local_parts_are_quoted_in_proper() {
    let p = single(r#""john doe"@example.com"#);
    assert_eq!(p.local, "john doe");
    assert_eq!(p.address, r#""john doe"@example.com"#);
    assert_eq!(p.proper, r#""john doe"@example.com"#);
    assert_eq!(p.friendly, "john doe");

    let p = single(r#"John <"john\"doe"@example.com>"#);
    assert_eq!(p.local, "john\"doe");
    assert_eq!(p.proper, r#"John <"john\"doe"@example.com>"#);

    // A quoted local part that is a dot-atom needs no quotes.
    assert_eq!(
        single(r#""john".doe@example.com"#).proper,
        "john.doe@example.com"
    );
    // Domain literals pass through.
    assert_eq!(
        single("jdoe@[192.168.0.1]").domain.as_deref(),
        Some("[192.168.0.1]")
    );
}

#[test]
fn agrees_with_the_strict_parser() {
    let inputs = [
        "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
        "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
        "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
        "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)",
        "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
        "a@b, G: , c@d,, ; , e@f",
        "Jörg Müller <jörg@münchen.example>, 日本 <用户@例子.广告>",
        "<jdoe@[IPv6:2001:db8::1]>, \"a:b\" <x@y>, (c:d) e@f",
    ];
    for input in inputs {
        let strict = mailboxes(&parse_address_list(input).unwrap());
        let details = all_ok(input);
        assert_eq!(details.len(), strict.len(), "{input:?}");
        for (d, m) in details.iter().zip(&strict) {
            assert_eq!(d.local, m.local(), "{input:?}");
            assert_eq!(d.domain.as_deref(), m.domain(), "{input:?}");
            assert_eq!(d.address, m.addr_spec(), "{input:?}");
            if d.phrase.is_some() {
                assert_eq!(d.phrase.as_deref(), m.name(), "{input:?}");
            }
        }
    }
}

#[test]
fn error_positions_are_in_the_whole_input() {
    let input = "a@b.test, c@d e@f, g@h.test";
    let list = parse_address_details(input);
    assert_eq!(list.len(), 3);
    let err = list[1].as_ref().unwrap_err();
    assert_eq!(err.input(), input);
    assert_eq!(err.position(), 14);
    assert_eq!(err.reason(), &AddressErrorKind::JunkAfterAddress('e'));
    // Same place, same reason as the strict parser.
    assert_eq!(parse_address_list(input).unwrap_err(), *err);

    let list = parse_address_details("a@, b@c");
    assert_eq!(
        list[0].as_ref().unwrap_err().reason(),
        &AddressErrorKind::Unexpected {
            found: ',',
            expected: "a domain"
        }
    );
    assert_eq!(list[1].as_ref().unwrap().address, "b@c");

    // Header injection is refused; what looks like a group after it is not
    // believed, members and all.
    let input = "a@b\r\nBcc: evil@x, c@d";
    let list = parse_address_details(input);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0], Err(parse_address_list(input).unwrap_err()));
    assert_eq!(
        list[0].as_ref().unwrap_err().reason(),
        &AddressErrorKind::BareLineBreak
    );
}

// ---------------------------------------------------------------------------
// Internationalized addresses
// ---------------------------------------------------------------------------

#[test]
fn idn_domain_to_ascii() {
    let m = parse_mailbox("user@bücher.example").unwrap();
    assert!(!m.is_ascii());
    assert_eq!(m.domain(), Some("bücher.example"));
    assert_eq!(
        m.domain_ascii().unwrap().as_deref(),
        Some("xn--bcher-kva.example")
    );
    assert_eq!(m.addr_spec_ascii().unwrap(), "user@xn--bcher-kva.example");
    // The display name does not matter.
    let m = parse_mailbox("Jörg Müller <user@münchen.example>").unwrap();
    assert_eq!(m.addr_spec_ascii().unwrap(), "user@xn--mnchen-3ya.example");
    // Non-ASCII domains are mapped (lowercased) by UTS #46.
    let m = parse_mailbox("user@BÜCHER.Example").unwrap();
    assert_eq!(
        m.domain_ascii().unwrap().as_deref(),
        Some("xn--bcher-kva.example")
    );
    let m = parse_mailbox("a@例子.广告").unwrap();
    assert_eq!(
        m.domain_ascii().unwrap().as_deref(),
        Some("xn--fsqu00a.xn--4rr70v")
    );
}

/// The hard cases of UTS #46 as idna 1.x does it (non-transitional, joiners
/// and bidi checked). They pin the Unicode back end down: postie-mime holds
/// `idna_adapter` at 1.1 (unicode-rs rather than ICU4X, see its
/// Cargo.toml), and these give the same answers with both.
#[test]
fn idn_hard_cases() {
    for (domain, ascii) in [
        // Non-transitional: ß and final sigma are kept (IDNA2008), not
        // mapped to "ss" and "σ" as IDNA2003 did.
        ("straße.de", "xn--strae-oqa.de"),
        ("Straße.DE", "xn--strae-oqa.de"),
        ("βόλος.com", "xn--nxasmm1c.com"),
        // Upper case in two scripts in one label, lowercased.
        (
            "München-Москва.Example",
            "xn--mnchen--n2a005eta1gxa0a6b.example",
        ),
        // Full-width Latin is mapped to ASCII.
        ("ＥＸＡＭＰＬＥ.com", "example.com"),
        // A right-to-left label; a zero-width joiner after a virama.
        ("\u{5D0}\u{5D1}.example", "xn--4dbc.example"),
        ("\u{915}\u{94D}\u{200D}.example", "xn--11b6iy14e.example"),
    ] {
        let m = parse_mailbox(&format!("user@{domain}")).unwrap();
        assert_eq!(
            m.domain_ascii().unwrap().as_deref(),
            Some(ascii),
            "{domain:?}"
        );
    }
    // ß comes back from its A-label.
    let m = parse_mailbox("user@xn--strae-oqa.de").unwrap();
    assert_eq!(m.domain_unicode().as_deref(), Some("straße.de"));
    for (domain, position) in [
        // Bidi rule: a right-to-left label cannot hold a left-to-right letter.
        ("ok.\u{5D0}a.example", 3),
        // A zero-width joiner outside its context (CONTEXTJ).
        ("bücher.a\u{200D}b.example", 8),
        // Arabic-Indic and extended Arabic-Indic digits mixed.
        ("\u{660}\u{6F0}.example", 0),
    ] {
        let m = parse_mailbox(&format!("user@{domain}")).unwrap();
        let err = m.domain_ascii().unwrap_err();
        assert_eq!(err.reason(), &AddressErrorKind::InvalidIdn, "{domain:?}");
        assert_eq!(err.position(), position, "{domain:?}");
    }
}

#[test]
fn ascii_addresses_are_unchanged() {
    let m = parse_mailbox("user@EXAMPLE.ORG").unwrap();
    assert!(m.is_ascii());
    assert_eq!(m.domain_ascii().unwrap().as_deref(), Some("EXAMPLE.ORG"));
    assert_eq!(m.domain_unicode().as_deref(), Some("EXAMPLE.ORG"));
    assert_eq!(m.addr_spec_ascii().unwrap(), "user@EXAMPLE.ORG");
    assert_eq!(m.addr_spec_ascii().unwrap(), m.addr_spec());

    let m = parse_mailbox("\"john doe\"@[192.0.2.1]").unwrap();
    assert_eq!(m.domain_ascii().unwrap().as_deref(), Some("[192.0.2.1]"));
    assert_eq!(m.domain_unicode().as_deref(), Some("[192.0.2.1]"));
    assert_eq!(m.addr_spec_ascii().unwrap(), "\"john doe\"@[192.0.2.1]");

    let root = parse_mailbox("root").unwrap();
    assert_eq!(root.domain_ascii().unwrap(), None);
    assert_eq!(root.domain_unicode(), None);
    assert_eq!(root.addr_spec_ascii().unwrap(), "root");
    assert!(root.is_ascii());
}

#[test]
fn non_ascii_local_part_needs_smtputf8() {
    let m = parse_mailbox("jörg@bücher.example").unwrap();
    assert!(!m.is_ascii());
    let err = m.addr_spec_ascii().unwrap_err();
    assert_eq!(err.reason(), &AddressErrorKind::NonAsciiLocalPart);
    assert_eq!(err.input(), "jörg");
    assert_eq!(err.position(), 1);
    assert!(err.to_string().contains("SMTPUTF8"), "{err}");
    // The domain alone still converts.
    assert_eq!(
        m.domain_ascii().unwrap().as_deref(),
        Some("xn--bcher-kva.example")
    );
    // Also with an ASCII domain.
    let err = parse_mailbox("用户@example.com")
        .unwrap()
        .addr_spec_ascii()
        .unwrap_err();
    assert_eq!(err.reason(), &AddressErrorKind::NonAsciiLocalPart);
    assert_eq!(err.position(), 0);
}

#[test]
fn a_labels_to_unicode_for_display() {
    let m = parse_mailbox("user@xn--bcher-kva.example").unwrap();
    assert!(m.is_ascii());
    assert_eq!(m.domain_unicode().as_deref(), Some("bücher.example"));
    // Other labels keep their case; A-labels are recognized in any case.
    let m = parse_mailbox("user@XN--BCHER-KVA.Example").unwrap();
    assert_eq!(m.domain_unicode().as_deref(), Some("bücher.Example"));
    // A broken A-label is shown as written rather than garbled.
    let m = parse_mailbox("user@xn--zz.example").unwrap();
    assert_eq!(m.domain_unicode().as_deref(), Some("xn--zz.example"));
    // Unicode domains stay as they are; round trip through ASCII.
    let m = parse_mailbox("user@bücher.example").unwrap();
    assert_eq!(m.domain_unicode().as_deref(), Some("bücher.example"));
    let ascii = m.addr_spec_ascii().unwrap();
    let back = parse_mailbox(&ascii).unwrap();
    assert_eq!(back.domain_unicode(), m.domain_unicode());
}

#[test]
fn invalid_idn_is_an_error_naming_the_domain() {
    for (domain, position) in [
        // A private-use code point.
        ("ok.b\u{E000}d.example", 3),
        // A combining mark cannot start a label.
        ("\u{301}a.example", 0),
        // A non-ASCII domain with a broken A-label.
        ("bücher.xn--zz", 8),
        // Full-width `＠` maps to `@`: that would change the address.
        ("ex\u{FF20}mple.com", 0),
        // Ideographic space maps to a space.
        ("a\u{3000}b.com", 0),
    ] {
        let m = parse_mailbox(&format!("user@{domain}")).unwrap();
        let err = m.domain_ascii().unwrap_err();
        assert_eq!(err.reason(), &AddressErrorKind::InvalidIdn, "{domain:?}");
        assert_eq!(err.input(), domain);
        assert_eq!(err.position(), position, "{domain:?}");
        assert!(err.to_string().contains(&format!("{domain:?}")), "{err}");
        assert_eq!(m.addr_spec_ascii().unwrap_err(), err);
    }
    // A non-ASCII domain literal has no ASCII form either.
    let m = parse_mailbox("user@[bü]").unwrap();
    let err = m.addr_spec_ascii().unwrap_err();
    assert_eq!(
        (err.input(), err.position(), err.reason()),
        ("[bü]", 2, &AddressErrorKind::InvalidIdn)
    );
}
