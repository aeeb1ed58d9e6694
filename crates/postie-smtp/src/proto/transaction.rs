//! The mail transaction: MAIL with its parameters, RCPT, DATA or BDAT, LMTP replies, RSET.

use super::*;

/// One mail transaction's state: created when MAIL is about to go out
/// (from its [`MailPlan`]) and replaced by the next one's, so nothing is
/// reset by hand between messages.
#[derive(Debug, Default)]
pub(super) struct Transaction {
    /// Recipients accepted and refused so far.
    pub(super) accepted: Vec<String>,
    pub(super) refused: Vec<Refusal>,
    /// Replies still due for commands already sent in a pipelined batch,
    /// after the one awaited now.
    pub(super) due: std::collections::VecDeque<Expect>,
    /// The transaction failed inside a pipelined batch: the replies still
    /// due are read (and ignored) before RSET.
    pub(super) draining: bool,
    /// DSN parameters went with this transaction.
    pub(super) dsn_sent: bool,
    /// The body goes with `BDAT <size> LAST` in this transaction.
    pub(super) bdat_size: Option<u64>,
    /// LMTP: replies still due after the data, and the replies so far.
    pub(super) lmtp_pending: usize,
    pub(super) lmtp_replies: Vec<Reply>,
    /// This transaction declared SMTPUTF8.
    pub(super) utf8: bool,
    /// The recipients' paths as sent (ASCII forms where the server lacks
    /// SMTPUTF8).
    pub(super) paths: Vec<String>,
}

impl Transaction {
    fn new(plan: &MailPlan) -> Self {
        Self {
            dsn_sent: plan.dsn,
            bdat_size: plan.bdat_size,
            utf8: plan.utf8,
            paths: plan.paths.clone(),
            ..Self::default()
        }
    }
}

/// What MAIL will say and how the message will go, decided from the
/// message, the settings and what this server offers.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct MailPlan {
    /// `MAIL FROM:<...>` with its parameters.
    pub(super) command: String,
    pub(super) bdat_size: Option<u64>,
    /// The DSN parameters go (the server offers DSN).
    pub(super) dsn: bool,
    /// DSN was asked for and the server does not offer it.
    pub(super) dsn_dropped: bool,
    pub(super) utf8: bool,
    /// The recipients' paths as sent.
    pub(super) paths: Vec<String>,
    /// What the transcript should say about the body, if anything.
    pub(super) note: Option<&'static str>,
}

/// The decision before MAIL.
#[derive(Debug)]
pub(super) enum Planned {
    /// The size is needed and not known: count the message first.
    Measure,
    /// This server must not get the message; try the next.
    NextServer(Cause),
    /// The message cannot go (to this server or any).
    Fail(Cause),
    /// Send MAIL.
    Mail(MailPlan),
}

/// Plans MAIL for `wire` (the message as it goes on this attempt): the
/// size and SMTPUTF8 checks, BDAT or DATA, the body type, and the
/// parameters. A pure function of what it is given.
pub(super) fn plan_mail(
    config: &Config,
    wire: &Wire,
    caps: &Capabilities,
    over_tls: bool,
) -> Planned {
    let settings = &config.settings;
    let chunking = chunking_used(config, caps);
    let wants_size = caps.size().is_some() || chunking;
    if wire.size.is_none() && config.measure_on_demand && wants_size {
        return Planned::Measure;
    }
    if settings.require_tls && (!over_tls || !caps.offers(Extension::RequireTls)) {
        // RFC 8689 §4.1: such a server must not get the message.
        return Planned::NextServer(Cause::RequireTlsNotOffered);
    }
    let size = wire.size;
    let bdat = chunking && size.is_some();
    let content = wire.content;
    let binary_mime =
        content.binary && !content.repaired && bdat && caps.offers(Extension::BinaryMime);
    let eight_bit_mime = caps.offers(Extension::EightBitMime);
    if let (Some(size), Some(limit)) = (size, caps.size()) {
        if limit > 0 && size > limit {
            return Planned::Fail(Cause::TooLarge { size, limit });
        }
    }
    // Without SMTPUTF8 neither a non-ASCII path (RFC 6531 §3.2) nor a
    // header holding UTF-8 (§3.4) can go; the transforms put ASCII forms
    // where they can.
    let utf8_path = std::iter::once(&wire.reverse_path)
        .chain(&wire.recipients)
        .find(|p| !p.is_ascii());
    let utf8 = utf8_path.is_some() || content.utf8_header;
    if utf8 && !caps.offers(Extension::SmtpUtf8) {
        let what = utf8_path.map_or_else(|| "the message's header".to_owned(), Clone::clone);
        return Planned::Fail(Cause::NeedsSmtpUtf8(what));
    }
    let mut command = format!("MAIL FROM:<{}>", wire.reverse_path);
    if let (Some(size), Some(_)) = (size, caps.size()) {
        command.push_str(&format!(" SIZE={size}"));
    }
    let mut note = None;
    if binary_mime {
        command.push_str(" BODY=BINARYMIME");
    } else if content.eight_bit && eight_bit_mime && !content.binary {
        command.push_str(" BODY=8BITMIME");
    } else if !content.is_seven_bit() {
        // No transform made it fit (a caller of the core without one):
        // the data goes as it is, as most clients send it.
        if content.eight_bit && eight_bit_mime {
            command.push_str(" BODY=8BITMIME");
        }
        note = Some("the message has 8-bit or binary data the server cannot take as it is");
    }
    if utf8 {
        command.push_str(" SMTPUTF8");
    }
    if settings.require_tls {
        command.push_str(" REQUIRETLS");
    }
    let mut dsn = false;
    let mut dsn_dropped = false;
    if let Some(params) = &config.dsn {
        if caps.offers(Extension::Dsn) {
            command.push_str(&params.mail_params());
            dsn = true;
        } else {
            dsn_dropped = true;
        }
    }
    Planned::Mail(MailPlan {
        command,
        bdat_size: if bdat { size } else { None },
        dsn,
        dsn_dropped,
        utf8,
        paths: wire.recipients.clone(),
        note,
    })
}

