//! The mail transaction: MAIL with its parameters, RCPT, DATA or BDAT, LMTP replies, RSET.

use super::*;

impl Delivery {
    /// MAIL FROM, after the size and SMTPUTF8 checks.
    pub(super) fn start_mail(&mut self, now: Instant) {
        let wants_size = self.capabilities.size().is_some()
            || (self.config.settings.chunking
                && !self.config.settings.lmtp
                && self.capabilities.has("CHUNKING"));
        if self.config.size.is_none() && self.config.measure_on_demand && wants_size {
            self.state = State::Measuring;
            return;
        }
        if self.config.settings.require_tls
            && (self.tls.is_none() || !self.capabilities.has("REQUIRETLS"))
        {
            // RFC 8689 §4.1: such a server must not get the message.
            self.record_attempt(Stage::Mail, Cause::RequireTlsNotOffered);
            self.state = State::Closing(After::NextServer);
            return;
        }
        let bdat = self.config.settings.chunking
            && !self.config.settings.lmtp
            && self.config.size.is_some()
            && self.capabilities.has("CHUNKING");
        let binary_mime = self.config.binary
            && !self.config.repaired
            && bdat
            && self.capabilities.has("BINARYMIME");
        let needs_rewrite = (self.config.binary && !binary_mime)
            || (self.config.eight_bit && !binary_mime && !self.capabilities.has("8BITMIME"));
        self.seven_bit_body = needs_rewrite && self.config.seven_bit_size.is_some();
        let size = if self.seven_bit_body {
            self.config.seven_bit_size
        } else {
            self.config.size
        };
        self.bdat_size = if bdat { size } else { None };
        if let (Some(size), Some(limit)) = (size, self.capabilities.size()) {
            if limit > 0 && size > limit {
                self.fail_transaction(Stage::Mail, Cause::TooLarge { size, limit }, now);
                return;
            }
        }
        let mut needs_utf8 = std::iter::once(&self.config.reverse_path)
            .chain(&self.config.recipients)
            .any(|p| !p.is_ascii());
        self.from_path = self.config.reverse_path.clone();
        self.paths = self.config.recipients.clone();
        if needs_utf8 && !self.capabilities.has("SMTPUTF8") {
            // Without SMTPUTF8, IDN domains go as punycode; a non-ASCII local
            // part cannot go at all (RFC 6531 §3.2).
            let ascii = |path: &String| -> Result<String, String> {
                if path.is_ascii() {
                    return Ok(path.clone());
                }
                self.config
                    .ascii_forms
                    .iter()
                    .find(|(unicode, _)| unicode == path)
                    .map(|(_, ascii)| ascii.clone())
                    .ok_or_else(|| path.clone())
            };
            let converted = ascii(&self.config.reverse_path).and_then(|from| {
                let paths: Result<Vec<String>, String> =
                    self.config.recipients.iter().map(ascii).collect();
                paths.map(|paths| (from, paths))
            });
            match converted {
                Ok((from, paths)) => {
                    self.from_path = from;
                    self.paths = paths;
                    needs_utf8 = false;
                }
                Err(path) => {
                    self.fail_transaction(Stage::Mail, Cause::NeedsSmtpUtf8(path), now);
                    return;
                }
            }
        }
        let mut command = format!("MAIL FROM:<{}>", self.from_path);
        if let (Some(size), Some(_)) = (size, self.capabilities.size()) {
            command.push_str(&format!(" SIZE={size}"));
        }
        if binary_mime {
            command.push_str(" BODY=BINARYMIME");
        } else if self.seven_bit_body {
            self.trace(
                TraceKind::Info,
                "the server cannot take the message's 8-bit or binary data as it is: those parts go re-encoded"
                    .to_owned(),
            );
        } else if self.config.eight_bit && self.capabilities.has("8BITMIME") && !self.config.binary
        {
            command.push_str(" BODY=8BITMIME");
        } else if self.config.eight_bit || self.config.binary {
            // No rewrite was given (a caller of the core that has none):
            // the data goes as it is, as most clients send it.
            if self.config.eight_bit && self.capabilities.has("8BITMIME") {
                command.push_str(" BODY=8BITMIME");
            }
            self.trace(
                TraceKind::Info,
                "the message has 8-bit or binary data the server cannot take as it is".to_owned(),
            );
        }
        if needs_utf8 {
            command.push_str(" SMTPUTF8");
        }
        if self.config.settings.require_tls {
            command.push_str(" REQUIRETLS");
        }
        self.utf8_transaction = needs_utf8;
        self.dsn_sent = false;
        if let Some(dsn) = &self.config.dsn {
            if self.capabilities.has("DSN") {
                command.push_str(&dsn.mail_params());
                self.dsn_sent = true;
            } else {
                // A report is a request, not a condition of delivery.
                self.trace(
                    TraceKind::Info,
                    "the server does not offer DSN: sent without the DSN parameters".to_owned(),
                );
                tracing::warn!(target: "postie_smtp", "the server does not offer DSN: sent without the DSN parameters");
            }
        }
        self.send(&command, Expect::Mail, now);
        if self.config.settings.pipelining && self.capabilities.has("PIPELINING") {
            // RFC 2920: MAIL and every RCPT in one write; DATA too when
            // partial delivery is allowed (all-or-nothing must see every
            // RCPT reply before committing to DATA). With one recipient
            // the two modes are the same, so DATA goes too: a refused
            // recipient leaves no transaction for it (the server refuses
            // DATA; one that says 354 anyway gets no data), and every
            // message to one recipient saves a round trip. Every reply is
            // read and matched to its command, refusals included.
            self.draining = false;
            for index in 0..self.paths.len() {
                let command = self.rcpt_command(index);
                self.queue_command(&command, Expect::Rcpt(index));
            }
            let partial_allowed = self.config.settings.at_least_one || self.paths.len() == 1;
            if partial_allowed && self.bdat_size.is_none() {
                self.queue_command("DATA", Expect::Data);
            }
        }
    }

