//! From a message and the options to the envelope and the header fields that
//! are sent: sendmessage's originator, recipient and header rules.
//!
//! All of it happens before any connection, so every error here is bad
//! input found before a byte goes on the wire. The caller's message is never
//! changed: the fields that are sent are a new list written over the
//! message's body.

use chrono::{DateTime, FixedOffset};
use postie_mime::address::{self, Address, Mailbox};
use postie_mime::{HeaderName, HeaderValue, Headers, Message};

use crate::error::InvalidInput;
use crate::options::SendOptions;
use crate::server::ServerAddr;

/// Fields that may occur once: a header option replaces the message's own.
const SINGLE_FIELDS: &[&str] = &[
    "From",
    "Sender",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "In-Reply-To",
    "References",
];

/// Address-list fields: several header options for one are joined.
const LIST_FIELDS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "Resent-From",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
];

/// Fields the MIME writer decides (tcllib refuses the same four).
const RESERVED_FIELDS: &[&str] = &[
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-MD5",
    "MIME-Version",
];

fn is_one_of(name: &str, list: &[&str]) -> bool {
    list.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// What sending needs to know about the machine it runs on. Passed in, so
/// that the rules below are pure and testable.
#[derive(Clone, Debug)]
pub struct LocalEnv {
    /// This machine's host name: the default EHLO name, the domain for
    /// addresses without one, and the Message-ID's right side.
    pub hostname: String,
    /// The login name, for the default originator.
    pub user: String,
    /// The time written into a missing Date field.
    pub now: DateTime<FixedOffset>,
}

impl LocalEnv {
    /// Reads the host name, `$USER` (or `$LOGNAME`) and the local time.
    pub fn from_system() -> Self {
        // uname(2)'s node name, as gethostname(2) gives it on Linux.
        let hostname = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let hostname = if hostname.trim().is_empty() {
            "localhost".to_owned()
        } else {
            hostname
        };
        let user = ["USER", "LOGNAME"]
            .iter()
            .filter_map(|var| std::env::var(var).ok())
            .find(|u| !u.trim().is_empty())
            .or_else(login_name_from_uid)
            .unwrap_or_else(|| "postie".to_owned());
        Self {
            hostname,
            user,
            now: postie_mime::date::now(),
        }
    }
}

/// The login name of this process's user, from `/proc` and `/etc/passwd`
/// (cron and daemons often run without `$USER`).
fn login_name_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)? == uid).then(|| name.to_owned())
    })
}

/// The envelope and fields to send, derived from a message and options.
#[derive(Clone, Debug)]
pub struct Prepared {
    reverse_path: Option<Mailbox>,
    recipients: Vec<Mailbox>,
    headers: Headers,
    client: String,
    servers: Vec<ServerAddr>,
}

impl Prepared {
    /// The envelope sender as sent in MAIL FROM (empty for the null sender).
    pub fn reverse_path(&self) -> String {
        self.reverse_path
            .as_ref()
            .map(Mailbox::addr_spec)
            .unwrap_or_default()
    }

    /// The envelope recipients as sent in RCPT TO.
    pub fn recipients(&self) -> Vec<String> {
        self.recipients.iter().map(Mailbox::addr_spec).collect()
    }

    /// For each envelope path that is not ASCII but whose local part is:
    /// (path, the path with its domain as punycode), for servers without
    /// SMTPUTF8.
    pub fn ascii_forms(&self) -> Vec<(String, String)> {
        self.reverse_path
            .iter()
            .chain(&self.recipients)
            .filter(|m| !m.is_ascii())
            .filter_map(|m| Some((m.addr_spec(), m.addr_spec_ascii().ok()?)))
            .collect()
    }

    /// The header fields that are sent (added ones in, Bcc out).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The name for EHLO/HELO.
    pub fn client(&self) -> &str {
        &self.client
    }

    /// The servers, paired with their ports.
    pub fn servers(&self) -> &[ServerAddr] {
        &self.servers
    }

    /// Writes the message as it is sent, before dot-stuffing.
    pub fn write_message(
        &self,
        message: &Message,
        w: &mut dyn std::io::Write,
    ) -> Result<(), postie_mime::Error> {
        message.write_with_headers(&self.headers, w)
    }

    /// The message's size as RFC 1870 counts it (a counting pass: a body
    /// read from a file is read once for this and once to send it).
    pub fn size(&self, message: &Message) -> Result<u64, postie_mime::Error> {
        Ok(self.measure(message)?.size)
    }

