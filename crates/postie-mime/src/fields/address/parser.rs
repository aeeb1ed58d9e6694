//! The parser: the shared lexer's cursor plus one function per grammar
//! rule.

use super::*;
use crate::fields::lexer::{LexError, LexErrorKind, Lexer, Strictness};

/// One word or dot of a phrase or local part, as lexed.
pub(super) enum Item {
    /// An atom or the decoded contents of a quoted-string.
    Word {
        text: String,
        /// Byte offset where the word starts, for error messages.
        pos: usize,
        /// Whether white space or a comment came before it.
        space_before: bool,
    },
    /// A `.`: part of a dot-atom, or an obsolete phrase like `Joe Q. Public`.
    Dot { space_before: bool },
}

/// The words and dots before a `<`, `@`, `:` or the end of a mailbox, and the
/// comments that came after the last of them.
pub(super) struct Phrase {
    pub(super) items: Vec<Item>,
    pub(super) trailing_comments: Vec<String>,
}

/// What one stretch of CFWS held.
pub(super) struct Cfws {
    /// Whether there was anything at all (white space or comments).
    pub(super) skipped: bool,
    /// The text of each top-level comment, quoted-pairs unescaped.
    pub(super) comments: Vec<String>,
}

/// What the detailed mode keeps of one mailbox beyond the [`Mailbox`]
/// itself, for [`ParsedAddress`].
#[derive(Default)]
pub(super) struct Details {
    /// Every comment met, in order, quoted-pairs unescaped.
    pub(super) comments: Vec<String>,
    /// The obsolete source route, `@a,@b`, normalized.
    pub(super) route: Option<String>,
    /// The display name proper, not one taken from a comment.
    pub(super) phrase: Option<String>,
}

/// A cursor over the input: the shared [`Lexer`], read strictly (an
/// address is written back, and may go into an SMTP command), and what the
/// detailed mode keeps.
///
/// The parser sees the input up to the lexer's bound only (one member of a
/// list, for [`parse_address_details`]), while positions in errors stay
/// offsets into the whole input.
pub(super) struct Parser<'a> {
    pub(super) lex: Lexer<'a>,
    /// `Some` in the detailed mode: comments, route and phrase are kept
    /// there as they are met.
    pub(super) details: Option<Details>,
}