    /// Adds a command to the batch being written; its reply is due after
    /// the ones before it.
    pub(super) fn queue_command(&mut self, command: &str, expect: Expect) {
        self.trace(TraceKind::Sent, command.to_owned());
        self.out.extend_from_slice(command.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.due.push_back(expect);
    }

    /// Waits for the next reply due in a pipelined batch.
    pub(super) fn next_due(&mut self, now: Instant) {
        if let Some(expect) = self.due.pop_front() {
            self.expect(expect, now, self.config.timeouts.command);
        }
    }

    pub(super) fn send_rcpt(&mut self, index: usize, now: Instant) {
        let command = self.rcpt_command(index);
        self.send(&command, Expect::Rcpt(index), now);
    }

    /// RCPT for recipient `index`, with its DSN parameters.
    pub(super) fn rcpt_command(&self, index: usize) -> String {
        let address = self.paths.get(index).map_or("", String::as_str);
        format!("RCPT TO:<{address}>{}", self.rcpt_params(index))
    }

    /// The EHLO command, or LHLO for LMTP.
    pub(super) fn hello(&self) -> String {
        let verb = if self.config.settings.lmtp {
            "LHLO"
        } else {
            "EHLO"
        };
        format!("{verb} {}", self.config.client)
    }

    /// LMTP (RFC 2033 §4.2): after the data, one reply per accepted
    /// recipient, in order. Delivered to some: sent, the others refused;
    /// to none: refused.
    pub(super) fn on_lmtp_reply(&mut self, reply: Reply, now: Instant) {
        self.lmtp_replies.push(reply);
        self.lmtp_pending = self.lmtp_pending.saturating_sub(1);
        if self.lmtp_pending > 0 {
            self.expect(Expect::EndOfData, now, self.config.timeouts.end_of_data);
            return;
        }
        let mut delivered = Vec::new();
        let mut last_ok = None;
        let accepted = std::mem::take(&mut self.accepted);
        for (address, reply) in accepted.into_iter().zip(self.lmtp_replies.drain(..)) {
            if reply.is_positive() {
                delivered.push(address);
                last_ok = Some(reply);
            } else {
                self.refused.push(Refusal::new(address, reply));
            }
        }
        self.result = Some(match last_ok {
            Some(reply) => Ok(Sent {
                server: self.current_server(),
                reply,
                refused: std::mem::take(&mut self.refused),
                accepted: delivered,
                tls: self.tls.clone(),
                auth: self.authenticated.clone(),
                dsn: self.dsn_sent,
            }),
            None => Err(Error::Refused {
                server: self.current_server(),
                refused: std::mem::take(&mut self.refused),
            }),
        });
        self.quit(now);
    }

    /// NOTIFY and ORCPT for recipient `index`, when DSN is in use.
    pub(super) fn rcpt_params(&self, index: usize) -> String {
        match (&self.config.dsn, self.dsn_sent) {
            (Some(dsn), true) => {
                let original = self.config.recipients.get(index).map_or("", String::as_str);
                dsn.rcpt_params(index, original, self.utf8_transaction)
            }
            _ => String::new(),
        }
    }

    /// The at-least-one decision (tcllib §1.7): DATA when some recipient
    /// was accepted and none refused, or when partial delivery is allowed.
    pub(super) fn after_recipients(&mut self, now: Instant) {
        let go = !self.accepted.is_empty()
            && (self.refused.is_empty() || self.config.settings.at_least_one);
        if let (true, Some(size)) = (go, self.bdat_size) {
            // RFC 3030: the size up front, the data unstuffed, no 354 to
            // wait for; the driver writes the command with the data.
            self.trace(TraceKind::Sent, format!("BDAT {size} LAST"));
            self.state = State::SendingBody;
        } else if go {
            self.send("DATA", Expect::Data, now);
        } else {
            self.result = Some(Err(Error::Refused {
                server: self.current_server(),
                refused: std::mem::take(&mut self.refused),
            }));
            self.send("RSET", Expect::Rset, now);
        }
    }
}