    /// The size, and whether the message holds 8-bit or binary data (a
    /// raw message read from a file may; what postie's writer makes never
    /// does).
    pub fn measure(&self, message: &Message) -> Result<Measure, postie_mime::Error> {
        let mut counter = crate::data::SizeCounter::default();
        self.write_message(message, &mut counter)?;
        Ok(Measure {
            eight_bit: counter.is_eight_bit(),
            binary: counter.is_binary(),
            repaired: counter.repaired(),
            size: counter.finish(),
        })
    }
}

/// What the counting pass learnt about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Measure {
    /// The size as RFC 1870 counts it.
    pub size: u64,
    /// Some byte has the high bit set (`BODY=8BITMIME`, RFC 6152).
    pub eight_bit: bool,
    /// A NUL or a line over 998 octets (only `BODY=BINARYMIME` carries it).
    pub binary: bool,
    /// A bare CR or LF was turned into CRLF on the way.
    pub repaired: bool,
}

/// The field names of the normal or Resent mode.
struct Names {
    from: &'static str,
    sender: &'static str,
    recipients: [&'static str; 3],
    date: &'static str,
    message_id: &'static str,
}

const NORMAL: Names = Names {
    from: "From",
    sender: "Sender",
    recipients: ["To", "Cc", "Bcc"],
    date: "Date",
    message_id: "Message-ID",
};

const RESENT: Names = Names {
    from: "Resent-From",
    sender: "Resent-Sender",
    recipients: ["Resent-To", "Resent-Cc", "Resent-Bcc"],
    date: "Resent-Date",
    message_id: "Resent-Message-ID",
};

/// Applies sendmessage's rules: see the crate docs and
/// `docs/tcllib-differences.md`.
pub fn prepare(
    message: &Message,
    options: &SendOptions,
    env: &LocalEnv,
) -> Result<Prepared, InvalidInput> {
    let servers = options.server_list();
    if servers.is_empty() {
        return Err(InvalidInput::NoServers);
    }
    let client = client_name(options, env)?;
    let given = given_fields(options)?;
    let given_resent = given.iter().any(|(name, _)| is_resent(name.as_str()));
    // A message resent before starts with its newest Resent block (RFC 5322
    // §3.6.6): with nothing given for either mode's fields, that block
    // names the sender and recipients, as the seed's "or Resent-From …"
    // says.
    let given_normal = given
        .iter()
        .any(|(name, _)| is_one_of(name.as_str(), MODE_FIELDS));
    let own_block = (!given_resent && !given_normal)
        .then(|| topmost_resent_block(message.headers()))
        .flatten();
    let resent = given_resent || own_block.is_some();
    let names = if resent { &RESENT } else { &NORMAL };

    // The fields to send: the message's, with the header options merged in.
    // In Resent mode the new Resent-* block goes on top (RFC 5322 §3.6.6);
    // the message's own block stays where it is, under any trace fields.
    let (mut headers, mut block, block_at) = match own_block {
        Some(own) => (own.rest, own.block, own.at),
        None => (message.headers().clone(), Headers::new(), 0),
    };
    for (name, values) in &given {
        let target = if resent && is_resent(name.as_str()) {
            &mut block
        } else {
            &mut headers
        };
        if is_one_of(name.as_str(), SINGLE_FIELDS) || is_one_of(name.as_str(), LIST_FIELDS) {
            let value = single_value(name, values)?;
            target.set_value(name.clone(), value);
        } else {
            for value in values {
                target.append_value(name.clone(), value.clone());
            }
        }
    }
    // A mode field's values: in Resent mode the new block's, else the
    // message's own (merged with the header options).
    let lookup = |headers: &Headers, block: &Headers, name: &str| -> Vec<HeaderValue> {
        let source = if resent && block.contains(name) {
            block
        } else {
            headers
        };
        source.get_all(name).cloned().collect()
    };

    let originator = originator(
        options,
        lookup(&headers, &block, names.from).first(),
        lookup(&headers, &block, names.sender).first(),
        names,
        env,
    )?;

    // A new Resent block needs its own Resent-From (RFC 5322 §3.6.6), so
    // in Resent mode only the block counts here.
    let own = |name: &str| -> Vec<HeaderValue> {
        if resent {
            block.get_all(name).cloned().collect()
        } else {
            headers.get_all(name).cloned().collect()
        }
    };
    let from = own(names.from);
    let has_sender = !own(names.sender).is_empty();
    let target = if resent { &mut block } else { &mut headers };
    if let Some(originator) = &originator {
        match from.first() {
            None => append(target, names.from, &originator.to_string())?,
            Some(from) => {
                let from_list = parse_list(names.from, &from.as_text())?;
                let first = address::mailboxes(&from_list).into_iter().next();
                let first = first.map(|f| with_domain(names.from, f, env)).transpose()?;
                let differs = first.is_some_and(|f| !f.same_address(originator));
                if differs && !has_sender {
                    append(target, names.sender, &originator.to_string())?;
                }
            }
        }
    }

    let recipients = match options
        .recipients
        .as_deref()
        .filter(|r| !r.trim().is_empty())
    {
        Some(list) => vec![("recipients".to_owned(), list.to_owned())],
        // Each of To, Cc and Bcc from its header option, else from the
        // message: an option replaces that field only.
        None => names
            .recipients
            .iter()
            .flat_map(|name| {
                lookup(&headers, &block, name)
                    .into_iter()
                    .map(|v| ((*name).to_owned(), v.as_text().into_owned()))
            })
            .collect(),
    };
    let recipients = recipient_mailboxes(&recipients, env)?;

    // No Bcc of any kind is sent: its recipients are in the envelope.
    headers.remove("Bcc");
    headers.remove("Resent-Bcc");
    block.remove("Resent-Bcc");

    let target = if resent { &mut block } else { &mut headers };
    if !target.contains(names.date) {
        append(target, names.date, &postie_mime::date::format(&env.now))?;
    }
    if !target.contains(names.message_id) {
        let id = postie_mime::new_message_id(&env.hostname)?;
        append(target, names.message_id, &id)?;
    }

    let headers = if resent {
        let mut all = Headers::new();
        let mut rest = headers.iter();
        for field in rest.by_ref().take(block_at) {
            all.append_value(field.name().clone(), field.value().clone());
        }
        for field in block.iter().chain(rest) {
            all.append_value(field.name().clone(), field.value().clone());
        }
        all
    } else {
        headers
    };

    Ok(Prepared {
        reverse_path: originator,
        recipients,
        headers,
        client,
        servers,
    })
}

/// The fields that name the sender and recipients in the normal mode.
const MODE_FIELDS: &[&str] = &["From", "Sender", "To", "Cc", "Bcc"];

fn is_resent(name: &str) -> bool {
    name.len() > 7
        && name
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("resent-"))
}

