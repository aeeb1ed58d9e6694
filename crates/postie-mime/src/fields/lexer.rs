//! The lexical pieces of RFC 5322 §3.2 that the field parsers share:
//! folding white space, comments (nested, with quoted-pairs),
//! quoted-strings and runs of one character class (atoms, tokens, words,
//! digits).
//!
//! Addresses, dates and MIME parameters read the same pieces with
//! different strictness ([`Strictness`]), because they serve different
//! ends: an address is written back and may go into an SMTP command, so
//! what could not be written back safely is refused; a date only has to be
//! understood; a content type read from the wild must be understood
//! whatever it holds. The differences are kept here, in one place, rather
//! than in three lexers that each spell them out.
//!
//! Positions are byte offsets into the whole input, and the cursor only
//! moves by whole characters, so it always sits on a char boundary; every
//! access still goes through `str::get`, so a mistake cannot panic.

use std::ops::Range;

/// How strictly the pieces are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strictness {
    /// Addresses. Only a CRLF followed by a space or tab folds, between
    /// tokens and inside comments and quoted-strings alike (only the CRLF
    /// is consumed: the space or tab after it is content where content is
    /// kept); any other CR or LF is an error, since header injection hides
    /// in bare line breaks. A control character other than TAB is an
    /// error anywhere in a comment or quoted-string, quoted or not. An
    /// unclosed comment or quoted-string is an error.
    Strict,
    /// Dates. Between tokens, a line break (CRLF, or a bare LF as stored
    /// mail has it) must be followed by a space or tab or end the input;
    /// a lone CR is an error. What a comment holds is not looked at, but
    /// it must close.
    Folding,
    /// Content-Type and Content-Disposition, read from the wild. Every CR
    /// and LF is white space; inside a quoted-string they are dropped. A
    /// lone `\` at the very end of a quoted-string is kept as text. An
    /// unclosed comment or quoted-string runs to the end of the input (the
    /// error says so, and the cursor is left there).
    Tolerant,
}

/// Why a piece could not be read; `at` is a byte offset into the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LexError {
    /// Where: the opening `(` or `"` for an unclosed piece, else the
    /// offending character.
    pub(crate) at: usize,
    /// What.
    pub(crate) kind: LexErrorKind,
}

/// What stopped the lexer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LexErrorKind {
    /// A comment without its closing `)`.
    UnclosedComment,
    /// A quoted-string without its closing `"`.
    UnclosedQuote,
    /// A CR or LF that does not fold.
    BareLineBreak,
    /// A control character ([`Strictness::Strict`] only).
    Control(char),
}

/// A cursor over a field value, bounded to `input[..end]`.
#[derive(Clone, Debug)]
pub(crate) struct Lexer<'a> {
    input: &'a str,
    /// Where the cursor stands: a byte offset into `input`, on a char
    /// boundary.
    pub(crate) pos: usize,
    end: usize,
    strictness: Strictness,
}

impl<'a> Lexer<'a> {
    /// A lexer over the whole of `input`.
    pub(crate) fn new(input: &'a str, strictness: Strictness) -> Self {
        Self::bounded(input, 0..input.len(), strictness)
    }

    /// A lexer that sees `range` of `input` only (one member of a list),
    /// while its positions stay offsets into the whole input.
    pub(crate) fn bounded(input: &'a str, range: Range<usize>, strictness: Strictness) -> Self {
        Self {
            input,
            pos: range.start,
            end: range.end,
            strictness,
        }
    }