/// Whether BDAT is to be used with this server (when the size is known).
fn chunking_used(config: &Config, caps: &Capabilities) -> bool {
    let settings = &config.settings;
    settings.chunking && !settings.lmtp && caps.offers(Extension::Chunking)
}

/// What the server offers that decides the message's form.
pub(super) fn server_offers(config: &Config, caps: &Capabilities) -> ServerOffers {
    ServerOffers {
        eight_bit_mime: caps.offers(Extension::EightBitMime),
        binary_mime: chunking_used(config, caps) && caps.offers(Extension::BinaryMime),
        smtputf8: caps.offers(Extension::SmtpUtf8),
    }
}

impl Delivery {
    /// MAIL FROM, as [`plan_mail`] decides; with PIPELINING every RCPT
    /// (and DATA where it may) in the same write.
    pub(super) fn start_mail(&mut self, now: Instant) {
        let wire = match &self.wire {
            Some(wire) => wire,
            None if self.config.transform => {
                self.state = State::Transforming;
                return;
            }
            None => self.wire.insert(Wire::from_config(&self.config)),
        };
        let plan = match plan_mail(&self.config, wire, &self.capabilities, self.tls.is_some()) {
            Planned::Measure => {
                self.state = State::Measuring;
                return;
            }
            Planned::NextServer(cause) => {
                self.record_attempt(Stage::Mail, cause);
                self.state = State::Closing(After::NextServer);
                return;
            }
            Planned::Fail(cause) => {
                self.fail_transaction(Stage::Mail, cause, now);
                return;
            }
            Planned::Mail(plan) => plan,
        };
        if let Some(note) = plan.note {
            self.trace(TraceKind::Info, note.to_owned());
        }
        if plan.dsn_dropped {
            // A report is a request, not a condition of delivery.
            self.trace(
                TraceKind::Info,
                "the server does not offer DSN: sent without the DSN parameters".to_owned(),
            );
            tracing::warn!(target: "postie_smtp", "the server does not offer DSN: sent without the DSN parameters");
        }
        self.tx = Transaction::new(&plan);
        self.messages_on_connection = self.messages_on_connection.saturating_add(1);
        self.send(&plan.command, Expect::Mail, now);
        if self.config.settings.pipelining && self.capabilities.offers(Extension::Pipelining) {
            // RFC 2920: MAIL and every RCPT in one write; DATA too when
            // partial delivery is allowed (all-or-nothing must see every
            // RCPT reply before committing to DATA). With one recipient
            // the two modes are the same, so DATA goes too: a refused
            // recipient leaves no transaction for it (the server refuses
            // DATA; one that says 354 anyway gets no data), and every
            // message to one recipient saves a round trip. Every reply is
            // read and matched to its command, refusals included.
            for index in 0..self.tx.paths.len() {
                let command = self.rcpt_command(index);
                self.queue_command(&command, Expect::Rcpt(index));
            }
            let partial_allowed = self.config.settings.at_least_one || self.tx.paths.len() == 1;
            if partial_allowed && self.tx.bdat_size.is_none() {
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
        self.tx.due.push_back(expect);
    }

    /// Waits for the next reply due in a pipelined batch.
    pub(super) fn next_due(&mut self, now: Instant) {
        if let Some(expect) = self.tx.due.pop_front() {
            self.expect(expect, now, self.config.timeouts.command);
        }
    }

    pub(super) fn send_rcpt(&mut self, index: usize, now: Instant) {
        let command = self.rcpt_command(index);
        self.send(&command, Expect::Rcpt(index), now);
    }

    /// RCPT for recipient `index`, with its DSN parameters.
    pub(super) fn rcpt_command(&self, index: usize) -> String {
        let address = self.tx.paths.get(index).map_or("", String::as_str);
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
        self.tx.lmtp_replies.push(reply);
        self.tx.lmtp_pending = self.tx.lmtp_pending.saturating_sub(1);
        if self.tx.lmtp_pending > 0 {
            self.expect(Expect::EndOfData, now, self.config.timeouts.end_of_data);
            return;
        }
        let mut delivered = Vec::new();
        let mut last_ok = None;
        let accepted = std::mem::take(&mut self.tx.accepted);
        for (address, reply) in accepted.into_iter().zip(self.tx.lmtp_replies.drain(..)) {
            if reply.is_positive() {
                delivered.push(address);
                last_ok = Some(reply);
            } else {
                self.tx.refused.push(Refusal::new(address, reply));
            }
        }
        self.result = Some(match last_ok {
            Some(reply) => Ok(Sent {
                server: self.current_server(),
                reply,
                refused: std::mem::take(&mut self.tx.refused),
                accepted: delivered,
                tls: self.tls.clone(),
                auth: self.authenticated.clone(),
                dsn: self.tx.dsn_sent,
            }),
            None => Err(Error::Refused {
                server: self.current_server(),
                refused: std::mem::take(&mut self.tx.refused),
                stage: Stage::EndOfData,
            }),
        });
        self.quit(now);
    }

    /// NOTIFY and ORCPT for recipient `index`, when DSN is in use.
    pub(super) fn rcpt_params(&self, index: usize) -> String {
        match (&self.config.dsn, self.tx.dsn_sent) {
            (Some(dsn), true) => {
                let original = self.config.recipients.get(index).map_or("", String::as_str);
                dsn.rcpt_params(index, original, self.tx.utf8)
            }
            _ => String::new(),
        }
    }

    /// The at-least-one decision (tcllib §1.7): DATA when some recipient
    /// was accepted and none refused, or when partial delivery is allowed.
    pub(super) fn after_recipients(&mut self, now: Instant) {
        let go = !self.tx.accepted.is_empty()
            && (self.tx.refused.is_empty() || self.config.settings.at_least_one);
        if let (true, Some(size)) = (go, self.tx.bdat_size) {
            // RFC 3030: the size up front, the data unstuffed, no 354 to
            // wait for; the driver writes the command with the data.
            self.trace(TraceKind::Sent, format!("BDAT {size} LAST"));
            self.state = State::SendingBody;
        } else if go {
            self.send("DATA", Expect::Data, now);
        } else {
            self.result = Some(Err(Error::Refused {
                server: self.current_server(),
                refused: std::mem::take(&mut self.tx.refused),
                stage: Stage::Rcpt,
            }));
            self.send("RSET", Expect::Rset, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::TransportSettings;
    use std::sync::Arc;

    fn caps(keywords: &[&str]) -> Capabilities {
        let mut lines = vec!["mx.test".to_owned()];
        lines.extend(keywords.iter().map(|k| (*k).to_owned()));
        Capabilities::from_ehlo(&Reply::new(250, None, lines))
    }

    fn config(change: impl FnOnce(&mut Config, &mut TransportSettings)) -> Config {
        let mut settings = TransportSettings::default();
        let mut c = Config::new(
            Vec::new(),
            "client.test",
            "a@x.test",
            vec!["b@y.test".to_owned()],
            Arc::new(TransportSettings::default()),
        );
        change(&mut c, &mut settings);
        c.settings = Arc::new(settings);
        c
    }

    /// Plans MAIL for the message as `c` describes it.
    fn plan(c: &Config, caps: &Capabilities, over_tls: bool) -> Planned {
        plan_mail(c, &Wire::from_config(c), caps, over_tls)
    }

    fn mail(planned: Planned) -> MailPlan {
        match planned {
            Planned::Mail(plan) => plan,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_parameters_follow_what_the_server_offers() {
        let c = config(|c, _| {
            c.size = Some(100);
            c.eight_bit = true;
        });
        let p = mail(plan(&c, &caps(&["SIZE 1000", "8BITMIME"]), false));
        assert_eq!(p.command, "MAIL FROM:<a@x.test> SIZE=100 BODY=8BITMIME");
        assert!(p.note.is_none() && p.bdat_size.is_none());
        // No 8BITMIME and no transform made the data fit: it goes as it
        // is, and the transcript says so.
        let p = mail(plan(&c, &caps(&["SIZE"]), false));
        assert_eq!(p.command, "MAIL FROM:<a@x.test> SIZE=100");
        assert!(p.note.is_some());
        // Binary data goes as BINARYMIME only over BDAT, unrepaired.
        let c = config(|c, _| {
            c.size = Some(100);
            c.binary = true;
        });
        let offers = ["CHUNKING", "BINARYMIME", "8BITMIME"];
        let p = mail(plan(&c, &caps(&offers), false));
        assert_eq!(p.command, "MAIL FROM:<a@x.test> BODY=BINARYMIME");
        assert_eq!(p.bdat_size, Some(100));
        let c = config(|c, _| {
            c.size = Some(100);
            c.binary = true;
            c.repaired = true;
        });
        assert!(mail(plan(&c, &caps(&offers), false)).note.is_some());
    }

    #[test]
    fn the_server_offers_follow_the_capabilities_and_settings() {
        let c = config(|_, _| {});
        assert_eq!(
            server_offers(&c, &caps(&["8BITMIME", "SMTPUTF8", "BINARYMIME"])),
            ServerOffers::new(true, false, true),
            "BINARYMIME without CHUNKING cannot carry binary data"
        );
        assert!(server_offers(&c, &caps(&["CHUNKING", "BINARYMIME"])).binary_mime);
        let c = config(|_, s| s.chunking = false);
        assert!(!server_offers(&c, &caps(&["CHUNKING", "BINARYMIME"])).binary_mime);
    }

    #[test]
    fn bdat_needs_the_size_and_chunking_on_both_sides() {
        let c = config(|c, _| c.size = Some(10));
        let p = mail(plan(&c, &caps(&["CHUNKING"]), false));
        assert_eq!(p.bdat_size, Some(10));
        let c = config(|c, s| {
            c.size = Some(10);
            s.chunking = false;
        });
        assert_eq!(mail(plan(&c, &caps(&["CHUNKING"]), false)).bdat_size, None);
        // Size unknown but countable: count first.
        let c = config(|c, _| c.measure_on_demand = true);
        assert!(matches!(
            plan(&c, &caps(&["CHUNKING"]), false),
            Planned::Measure
        ));
    }

    #[test]
    fn refusals_before_mail() {
        let c = config(|_, s| s.require_tls = true);
        assert!(matches!(
            plan(&c, &caps(&["REQUIRETLS"]), false),
            Planned::NextServer(Cause::RequireTlsNotOffered)
        ));
        let p = mail(plan(&c, &caps(&["REQUIRETLS"]), true));
        assert!(p.command.ends_with(" REQUIRETLS"), "{}", p.command);
        let c = config(|c, _| c.size = Some(2000));
        assert!(matches!(
            plan(&c, &caps(&["SIZE 1000"]), false),
            Planned::Fail(Cause::TooLarge {
                size: 2000,
                limit: 1000
            })
        ));
    }

    #[test]
    fn a_non_ascii_path_needs_smtputf8() {
        let c = config(|c, _| c.recipients = vec!["b@b\u{fc}cher.test".to_owned()]);
        let p = mail(plan(&c, &caps(&["SMTPUTF8"]), false));
        assert!(p.utf8 && p.command.ends_with(" SMTPUTF8"));
        assert!(matches!(
            plan(&c, &caps(&[]), false),
            Planned::Fail(Cause::NeedsSmtpUtf8(path)) if path == "b@b\u{fc}cher.test"
        ));
        // A header holding UTF-8 needs it too (RFC 6531 §3.4).
        let c = config(|c, _| c.utf8_header = true);
        let p = mail(plan(&c, &caps(&["SMTPUTF8"]), false));
        assert!(p.command.ends_with(" SMTPUTF8"), "{}", p.command);
        assert!(matches!(
            plan(&c, &caps(&[]), false),
            Planned::Fail(Cause::NeedsSmtpUtf8(what)) if what == "the message's header"
        ));
        // The paths sent are the wire's (a transform's ASCII forms).
        let c = config(|c, _| c.recipients = vec!["b@b\u{fc}cher.test".to_owned()]);
        let mut wire = Wire::from_config(&c);
        wire.recipients = vec!["b@xn--bcher-kva.test".to_owned()];
        let p = mail(plan_mail(&c, &wire, &caps(&[]), false));
        assert_eq!(p.paths, ["b@xn--bcher-kva.test"]);
        assert!(!p.utf8 && !p.command.contains("SMTPUTF8"));
    }
}