/// A message's newest Resent block, taken out of its fields.
struct OwnBlock {
    /// The block's fields, in order.
    block: Headers,
    /// The other fields.
    rest: Headers,
    /// How many of `rest` come before the block (trace fields).
    at: usize,
}

/// The Resent-* fields at the top of `headers`, under any trace fields
/// (Return-Path, Received: RFC 5322 §3.6.7 puts them above), if the header
/// starts with such a block.
fn topmost_resent_block(headers: &Headers) -> Option<OwnBlock> {
    let fields: Vec<_> = headers.iter().collect();
    let is_trace = |name: &str| {
        name.eq_ignore_ascii_case("Received") || name.eq_ignore_ascii_case("Return-Path")
    };
    let at = fields
        .iter()
        .take_while(|f| is_trace(f.name().as_str()))
        .count();
    let len = fields[at..]
        .iter()
        .take_while(|f| is_resent(f.name().as_str()))
        .count();
    if len == 0 {
        return None;
    }
    let mut block = Headers::new();
    let mut rest = Headers::new();
    for (i, field) in fields.into_iter().enumerate() {
        let target = if (at..at + len).contains(&i) {
            &mut block
        } else {
            &mut rest
        };
        target.append_value(field.name().clone(), field.value().clone());
    }
    Some(OwnBlock { block, rest, at })
}

fn append(headers: &mut Headers, name: &str, value: &str) -> Result<(), InvalidInput> {
    headers.append(name, value).map_err(InvalidInput::Message)
}

/// The header options checked and grouped by name, in order of first use.
fn given_fields(
    options: &SendOptions,
) -> Result<Vec<(HeaderName, Vec<HeaderValue>)>, InvalidInput> {
    let mut given: Vec<(HeaderName, Vec<HeaderValue>)> = Vec::new();
    for (name, value) in &options.headers {
        let name = name.trim();
        if is_one_of(name, RESERVED_FIELDS) {
            return Err(InvalidInput::ReservedHeader(name.to_owned()));
        }
        let header_name = HeaderName::new(name)?;
        let value = HeaderValue::new(name, value)?;
        match given.iter_mut().find(|(n, _)| *n == header_name) {
            Some((_, values)) => values.push(value),
            None => given.push((header_name, vec![value])),
        }
    }
    Ok(given)
}