impl<'a> Parser<'a> {
    pub(super) fn new(input: &'a str) -> Parser<'a> {
        Parser {
            lex: Lexer::new(input, Strictness::Strict),
            details: None,
        }
    }

    /// A parser in the detailed mode over `range` of `input`.
    pub(super) fn detailed(input: &'a str, range: Range<usize>) -> Parser<'a> {
        Parser {
            lex: Lexer::bounded(input, range, Strictness::Strict),
            details: Some(Details::default()),
        }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.lex.peek()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        self.lex.bump()
    }

    pub(super) fn eat(&mut self, expected: char) -> bool {
        self.lex.eat(expected)
    }

    pub(super) fn char_at(&self, pos: usize) -> char {
        self.lex
            .input()
            .get(pos..)
            .and_then(|s| s.chars().next())
            .unwrap_or_default()
    }

    pub(super) fn error_at(&self, position: usize, reason: AddressErrorKind) -> AddressError {
        AddressError::new(self.lex.input(), position, reason)
    }

    pub(super) fn error_here(&self, reason: AddressErrorKind) -> AddressError {
        self.error_at(self.lex.pos, reason)
    }

    /// The error for what stopped the lexer.
    fn lex_error(&self, e: LexError) -> AddressError {
        let reason = match e.kind {
            LexErrorKind::UnclosedComment => AddressErrorKind::UnclosedComment,
            LexErrorKind::UnclosedQuote => AddressErrorKind::UnclosedQuote,
            LexErrorKind::BareLineBreak => AddressErrorKind::BareLineBreak,
            LexErrorKind::Control(c) => AddressErrorKind::ControlCharacter(c),
        };
        self.error_at(e.at, reason)
    }

    /// The error for whatever is at the cursor when `expected` should be.
    /// At the end of a member that is not the end of the input, that is the
    /// separator that ended the member.
    pub(super) fn unexpected(&self, expected: &'static str) -> AddressError {
        let next = self
            .peek()
            .or_else(|| self.lex.input().get(self.lex.pos..)?.chars().next());
        match next {
            None => self.error_here(AddressErrorKind::UnexpectedEnd { expected }),
            Some('\r' | '\n') => self.error_here(AddressErrorKind::BareLineBreak),
            Some(c) => bad_char(self.lex.input(), self.lex.pos, c, expected),
        }
    }

    /// The error for something other than a comma after a whole address.
    pub(super) fn junk(&self) -> AddressError {
        match self.peek() {
            Some(c) if !c.is_control() => self.error_here(AddressErrorKind::JunkAfterAddress(c)),
            _ => self.unexpected("',' or the end"),
        }
    }

    /// Consumes one unit of folding white space if the cursor is on one (see
    /// [`Strictness::Strict`]: a bare CR or LF is an error).
    pub(super) fn fws(&mut self) -> Result<bool, AddressError> {
        self.lex.fws().map_err(|e| self.lex_error(e))
    }

    /// Skips CFWS: white space, folding and comments, keeping the comments'
    /// text for the "trailing comment as display name" rule.
    pub(super) fn skip_cfws(&mut self) -> Result<Cfws, AddressError> {
        let mut comments = Vec::new();
        let skipped = self
            .lex
            .cfws(Some(&mut comments))
            .map_err(|e| self.lex_error(e))?;
        if let Some(details) = &mut self.details {
            details.comments.extend_from_slice(&comments);
        }
        Ok(Cfws { skipped, comments })
    }

    /// A quoted-string, cursor on its `"`; returns the contents with
    /// quoted-pairs unescaped and folding CRLFs removed.
    pub(super) fn quoted_string(&mut self) -> Result<String, AddressError> {
        let mut text = String::new();
        self.lex
            .quoted_string(&mut text)
            .map_err(|e| self.lex_error(e))?;
        Ok(text)
    }

    /// A run of atext (possibly empty).
    pub(super) fn atom(&mut self) -> &'a str {
        self.lex.run(is_atext)
    }

    /// Words (atoms, quoted-strings) and dots up to the first thing that is
    /// neither. The same lexing serves a display name, a group name and a
    /// local part, since which one it was is only known from what follows
    /// (`<`, `:` or `@`).
    pub(super) fn phrase(&mut self) -> Result<Phrase, AddressError> {
        let mut items = Vec::new();
        loop {
            let cfws = self.skip_cfws()?;
            let space_before = cfws.skipped;
            let pos = self.lex.pos;
            match self.peek() {
                Some('"') => {
                    let text = self.quoted_string()?;
                    items.push(Item::Word {
                        text,
                        pos,
                        space_before,
                    });
                }
                Some('.') => {
                    self.bump();
                    items.push(Item::Dot { space_before });
                }
                Some(c) if is_atext(c) => {
                    let text = self.atom().to_owned();
                    items.push(Item::Word {
                        text,
                        pos,
                        space_before,
                    });
                }
                _ => {
                    return Ok(Phrase {
                        items,
                        trailing_comments: cfws.comments,
                    })
                }
            }
        }
    }

    /// One member of a list in the detailed mode, the parser bounded to it:
    /// `None` when it is empty (white space and comments only), else the
    /// mailbox as a [`ParsedAddress`]. A group is reported as `group_error`.
    pub(super) fn member_details(
        &mut self,
        group_error: AddressErrorKind,
        group: Option<&str>,
    ) -> Result<Option<ParsedAddress>, AddressError> {
        self.skip_cfws()?;
        if self.peek().is_none() {
            return Ok(None);
        }
        let mailbox = self.mailbox(group_error)?;
        if self.peek().is_some() {
            return Err(self.junk());
        }
        let details = self.details.take().unwrap_or_default();
        Ok(Some(parsed_address(mailbox, details, group)))
    }

    /// A group's name, the parser bounded to what comes before its `:`.
    pub(super) fn group_name(&mut self) -> Result<String, AddressError> {
        let start = self.lex.pos;
        let phrase = self.phrase()?;
        if self.peek().is_some() {
            // Not a phrase: report what the strict parser would, which reads
            // it as a mailbox followed by junk.
            self.lex.pos = start;
            self.mailbox(AddressErrorKind::GroupNotAllowed)?;
            return Err(match self.peek() {
                Some(_) => self.junk(),
                None => self.error_here(AddressErrorKind::JunkAfterAddress(':')),
            });
        }
        if phrase.items.is_empty() {
            return Err(self.unexpected("a group name before ':'"));
        }
        // A group name may legally be `""`; keep it rather than refuse.
        Ok(phrase_text(&phrase.items).unwrap_or_default())
    }

    /// address-list: addresses separated by commas; empty members skipped.
    pub(super) fn address_list(&mut self) -> Result<Vec<Address>, AddressError> {
        let mut list = Vec::new();
        loop {
            self.skip_cfws()?;
            match self.peek() {
                None => return Ok(list),
                Some(',') => {
                    self.bump();
                    continue;
                }
                Some(_) => {}
            }
            list.push(self.address()?);
            // `address` has consumed the CFWS after the address.
            match self.peek() {
                None => return Ok(list),
                Some(',') => {
                    self.bump();
                }
                Some(_) => return Err(self.junk()),
            }
        }
    }

    /// address: a mailbox or a group; consumes trailing CFWS.
    pub(super) fn address(&mut self) -> Result<Address, AddressError> {
        let phrase = self.phrase()?;
        if self.peek() == Some(':') {
            if phrase.items.is_empty() {
                return Err(self.unexpected("a group name before ':'"));
            }
            return self.group(&phrase.items);
        }
        self.mailbox_rest(phrase).map(Address::Mailbox)
    }

    /// A mailbox where a group is not allowed; a group is reported as
    /// `group_error`. Consumes trailing CFWS.
    pub(super) fn mailbox(
        &mut self,
        group_error: AddressErrorKind,
    ) -> Result<Mailbox, AddressError> {
        let phrase = self.phrase()?;
        if self.peek() == Some(':') {
            return Err(self.error_here(group_error));
        }
        self.mailbox_rest(phrase)
    }

    /// group: `name : [members] ; [CFWS]`, cursor on the `:`.
    pub(super) fn group(&mut self, name_items: &[Item]) -> Result<Address, AddressError> {
        // A group name may legally be `""`; keep it rather than refuse.
        let name = phrase_text(name_items).unwrap_or_default();
        self.bump();
        let mut members = Vec::new();
        loop {
            self.skip_cfws()?;
            match self.peek() {
                // Tolerated: a group whose `;` is missing at the very end.
                None => break,
                Some(';') => {
                    self.bump();
                    self.skip_cfws()?;
                    break;
                }
                Some(',') => {
                    self.bump();
                    continue;
                }
                Some(_) => {}
            }
            members.push(self.mailbox(AddressErrorKind::NestedGroup)?);
            match self.peek() {
                Some(',') => {
                    self.bump();
                }
                Some(';') | None => {}
                Some(_) => return Err(self.junk()),
            }
        }
        Ok(Address::Group { name, members })
    }

    /// The rest of a mailbox once its leading words are lexed: decides
    /// between name-addr (`<`), addr-spec (`@`) and a bare local part by
    /// what follows them. Consumes trailing CFWS.
    pub(super) fn mailbox_rest(&mut self, phrase: Phrase) -> Result<Mailbox, AddressError> {
        match self.peek() {
            Some('<') => {
                let name = phrase_text(&phrase.items);
                if let Some(details) = &mut self.details {
                    details.phrase.clone_from(&name);
                }
                let (local, domain) = self.angle_addr()?;
                let after = self.skip_cfws()?;
                let name = name.or_else(|| comment_name(&after.comments));
                Ok(Mailbox {
                    name,
                    local,
                    domain,
                })
            }
            Some('@') => {
                let local = self.local_part(&phrase.items)?;
                self.bump();
                let (domain, trailing) = self.domain()?;
                Ok(Mailbox {
                    name: comment_name(&trailing),
                    local,
                    domain: Some(domain),
                })
            }
            // No domain (`root`): allowed, the caller may add one.
            None | Some(',' | ';') if !phrase.items.is_empty() => {
                if has_adjacent_words(&phrase.items) {
                    // `Fred Smith` alone: a display name without an address.
                    return Err(self.unexpected("'<' after a display name"));
                }
                let local = self.local_part(&phrase.items)?;
                Ok(Mailbox {
                    name: comment_name(&phrase.trailing_comments),
                    local,
                    domain: None,
                })
            }
            _ if phrase.items.is_empty() => Err(self.unexpected("an address")),
            _ => Err(self.unexpected("'@' or '<'")),
        }
    }

    /// angle-addr, cursor on the `<`: `< [route] local [@ domain] >`.
    pub(super) fn angle_addr(&mut self) -> Result<(String, Option<String>), AddressError> {
        let open = self.lex.pos;
        self.bump();
        self.skip_cfws()?;
        if matches!(self.peek(), Some('@' | ',')) {
            self.route()?;
        }
        let phrase = self.phrase()?;
        let addr = match self.peek() {
            Some('@') => {
                let local = self.local_part(&phrase.items)?;
                self.bump();
                let (domain, _comments) = self.domain()?;
                (local, Some(domain))
            }
            Some('>') => (self.local_part(&phrase.items)?, None),
            None => return Err(self.error_at(open, AddressErrorKind::UnclosedAngle)),
            Some(_) => return Err(self.unexpected("'@' or '>'")),
        };
        match self.peek() {
            Some('>') => {
                self.bump();
                Ok(addr)
            }
            None => Err(self.error_at(open, AddressErrorKind::UnclosedAngle)),
            Some(_) => Err(self.unexpected("'>'")),
        }
    }

    /// obs-route, cursor on its first `@` or `,`: `@a.test,@b.test:`,
    /// checked and dropped (RFC 5321 §C says to ignore source routes); the
    /// detailed mode keeps it as `@a.test,@b.test`.
    pub(super) fn route(&mut self) -> Result<(), AddressError> {
        let mut route = String::new();
        loop {
            self.skip_cfws()?;
            if self.eat(',') {
                continue;
            }
            if self.eat('@') {
                let (domain, _comments) = self.domain()?;
                if !route.is_empty() {
                    route.push(',');
                }
                route.push('@');
                route.push_str(&domain);
                continue;
            }
            if self.eat(':') {
                if let Some(details) = &mut self.details {
                    details.route = Some(route);
                }
                return Ok(());
            }
            return Err(self.unexpected("':' after a source route"));
        }
    }

    /// The semantic local part from lexed items: words and dots joined, the
    /// white space and comments between them dropped (obs-local-part).
    /// Dots are taken as they come, so `foo.@x` and `a..b@x` (which real
    /// mail has) parse and are written back quoted; two words with nothing
    /// between them are an error. `at` is where to report an empty one.
    pub(super) fn local_part(&self, items: &[Item]) -> Result<String, AddressError> {
        let mut local = String::new();
        let mut after_word = false;
        let mut has_word = false;
        for item in items {
            match item {
                Item::Word { text, pos, .. } => {
                    if after_word {
                        let found = self.char_at(*pos);
                        return Err(bad_char(
                            self.lex.input(),
                            *pos,
                            found,
                            "'.' or '@' in a local part",
                        ));
                    }
                    // Only a TAB can get here (inside quotes); SMTP cannot
                    // carry it, so refuse it rather than pass it on.
                    if let Some(c) = text.chars().find(|c| c.is_control()) {
                        return Err(self.error_at(*pos, AddressErrorKind::ControlCharacter(c)));
                    }
                    local.push_str(text);
                    after_word = true;
                    has_word = true;
                }
                Item::Dot { .. } => {
                    local.push('.');
                    after_word = false;
                }
            }
        }
        if !has_word || local.is_empty() {
            let at = match items.first() {
                Some(Item::Word { pos, .. }) => *pos,
                _ => self.lex.pos,
            };
            return Err(self.error_at(at, AddressErrorKind::EmptyLocalPart));
        }
        Ok(local)
    }

    /// domain after the `@`: a dot-atom (with obsolete CFWS around the
    /// dots allowed and dropped) or a domain literal. Returns it with the
    /// comments that followed it.
    pub(super) fn domain(&mut self) -> Result<(String, Vec<String>), AddressError> {
        self.skip_cfws()?;
        if self.peek() == Some('[') {
            let literal = self.domain_literal()?;
            let after = self.skip_cfws()?;
            return Ok((literal, after.comments));
        }
        let mut domain = String::new();
        loop {
            let label = self.atom();
            if label.is_empty() {
                return Err(self.unexpected(if domain.is_empty() {
                    "a domain"
                } else {
                    "a domain label after '.'"
                }));
            }
            domain.push_str(label);
            let after = self.skip_cfws()?;
            if !self.eat('.') {
                return Ok((domain, after.comments));
            }
            domain.push('.');
            self.skip_cfws()?;
        }
    }

    /// domain-literal, cursor on the `[`: dtext with white space dropped.
    /// Quoted-pairs (obs-dtext) are refused: they cannot be written back in
    /// a form SMTP takes.
    pub(super) fn domain_literal(&mut self) -> Result<String, AddressError> {
        let open = self.lex.pos;
        self.bump();
        let mut literal = String::from("[");
        loop {
            match self.peek() {
                None => return Err(self.error_at(open, AddressErrorKind::UnclosedDomainLiteral)),
                Some(']') if literal.len() == 1 => {
                    return Err(self.unexpected("domain literal text"));
                }
                Some(']') => {
                    self.bump();
                    literal.push(']');
                    return Ok(literal);
                }
                Some(c) if is_dtext(c) => {
                    self.bump();
                    literal.push(c);
                }
                Some(_) => {
                    if !self.fws()? {
                        return Err(self.unexpected("domain literal text or ']'"));
                    }
                }
            }
        }
    }
}

/// The decoded text of a display name or group name: words as they are,
/// dots kept, one space wherever white space or a comment separated two
/// items (so `Joe Q. Public` comes back as written). Tabs become spaces;
/// `None` when empty.
pub(super) fn phrase_text(items: &[Item]) -> Option<String> {
    let mut out = String::new();
    for item in items {
        let (text, space_before) = match item {
            Item::Word {
                text, space_before, ..
            } => (text.as_str(), *space_before),
            Item::Dot { space_before } => (".", *space_before),
        };
        if space_before && !out.is_empty() {
            out.push(' ');
        }
        out.push_str(text);
    }
    let out = out.replace('\t', " ");
    (!out.is_empty()).then_some(out)
}

/// The display name taken from trailing comments (`a@b (Fred)`), joined by
/// spaces and trimmed; `None` when there are none or they are blank.
pub(super) fn comment_name(comments: &[String]) -> Option<String> {
    let joined = comments.join(" ").replace('\t', " ");
    let trimmed = joined.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

pub(super) fn has_adjacent_words(items: &[Item]) -> bool {
    items
        .windows(2)
        .any(|pair| matches!(pair, [Item::Word { .. }, Item::Word { .. }]))
}