    /// The whole input, beyond the bound too (for error messages).
    pub(crate) fn input(&self) -> &'a str {
        self.input
    }

    /// What is left before the bound.
    pub(crate) fn rest(&self) -> &'a str {
        self.input.get(self.pos..self.end).unwrap_or_default()
    }

    /// The next character, if any before the bound.
    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// The next byte, if any before the bound (for parsers whose syntax is
    /// ASCII).
    pub(crate) fn peek_byte(&self) -> Option<u8> {
        self.rest().as_bytes().first().copied()
    }

    /// Consumes and returns the next character.
    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Consumes `expected` if it is next.
    pub(crate) fn eat(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.pos += expected.len_utf8();
            true
        } else {
            false
        }
    }

    /// Consumes the run of characters of `class` at the cursor (an atom, a
    /// token, a word, digits), maybe empty. `class` sees each character
    /// once, in order, so it may keep state (what came before).
    pub(crate) fn run(&mut self, mut class: impl FnMut(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&mut class) {
            self.bump();
        }
        self.input.get(start..self.pos).unwrap_or_default()
    }

    fn error(&self, at: usize, kind: LexErrorKind) -> LexError {
        LexError { at, kind }
    }

    /// Consumes one unit of folding white space if the cursor is on one;
    /// whether it did. A space or tab is one unit; a line break is one
    /// unit of its own, without the space or tab that must follow it
    /// (left for the caller, who may keep it as content). What folds
    /// depends on the [`Strictness`].
    pub(crate) fn fws(&mut self) -> Result<bool, LexError> {
        let rest = self.rest().as_bytes();
        let len = match (self.strictness, rest) {
            (_, [b' ' | b'\t', ..]) => 1,
            (Strictness::Tolerant, [b'\r' | b'\n', ..]) => 1,
            (Strictness::Strict, [b'\r', b'\n', b' ' | b'\t', ..]) => 2,
            (Strictness::Strict, [b'\r' | b'\n', ..]) => {
                return Err(self.error(self.pos, LexErrorKind::BareLineBreak));
            }
            (Strictness::Folding, [b'\r' | b'\n', ..]) => {
                let len = match rest {
                    [b'\r', b'\n', ..] => 2,
                    [b'\n', ..] => 1,
                    _ => return Err(self.error(self.pos, LexErrorKind::BareLineBreak)),
                };
                match rest.get(len) {
                    Some(b' ' | b'\t') | None => len,
                    Some(_) => return Err(self.error(self.pos, LexErrorKind::BareLineBreak)),
                }
            }
            _ => return Ok(false),
        };
        self.pos += len;
        Ok(true)
    }

    /// Skips CFWS: white space, folding and comments; whether there was
    /// any. The text of each comment is pushed to `comments` when given.
    pub(crate) fn cfws(
        &mut self,
        mut comments: Option<&mut Vec<String>>,
    ) -> Result<bool, LexError> {
        let mut skipped = false;
        loop {
            if self.peek() == Some('(') {
                match comments.as_deref_mut() {
                    Some(comments) => {
                        let mut text = String::new();
                        self.comment(Some(&mut text))?;
                        comments.push(text);
                    }
                    None => self.comment(None)?,
                }
            } else if !self.fws()? {
                return Ok(skipped);
            }
            skipped = true;
        }
    }

    /// A comment, cursor on its `(`. Its text, with quoted-pairs unescaped
    /// and the parentheses of nested comments kept, is pushed to `text`
    /// when given. Nesting is counted rather than recursed into, so no
    /// input can overflow the stack.
    pub(crate) fn comment(&mut self, mut text: Option<&mut String>) -> Result<(), LexError> {
        let open = self.pos;
        self.bump();
        let mut depth: usize = 1;
        let strict = self.strictness == Strictness::Strict;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(open, LexErrorKind::UnclosedComment));
            };
            let kept = match c {
                '(' => {
                    depth += 1;
                    self.bump();
                    Some(c)
                }
                ')' => {
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                    Some(c)
                }
                '\\' => {
                    self.bump();
                    Some(self.quoted_pair(open, LexErrorKind::UnclosedComment)?)
                }
                '\r' | '\n' if strict => {
                    self.fws()?;
                    None
                }
                c if strict && c.is_control() && c != '\t' => {
                    return Err(self.error(self.pos, LexErrorKind::Control(c)));
                }
                c => {
                    self.bump();
                    Some(c)
                }
            };
            if let (Some(text), Some(c)) = (text.as_deref_mut(), kept) {
                text.push(c);
            }
        }
    }

    /// A quoted-string, cursor on its `"`: its contents, quoted-pairs
    /// unescaped and folding line breaks removed, are pushed to `text`
    /// (also when it does not close: a tolerant caller keeps them).
    pub(crate) fn quoted_string(&mut self, text: &mut String) -> Result<(), LexError> {
        let open = self.pos;
        self.bump();
        let strict = self.strictness == Strictness::Strict;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(open, LexErrorKind::UnclosedQuote));
            };
            match c {
                '"' => {
                    self.bump();
                    return Ok(());
                }
                '\\' => {
                    self.bump();
                    text.push(self.quoted_pair(open, LexErrorKind::UnclosedQuote)?);
                }
                '\r' | '\n' if strict => {
                    self.fws()?;
                }
                // Folding inside a quoted-string is not part of the value.
                '\r' | '\n' => {
                    self.bump();
                }
                c if strict && c.is_control() && c != '\t' => {
                    return Err(self.error(self.pos, LexErrorKind::Control(c)));
                }
                c => {
                    text.push(c);
                    self.bump();
                }
            }
        }
    }

    /// The character after a `\` in a quoted-string or comment that opened
    /// at `open`. A strict reader takes anything but a line break or a
    /// control (TAB aside); at the very end the piece is `unclosed`, but a
    /// tolerant reader first keeps the `\` itself (the cursor stays at the
    /// end, so the piece then ends unclosed).
    fn quoted_pair(&mut self, open: usize, unclosed: LexErrorKind) -> Result<char, LexError> {
        match self.peek() {
            None if self.strictness == Strictness::Tolerant => Ok('\\'),
            None => Err(self.error(open, unclosed)),
            Some('\r' | '\n') if self.strictness == Strictness::Strict => {
                Err(self.error(self.pos, LexErrorKind::BareLineBreak))
            }
            Some(c) if self.strictness == Strictness::Strict && c.is_control() && c != '\t' => {
                Err(self.error(self.pos, LexErrorKind::Control(c)))
            }
            Some(c) => {
                self.bump();
                Ok(c)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Strictness; 3] = [
        Strictness::Strict,
        Strictness::Folding,
        Strictness::Tolerant,
    ];

    fn fws(input: &str, strictness: Strictness) -> Result<usize, LexErrorKind> {
        let mut lex = Lexer::new(input, strictness);
        match lex.fws() {
            Ok(_) => Ok(lex.pos),
            Err(e) => Err(e.kind),
        }
    }

    #[test]
    fn what_folds_at_each_strictness() {
        use Strictness::*;
        let bare = Err(LexErrorKind::BareLineBreak);
        // (input, strict, folding, tolerant): where the cursor ends up.
        let table = [
            (" x", Ok(1), Ok(1), Ok(1)),
            ("\r\n x", Ok(2), Ok(2), Ok(1)),
            ("\n x", bare, Ok(1), Ok(1)),
            ("\r\n", bare, Ok(2), Ok(1)),
            ("\r\nx", bare, bare, Ok(1)),
            ("\rx", bare, bare, Ok(1)),
            ("x", Ok(0), Ok(0), Ok(0)),
        ];
        for (input, strict, folding, tolerant) in table {
            assert_eq!(fws(input, Strict), strict, "{input:?}");
            assert_eq!(fws(input, Folding), folding, "{input:?}");
            assert_eq!(fws(input, Tolerant), tolerant, "{input:?}");
        }
    }

    #[test]
    fn comments_nest_and_unescape() {
        for strictness in ALL {
            let mut lex = Lexer::new("(a(b)\\)c) rest", strictness);
            let mut comments = Vec::new();
            assert_eq!(lex.cfws(Some(&mut comments)), Ok(true));
            assert_eq!(comments, ["a(b))c"]);
            assert_eq!(lex.rest(), "rest");
        }
    }

    #[test]
    fn only_the_strict_reader_looks_inside_a_comment() {
        let input = "(a\u{1}b\nc)";
        let mut lex = Lexer::new(input, Strictness::Strict);
        assert_eq!(
            lex.comment(None),
            Err(LexError {
                at: 2,
                kind: LexErrorKind::Control('\u{1}')
            })
        );
        for strictness in [Strictness::Folding, Strictness::Tolerant] {
            let mut lex = Lexer::new(input, strictness);
            assert_eq!(lex.comment(None), Ok(()));
            assert_eq!(lex.pos, input.len());
        }
    }

    #[test]
    fn an_unclosed_piece_runs_to_the_end_and_says_where_it_opened() {
        for strictness in ALL {
            let mut lex = Lexer::new("x (a(b)", strictness);
            lex.bump();
            assert_eq!(
                lex.cfws(None),
                Err(LexError {
                    at: 2,
                    kind: LexErrorKind::UnclosedComment
                })
            );
            assert_eq!(lex.pos, 7);
        }
        let mut text = String::new();
        let mut lex = Lexer::new("\"ab\\", Strictness::Tolerant);
        let unclosed = Err(LexError {
            at: 0,
            kind: LexErrorKind::UnclosedQuote,
        });
        assert_eq!(lex.quoted_string(&mut text), unclosed);
        // A tolerant reader keeps the lone `\` at the very end.
        assert_eq!(text, "ab\\");
        let mut text = String::new();
        let mut lex = Lexer::new("\"ab\\", Strictness::Strict);
        assert_eq!(lex.quoted_string(&mut text), unclosed);
        assert_eq!(text, "ab");
    }

    #[test]
    fn quoted_strings_drop_folding_and_the_strict_reader_refuses_controls() {
        for strictness in ALL {
            let mut text = String::new();
            let mut lex = Lexer::new("\"a\\\"b\r\n c\" d", strictness);
            assert_eq!(lex.quoted_string(&mut text), Ok(()));
            assert_eq!(text, "a\"b c");
            assert_eq!(lex.rest(), " d");
        }
        let mut text = String::new();
        let mut lex = Lexer::new("\"a\u{1}\"", Strictness::Strict);
        assert_eq!(
            lex.quoted_string(&mut text),
            Err(LexError {
                at: 2,
                kind: LexErrorKind::Control('\u{1}')
            })
        );
        let mut text = String::new();
        let mut lex = Lexer::new("\"a\u{1}\"", Strictness::Tolerant);
        assert_eq!(lex.quoted_string(&mut text), Ok(()));
        assert_eq!(text, "a\u{1}");
    }

    #[test]
    fn a_bounded_lexer_stops_at_its_bound_but_reports_whole_input_offsets() {
        let input = "a, (b) c";
        let mut lex = Lexer::bounded(input, 3..6, Strictness::Strict);
        assert_eq!(lex.cfws(None), Ok(true));
        assert_eq!(lex.pos, 6);
        assert_eq!(lex.peek(), None);
        assert_eq!(lex.input(), input);
        let mut lex = Lexer::new("abc12;", Strictness::Tolerant);
        assert_eq!(lex.run(|c| c.is_ascii_alphabetic()), "abc");
        assert_eq!(lex.run(|c| c.is_ascii_digit()), "12");
        assert!(lex.eat(';'));
        assert_eq!(lex.peek_byte(), None);
    }
}