fn single_value(name: &HeaderName, values: &[HeaderValue]) -> Result<HeaderValue, InvalidInput> {
    match values {
        [one] => Ok(one.clone()),
        _ if is_one_of(name.as_str(), LIST_FIELDS) => {
            let joined: Vec<String> = values.iter().map(|v| v.as_text().into_owned()).collect();
            Ok(HeaderValue::new(name.as_str(), &joined.join(", "))?)
        }
        _ => Err(InvalidInput::RepeatedHeader(name.to_string())),
    }
}

fn client_name(options: &SendOptions, env: &LocalEnv) -> Result<String, InvalidInput> {
    let valid = |name: &str| {
        let literal = name.starts_with('[') && name.ends_with(']');
        !name.is_empty()
            && name.len() <= 255
            && name.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'.' | b'_')
                    || (literal && matches!(b, b'[' | b']' | b':'))
            })
    };
    match &options.transport.client {
        Some(name) if valid(name.trim()) => Ok(name.trim().to_owned()),
        Some(name) => Err(InvalidInput::ClientName(name.clone())),
        None => {
            // No servers given means `localhost`.
            let only_localhost = match options.transport.servers.as_slice() {
                [] => true,
                [one] => one.trim() == "localhost",
                _ => false,
            };
            if only_localhost || !valid(&env.hostname) {
                Ok("localhost".to_owned())
            } else {
                Ok(env.hostname.clone())
            }
        }
    }
}

fn parse_list(field: &str, value: &str) -> Result<Vec<Address>, InvalidInput> {
    address::parse_address_list(value).map_err(|source| InvalidInput::Address {
        field: field.to_owned(),
        source,
    })
}

fn with_domain(field: &str, mailbox: Mailbox, env: &LocalEnv) -> Result<Mailbox, InvalidInput> {
    mailbox
        .with_default_domain(&env.hostname)
        .map_err(|source| InvalidInput::Address {
            field: field.to_owned(),
            source,
        })
}

/// `None` is the null reverse-path.
fn originator(
    options: &SendOptions,
    from: Option<&HeaderValue>,
    sender: Option<&HeaderValue>,
    names: &Names,
    env: &LocalEnv,
) -> Result<Option<Mailbox>, InvalidInput> {
    if let Some(given) = &options.originator {
        if given.trim().is_empty() {
            return Ok(None);
        }
        let mailbox = address::parse_mailbox(given).map_err(|source| InvalidInput::Address {
            field: "originator".to_owned(),
            source,
        })?;
        return with_domain("originator", mailbox, env).map(Some);
    }
    if let Some(from) = from {
        let text = from.as_text();
        let list = address::mailboxes(&parse_list(names.from, &text)?);
        match list.as_slice() {
            [one] => return with_domain(names.from, one.clone(), env).map(Some),
            [] => {}
            _ => {
                // RFC 5322 §3.6.2: several authors need a Sender.
                let Some(sender) = sender else {
                    return Err(InvalidInput::TooManyOriginators {
                        field: names.from.to_owned(),
                        value: text.into_owned(),
                    });
                };
                let sender = address::parse_mailbox(&sender.as_text()).map_err(|source| {
                    InvalidInput::Address {
                        field: names.sender.to_owned(),
                        source,
                    }
                })?;
                return with_domain(names.sender, sender, env).map(Some);
            }
        }
    }
    let user = Mailbox::new(None, &env.user, Some(&env.hostname)).map_err(|source| {
        InvalidInput::Address {
            field: "the default originator ($USER@host)".to_owned(),
            source,
        }
    })?;
    Ok(Some(user))
}

/// The envelope recipients from (field, value) pairs: groups flattened,
/// the default domain added, each address once.
fn recipient_mailboxes(
    found: &[(String, String)],
    env: &LocalEnv,
) -> Result<Vec<Mailbox>, InvalidInput> {
    let mut out: Vec<Mailbox> = Vec::new();
    for (field, value) in found {
        for mailbox in address::mailboxes(&parse_list(field, value)?) {
            let mailbox = with_domain(field, mailbox, env)?;
            if !out.iter().any(|m| m.same_address(&mailbox)) {
                out.push(mailbox);
            }
        }
    }
    if out.is_empty() {
        return Err(InvalidInput::NoRecipients);
    }
    Ok(out)
}
