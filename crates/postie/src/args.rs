//! The command line, as `shared/spec/cli-contract.md` fixes it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `--tls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TlsArg {
    Starttls,
    None,
    Required,
    Implicit,
}

/// `--tls-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum PolicyArg {
    Secure,
    Insecure,
}

/// Send mail over SMTP: tcllib's sendmessage as a command.
#[derive(Debug, Parser)]
#[command(
    name = "postie",
    version,
    about = "Send mail over SMTP: tcllib's sendmessage as a command, a sendmail, a spool, a probe and a capture sink",
    long_about = None,
    after_help = SENDMAIL_HELP
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Send a message (an RFC 5322 file, standard input, or built from flags).
    #[command(after_help = SEND_EXAMPLES)]
    Send(Box<SendArgs>),
    /// Send the seed example to a capture server inside this process, and
    /// show the dialogue and what the server received.
    #[command(after_help = "Examples:\n  postie demo")]
    Demo,
    /// Run a capture SMTP server that accepts and keeps every message.
    #[command(after_help = SINK_EXAMPLES)]
    Sink(SinkArgs),
    /// Ask a server what it offers: greeting, capabilities, STARTTLS and its
    /// certificate (with its SHA-256 fingerprint), AUTH before and after
    /// TLS, SIZE; with --username, whether AUTH succeeds. Sends no mail.
    #[command(after_help = PROBE_EXAMPLES)]
    Probe(ProbeArgs),
    /// Print a completion script for a shell (e.g. `postie completions bash
    /// > /etc/bash_completion.d/postie`).
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page postie(1); with --dir, write postie(1) and one
    /// page per command (postie-send(1), ...) into that directory.
    #[command(after_help = MAN_EXAMPLES)]
    Man {
        /// Write the pages here instead of printing postie(1).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The messages `postie send --spool-on-failure` kept after a temporary
    /// failure: list, show, remove, flush (send them again).
    #[command(after_help = SPOOL_HELP)]
    Spool(SpoolArgs),
    /// DKIM: make a signing key and the DNS record to publish, print a
    /// key's record, verify a message's signatures.
    #[command(after_help = DKIM_HELP)]
    Dkim(DkimArgs),
}

const SPOOL_HELP: &str = "The spool: --store PATH|URL, else $POSTIE_SPOOL_STORE (or $POSTIE_SPOOL_DIR), \
else the account's spool_store, else $XDG_STATE_HOME/postie/spool or ~/.local/state/postie/spool. \
A folder, or a PostgreSQL database (postgres://ROLE@HOST[:PORT]/DB, its tables made by `postie spool \
init`; the password from PGPASSFILE, ~/.pgpass or PGPASSWORD, never in the URL: exit 78). A \
message whose outcome is unknown (the connection ended after the final dot: the server may have \
it) is only sent again by `flush --force`. The spool must be yours \
and writable by nobody else (else exit 78); an entry that is a link, holds one, is someone else's, \
or whose record or message is damaged is listed as `damaged` (exit 74) and moved aside by flush \
(to quarantine/, or dead/ for a message that is not the one kept).

Examples:
  postie send --spool-on-failure --server mail.example.org message.eml
  postie spool list
  postie spool flush          # e.g. every 10 minutes from cron
  postie spool --store postgres://postie@db.example.org/mail list";

const SINK_EXAMPLES: &str = "Examples:
  postie sink --listen 127.0.0.1:2525 --maildir ./captured -v
  postie send --server 127.0.0.1 --port 2525 --tls none --to a@example.org --body hi";

const COMPLETIONS_EXAMPLES: &str = "Examples:
  postie completions bash > /etc/bash_completion.d/postie
  postie completions zsh > \"${fpath[1]}/_postie\"";

const MAN_EXAMPLES: &str = "Examples:
  postie man --dir /usr/local/share/man/man1 && mandb
  postie man | man -l -";

const PROBE_EXAMPLES: &str = "Examples:
  postie probe mail.example.org
  postie probe mail.example.org:465 --tls implicit --json
  postie probe localhost:2525 --tls none
  postie probe --lmtp /run/dovecot/lmtp
  SMTP_PASSWORD=... postie probe mail.example.org:587 --username alice --password-env SMTP_PASSWORD";

const SENDMAIL_HELP: &str =
    "Also: `postie sendmail [-t] [-i] [-f ADDR] [-F NAME] [--] [RECIPIENT...]`, \
and the same when postie is called as `sendmail` (ln -s $(command -v postie) /usr/sbin/sendmail): \
the message on standard input, sent with the accounts file's default account.

Examples:
  postie send --server mail.example.org --to someone@example.org --subject hi --body hello
  postie probe mail.example.org:587
  printf 'Subject: hi\\n\\nhello\\n' | postie sendmail someone@example.org
  postie spool flush";

const SEND_EXAMPLES: &str = "Examples:
  postie send --server mail.example.org --to someone@example.org \\
      --subject 'This is the subject.' --body 'This is the message.'
  postie send --server mx1,mx2 --port 2525,25 --recipients 'a@x.org, Bob <b@x.org>' msg.eml
  postie send --dry-run --to a@x.org --subject hi --body hello";

/// `postie send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// How to send: stored whole with a message kept in the spool.
    #[command(flatten)]
    pub(crate) transport: TransportArgs,
    /// Envelope sender; '' is the null sender <>.
    #[arg(long, value_name = "ADDR", allow_hyphen_values = true)]
    pub(crate) originator: Option<String>,
    /// Comma-separated addresses: exactly the envelope recipients.
    #[arg(long, value_name = "LIST")]
    pub(crate) recipients: Option<String>,
    /// 'Name: value', added to the message and consulted first for originator and recipients (repeatable).
    #[arg(long = "header", value_name = "'Name: value'")]
    pub(crate) headers: Vec<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Connect to nothing: print the message as it would be sent, and the envelope on standard error.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print the SMTP dialogue on standard error (AUTH exchanges redacted).
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// No progress output (shown on a terminal for an upload of 1 MiB or more).
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// After a temporary failure, keep the message in the spool for
    /// `postie spool flush` (also on with the account's spool_on_failure).
    #[arg(long)]
    pub(crate) spool_on_failure: bool,
    /// Do not send now: keep the message in the spool, due at once, for a
    /// relayer (`postie spool run`) or `postie spool flush` (sendmail's
    /// `-odq`). Prints the spool id; `--json`: `"outcome": "queued"`.
    #[arg(long, conflicts_with = "dry_run")]
    pub(crate) defer: bool,
    /// Where --spool-on-failure keeps the message.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Log each message's outcome to this file, one line (time, account, server, TLS, AUTH, envelope, size, reply, queue id, exit status; never a secret). Also the account's log_file.
    #[arg(long, value_name = "FILE")]
    pub(crate) log_file: Option<PathBuf>,
    /// Log each message's outcome to syslog (/dev/log): --syslog (LOG_USER) or --syslog=LOG_MAIL, LOG_LOCAL0 ... Also the account's syslog.
    #[arg(long, value_name = "FACILITY", num_args = 0..=1, require_equals = true, default_missing_value = "on")]
    pub(crate) syslog: Option<String>,
    /// Replace each recipient without a domain (cron's `root`) by its alias from this file, in /etc/aliases form ('root: admin@example.org'; 'default:' for any other). Also the account's aliases.
    #[arg(long, value_name = "FILE")]
    pub(crate) aliases: Option<PathBuf>,
    /// The aliases were applied to the recipients (they are applied once).
    #[arg(skip)]
    pub(crate) aliases_applied: bool,
    /// Use this account of the accounts file (default: the file's `default`).
    #[arg(long, value_name = "NAME")]
    pub(crate) account: Option<String>,
    /// sendmail's -F: the full name in the From made for a message that
    /// lacks one (with the envelope sender's address). Hidden: `postie
    /// sendmail` passes it.
    #[arg(long, value_name = "NAME", hide = true)]
    pub(crate) full_name: Option<String>,
    /// The accounts file. Default: the first found of
    /// $XDG_CONFIG_HOME/postie/config.toml, ~/.msmtprc,
    /// $XDG_CONFIG_HOME/msmtp/config, /etc/postie/config.toml, /etc/msmtprc.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Build the message: its From.
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: Option<String>,
    /// Build the message: To (repeatable, or a comma list).
    #[arg(long, value_name = "ADDR")]
    pub(crate) to: Vec<String>,
    /// Build the message: Cc (repeatable, or a comma list).
    #[arg(long, value_name = "ADDR")]
    pub(crate) cc: Vec<String>,
    /// Build the message: Bcc (repeatable, or a comma list); never sent as a header.
    #[arg(long, value_name = "ADDR")]
    pub(crate) bcc: Vec<String>,
    /// Build the message: its Subject.
    #[arg(long, value_name = "TEXT")]
    pub(crate) subject: Option<String>,
    /// Build the message: its text.
    #[arg(long, value_name = "TEXT")]
    pub(crate) body: Option<String>,
    /// Build the message: an HTML alternative (a file's contents when FILE_OR_TEXT names a file, else the text itself; one word ending in .html or .htm that names no file is an error).
    #[arg(long, value_name = "FILE_OR_TEXT", conflicts_with = "html_file")]
    pub(crate) html: Option<String>,
    /// Build the message: an HTML alternative read from this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) html_file: Option<PathBuf>,
    /// Build the message: attach this file (repeatable); its type is guessed from its name.
    #[arg(long, value_name = "FILE")]
    pub(crate) attach: Vec<PathBuf>,
    /// Build the message: an inline image (repeatable), shown by the HTML as cid:FILENAME.
    #[arg(long, value_name = "FILE")]
    pub(crate) inline: Vec<PathBuf>,
    /// Build the message: its Reply-To.
    #[arg(long, value_name = "ADDR")]
    pub(crate) reply_to: Option<String>,
    /// The message file; '-' or nothing reads standard input.
    #[arg(value_name = "MESSAGE")]
    pub(crate) message: Option<PathBuf>,
}

/// The flags of `postie send` that say how to send (not what): they make
/// one [`postie_smtp::TransportSettings`] ([`TransportArgs::settings`]),
/// which the spool keeps whole, so a flag added here cannot be dropped
/// when a kept message is sent again.
#[derive(Clone, Debug, Args)]
pub(crate) struct TransportArgs {
    /// Servers tried in order (repeatable, or a comma list). Default: localhost.
    #[arg(long = "server", value_name = "HOST", value_delimiter = ',')]
    pub(crate) servers: Vec<String>,
    /// Ports paired one-to-one with --server (repeatable, or a comma list). Default: 25.
    #[arg(long = "port", value_name = "N", value_delimiter = ',')]
    pub(crate) ports: Vec<u16>,
    /// The EHLO/HELO name. Default: localhost when the only server is localhost, else the host name.
    #[arg(long, value_name = "NAME")]
    pub(crate) client: Option<String>,
    /// Send when at least one recipient is accepted (default: all or nothing).
    #[arg(long)]
    pub(crate) at_least_one: bool,
    /// Limit in seconds for each stage (connect, each reply); default 60. The reply to the end of data gets at least 600.
    #[arg(long, value_name = "SECS")]
    pub(crate) timeout: Option<f64>,
    /// Limit in seconds for the whole send, every server included.
    #[arg(long, value_name = "SECS")]
    pub(crate) deadline: Option<f64>,
    /// TLS: starttls (upgrade when offered; the default), none, required (fail before MAIL without TLS), implicit (TLS from the first byte; port 465 by default).
    #[arg(long, value_enum)]
    pub(crate) tls: Option<TlsArg>,
    /// When STARTTLS is refused or its handshake or certificate fails: secure = try the next server, insecure = go on without TLS. Default: a refused STARTTLS goes on in clear, a failed handshake or certificate is secure.
    #[arg(long, value_enum)]
    pub(crate) tls_policy: Option<PolicyArg>,
    /// Trust the CAs in this PEM file besides the system's (repeatable).
    #[arg(long, value_name = "PEM")]
    pub(crate) ca_file: Vec<PathBuf>,
    /// Accept any certificate (dangerous: warns on every use).
    #[arg(long)]
    pub(crate) insecure_skip_verify: bool,
    /// Pin the server's certificate by its SHA-256 fingerprint, as `postie
    /// probe` prints it (sha256:AB:CD:...; repeatable: any of them). Without
    /// --ca-file the fingerprint alone decides (chain, name and dates are
    /// not checked, as msmtp's tls_fingerprint); with --ca-file both must pass.
    #[arg(
        long = "tls-fingerprint",
        value_name = "sha256:HEX",
        value_parser = parse_fingerprint,
        conflicts_with = "insecure_skip_verify"
    )]
    pub(crate) tls_fingerprint: Vec<postie_smtp::tls::Fingerprint>,
    /// TLS client certificate chain (PEM); needs --client-key.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub(crate) client_cert: Option<PathBuf>,
    /// TLS client private key (PEM); needs --client-cert.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub(crate) client_key: Option<PathBuf>,
    // The user, where the secret comes from, and the mechanisms.
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
    /// Do not pipeline MAIL, RCPT and DATA even when the server offers PIPELINING.
    #[arg(long)]
    pub(crate) no_pipelining: bool,
    /// DSN: when to report on each recipient: never, or a comma list of
    /// success, failure, delay (sent where the server offers DSN).
    #[arg(long, value_name = "LIST", value_parser = parse_notify)]
    pub(crate) dsn_notify: Option<postie_smtp::dsn::Notify>,
    /// DSN: what a report returns: the full message or only its headers.
    #[arg(long, value_name = "full|hdrs", value_parser = parse_ret)]
    pub(crate) dsn_ret: Option<postie_smtp::dsn::Ret>,
    /// DSN: the envelope identifier reports quote (1 to 100 printable ASCII characters).
    #[arg(long, value_name = "ID", value_parser = parse_envid)]
    pub(crate) envid: Option<String>,
    /// REQUIRETLS (RFC 8689): only over verified TLS, here and on every later hop;
    /// a server that does not offer it does not get the message.
    #[arg(long)]
    pub(crate) requiretls: bool,
    /// Speak LMTP (LHLO; one reply per recipient after the data); a --server
    /// that is a path starting with / is a Unix socket.
    #[arg(long)]
    pub(crate) lmtp: bool,
    /// Send with DATA even when the server offers CHUNKING (BDAT).
    #[arg(long)]
    pub(crate) no_chunking: bool,
    /// Ask the server to queue the message (XQUE/QUED where offered).
    #[arg(long)]
    pub(crate) queue: bool,
    /// Connect through this SOCKS5 proxy: socks5://[USER@]HOST[:PORT] (port
    /// 1080 by default). The proxy resolves the server names; TLS is checked
    /// against the server's name. A USER's password comes from
    /// --proxy-password-env, never the URL.
    #[arg(long, value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Read the proxy user's password from this environment variable.
    #[arg(long, value_name = "VAR", requires = "proxy")]
    pub(crate) proxy_password_env: Option<String>,
    /// Connect from this local address (for a host with several; with
    /// --proxy, the connection to the proxy). Only the server's addresses of
    /// its family are tried.
    #[arg(long, value_name = "ADDR")]
    pub(crate) source_ip: Option<std::net::IpAddr>,
    /// Sign with DKIM using the private key in FILE (PEM or DER, RSA of
    /// 2048-4096 bits or Ed25519; mode 600). Repeatable: two keys, two
    /// signatures (RSA and Ed25519, as RFC 8463 suggests).
    #[arg(long, value_name = "FILE", requires = "dkim_selector")]
    pub(crate) dkim_key: Vec<PathBuf>,
    /// The selector of each --dkim-key, in order (s=: the key is published at
    /// SELECTOR._domainkey.DOMAIN).
    #[arg(long, value_name = "SELECTOR", requires = "dkim_key")]
    pub(crate) dkim_selector: Vec<String>,
    /// The signing domain (d=): one for every key, or one per key. Default:
    /// the domain of the message's From address.
    #[arg(long, value_name = "DOMAIN", requires = "dkim_key")]
    pub(crate) dkim_domain: Vec<String>,
    /// DKIM canonicalization, HEADER/BODY: relaxed/relaxed (the default),
    /// simple/simple, relaxed/simple or simple/relaxed.
    #[arg(long, value_name = "HEADER/BODY", requires = "dkim_key")]
    pub(crate) dkim_canon: Option<String>,
    /// The fields to sign, colon-separated (From is always signed, and
    /// over-signed). Default: From, To, Cc, Subject, Date, Message-ID,
    /// Reply-To, In-Reply-To, References, MIME-Version, Content-Type,
    /// Content-Transfer-Encoding and List-* where present.
    #[arg(long, value_name = "NAME:NAME...", requires = "dkim_key")]
    pub(crate) dkim_headers: Option<String>,
}

/// Who authenticates and with what secret: `postie send`'s flags, which
/// `postie probe` shares to test AUTH.
#[derive(Clone, Debug, Args)]
pub(crate) struct CredentialArgs {
    /// AUTH as this user (the secret comes from --password-env, --password-file or --oauth-token-env, never the command line).
    #[arg(long, value_name = "USER")]
    pub(crate) username: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["password_file", "oauth_token_env"])]
    pub(crate) password_env: Option<String>,
    /// Read the password from this file (its first line).
    #[arg(long, value_name = "FILE", conflicts_with = "oauth_token_env")]
    pub(crate) password_file: Option<PathBuf>,
    /// Read an OAuth 2.0 token from this environment variable (OAUTHBEARER, XOAUTH2).
    #[arg(long, value_name = "VAR")]
    pub(crate) oauth_token_env: Option<String>,
    /// Only these SASL mechanisms, in this order (comma list).
    #[arg(long, value_name = "MECH,...", value_delimiter = ',')]
    pub(crate) auth: Vec<String>,
    /// Allow PLAIN/LOGIN over an unencrypted connection to a non-loopback host.
    #[arg(long)]
    pub(crate) allow_plaintext_auth: bool,
}

impl SendArgs {
    /// Whether the message is built from flags rather than read.
    pub(crate) fn builds_message(&self) -> bool {
        self.from.is_some()
            || !self.to.is_empty()
            || !self.cc.is_empty()
            || !self.bcc.is_empty()
            || self.subject.is_some()
            || self.body.is_some()
            || self.html.is_some()
            || self.html_file.is_some()
            || !self.attach.is_empty()
            || !self.inline.is_empty()
            || self.reply_to.is_some()
    }
}

/// `postie probe`.
#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// The server: HOST or HOST:PORT ([IPv6]:PORT). Default port: 465 with
    /// --tls implicit, 24 with --lmtp, else 25. A path starting with / is a
    /// Unix socket (as for send --server; STARTTLS is not tried there).
    #[arg(value_name = "HOST[:PORT]")]
    pub(crate) target: String,
    /// starttls (try STARTTLS when offered), none, required (fail without
    /// it), implicit (TLS from the first byte).
    #[arg(long, value_enum, default_value = "starttls")]
    pub(crate) tls: TlsArg,
    /// Trust these CAs (PEM) besides the system's, when checking the
    /// certificate.
    #[arg(long, value_name = "PEM")]
    pub(crate) ca_file: Vec<PathBuf>,
    /// The EHLO name. Default: the machine's host name.
    #[arg(long, value_name = "NAME")]
    pub(crate) client: Option<String>,
    /// Limit for connecting and for each reply, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub(crate) timeout: f64,
    /// Print the findings as one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
    /// Speak LMTP (RFC 2033): LHLO instead of EHLO, no HELO fallback, as an
    /// LMTP server such as Dovecot's expects; a target that is a path
    /// starting with / is a Unix socket.
    #[arg(long)]
    pub(crate) lmtp: bool,
    /// The dialogue on standard error (every AUTH payload redacted).
    #[arg(short, long)]
    pub(crate) verbose: bool,
    // With --username: AUTH is tested after TLS (after the last EHLO),
    // reported, and followed by QUIT (never MAIL).
    #[command(flatten)]
    pub(crate) credentials: CredentialArgs,
}

/// `postie spool`.
#[derive(Debug, Args)]
pub(crate) struct SpoolArgs {
    /// Which spool.
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    #[command(subcommand)]
    pub(crate) command: SpoolCommand,
}

/// `--store`: which spool, for `postie spool` (before or after its
/// command) and `postie send --spool-on-failure`.
#[derive(Clone, Debug, Default, Args)]
pub(crate) struct StoreArgs {
    /// The spool: a folder's path, or postgres://ROLE@HOST[:PORT]/DB[?PARAM=VALUE...] (no password in it: PGPASSFILE, ~/.pgpass or PGPASSWORD). Default: $POSTIE_SPOOL_STORE, else $POSTIE_SPOOL_DIR, else the account's spool_store, else ~/.local/state/postie/spool.
    #[arg(long = "store", value_name = "PATH|URL", global = true)]
    pub(crate) store: Option<String>,
}

/// What to do with the spool.
#[derive(Debug, Subcommand)]
pub(crate) enum SpoolCommand {
    /// One line per message: id, state, age, attempts, next attempt,
    /// recipients, last error (for a damaged entry: what is wrong; exit 74).
    #[command(
        after_help = "Examples:\n  postie spool list\n  postie spool list --json --account work"
    )]
    List {
        /// Print a JSON array of objects instead.
        #[arg(long)]
        json: bool,
        /// Only the messages of this account.
        #[arg(long, value_name = "NAME")]
        account: Option<String>,
    },
    /// A message's record and its header.
    #[command(after_help = "Examples:\n  postie spool show 1796654482-118204-4711")]
    Show {
        /// The message's id (from `postie spool list`).
        id: String,
        /// Print one JSON object instead.
        #[arg(long)]
        json: bool,
    },
    /// Delete messages from the spool, unsent.
    #[command(after_help = "Examples:\n  postie spool remove 1796654482-118204-4711")]
    Remove {
        /// The messages' ids.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// Print a JSON array instead: `{"id", "removed", "error"}` for
        /// each id, in order.
        #[arg(long)]
        json: bool,
    },
    /// How many messages are in each state, the age of the oldest of each,
    /// and how many were sent and failed in the last minute and hour.
    #[command(after_help = "Examples:\n  postie spool stats\n  postie spool stats --json")]
    Stats {
        /// Print one JSON object instead.
        #[arg(long)]
        json: bool,
    },
    /// Make the store's tables, or bring them up to date (PostgreSQL's
    /// schema migrations); a folder store needs nothing.
    #[command(
        after_help = "Safe to run at any time, from any number of hosts at once: each migration is applied once, in one transaction, and a schema newer than this postie is refused (exit 78).\n\nExamples:\n  postie spool init --store postgres://postie@db.example.org/mail\n  POSTIE_SPOOL_STORE=postgres://postie@db.example.org/mail postie spool init --json"
    )]
    Init {
        /// Print one JSON object instead.
        #[arg(long)]
        json: bool,
    },
    /// Send every queued message whose next attempt is due.
    #[command(
        after_help = "Examples:\n  postie spool flush\n  postie spool flush --force --account work -v"
    )]
    Flush(FlushArgs),
    /// Relay the spool's messages as they become due, until stopped (a
    /// relayer; any number may share one PostgreSQL store, on any hosts).
    #[command(
        after_help = "Messages are claimed in batches, the data of a batch marked before its first message is sent and the results written together: a relayer killed while it sends leaves at most its open batch unknown (`postie spool flush --force` sends those again). A PostgreSQL store wakes its relayers when a message is queued (LISTEN/NOTIFY); a folder store is looked at every --poll. SIGTERM or SIGINT: the messages being sent finish, the rest of the batch is put back, and the relayer exits 0.\n\nExamples:\n  postie spool run --store postgres://postie@db.example.org/mail\n  postie spool run --once --batch 500 --connections 8"
    )]
    Run(RunArgs),
}

/// `postie spool run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Send what is due now, then exit (with `postie spool flush`'s exit
    /// codes).
    #[arg(long)]
    pub(crate) once: bool,
    /// At most this many messages claimed at once.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub(crate) batch: u32,
    /// The messages of a batch add up to at most this size (a larger one
    /// goes alone): they are held in memory while the batch goes. K, M or
    /// G (powers of 1024), or bytes.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_size)]
    pub(crate) batch_bytes: u64,
    /// Connections per server at most (and messages sent at once).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) connections: u32,
    /// Only the messages of this account.
    #[arg(long, value_name = "NAME")]
    pub(crate) account: Option<String>,
    /// Give a message up (to dead) when an attempt fails and it is older
    /// than this: 5d, 36h, 90m, or seconds. Default: the account's
    /// spool_max_age_days, else 5 days.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) max_age: Option<std::time::Duration>,
    /// The longest wait between two looks at the store: a folder store is
    /// looked at this often; a PostgreSQL store also wakes its relayers
    /// when a message is queued.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) poll: std::time::Duration,
    /// Trust a PostgreSQL store's writers with this relayer's secrets:
    /// send rows that name a password source, a DKIM key, a client
    /// certificate or an accounts file other than the relayer's, or an
    /// account together with servers of their own. Without it such rows
    /// are given up (dead) with the reason: whoever can insert a row could
    /// otherwise have a secret of this host sent to a server of their
    /// choosing. (A folder store is its user's alone: always trusted.)
    #[arg(long)]
    pub(crate) trust_rows: bool,
    /// Serve this relayer's metrics in Prometheus' text format at
    /// http://ADDR/metrics (a loopback address, e.g. 127.0.0.1:9108).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics: Option<String>,
    /// How long a claim holds a message of a PostgreSQL store: a relayer
    /// that stops (killed, its host lost) leaves its messages for this
    /// long, then another relayer takes them back. Longer than a batch
    /// takes to send.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub(crate) lease: std::time::Duration,
    /// How long a PostgreSQL store keeps the rows of sent messages (without
    /// their bytes), to look them up; then they are deleted.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub(crate) keep_sent: std::time::Duration,
    /// No line per message, no summary.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Also one JSON object per message on standard output, as it is
    /// judged (`{"id", "outcome", "text"}`), and `{"summary": {...}}` when
    /// the relayer stops.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print each SMTP dialogue on standard error (AUTH exchanges redacted).
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

/// `postie spool flush`.
#[derive(Debug, Args)]
pub(crate) struct FlushArgs {
    /// Ignore the waits between attempts, and send the messages whose
    /// outcome is unknown again too (they may then arrive twice).
    #[arg(long)]
    pub(crate) force: bool,
    /// Only the messages of this account.
    #[arg(long, value_name = "NAME")]
    pub(crate) account: Option<String>,
    /// Give a message up (to dead/) when an attempt fails and it is older
    /// than this: 5d, 36h, 90m, or seconds. Default: the account's
    /// spool_max_age_days, else 5 days.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) max_age: Option<std::time::Duration>,
    /// No line per message, no summary: the exit code says it.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Also one JSON object per message on standard output, as it is
    /// judged (`{"id", "outcome", "text"}`), then `{"summary": {...}}`.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print each SMTP dialogue on standard error (AUTH exchanges redacted).
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

/// `postie sink`.
#[derive(Debug, Args)]
pub(crate) struct SinkArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2525")]
    pub(crate) listen: String,
    /// Keep each message in this Maildir.
    #[arg(long, value_name = "DIR")]
    pub(crate) maildir: Option<PathBuf>,
    /// Print the whole dialogue.
    #[arg(short, long)]
    pub(crate) verbose: bool,
}

fn parse_notify(text: &str) -> Result<postie_smtp::dsn::Notify, String> {
    postie_smtp::dsn::Notify::parse(text).map_err(|e| e.to_string())
}

/// `--tls-fingerprint`: see [`postie_smtp::tls::Fingerprint`]'s forms.
fn parse_fingerprint(text: &str) -> Result<postie_smtp::tls::Fingerprint, String> {
    text.parse()
        .map_err(|e: postie_smtp::tls::FingerprintError| e.to_string())
}

fn parse_ret(text: &str) -> Result<postie_smtp::dsn::Ret, String> {
    postie_smtp::dsn::Ret::parse(text).map_err(|e| e.to_string())
}

fn parse_envid(text: &str) -> Result<String, String> {
    postie_smtp::dsn::check_envid(text)
        .map(|()| text.to_owned())
        .map_err(|e| e.to_string())
}

/// A number and its unit letter (lower case), `default` when it has none.
fn split_unit(text: &str, default: char) -> (&str, char) {
    match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_lowercase()),
        _ => (text, default),
    }
}

/// A size: a whole number of bytes, or of KiB, MiB or GiB with `K`, `M`
/// or `G`.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = split_unit(text, 'b');
    let shift = match unit {
        'b' => 0,
        'k' => 10,
        'm' => 20,
        'g' => 30,
        _ => {
            return Err(format!(
                "{text:?}: a size is bytes, or a number with K, M or G"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a size is bytes, or a number with K, M or G"))?;
    n.checked_mul(1 << shift)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?}: out of range"))
}

/// `--max-age`: a number with a unit, `s`, `m`, `h` or `d` (`5d`, `36h`),
/// or a plain number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = split_unit(text, 's');
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        _ => return Err(format!("{text:?}: the unit must be s, m, h or d")),
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .ok_or_else(|| format!("{text:?} is not a duration like 5d, 36h, 90m or 3600"))
}

/// `--dns-server`: an IP address, with a port or not (53).
fn parse_dns_server(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse::<std::net::SocketAddr>()
        .or_else(|_| {
            text.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("{text:?} is not an IP address (with an optional :PORT)"))
}

const DKIM_HELP: &str =
    "A DKIM key is a private key postie signs with (--dkim-key) and a public key \
published as a TXT record at SELECTOR._domainkey.DOMAIN, where receivers fetch it. `postie dkim \
keygen` makes Ed25519 and RSA keys; `postie dkim record` prints the record of a key made elsewhere \
(openssl).

Examples:
  postie dkim keygen --domain example.org --selector mail2026
  postie dkim record --key rsa.pem --domain example.org --selector rsa2026
  dig +short TXT mail2026._domainkey.example.org > keys.txt
  postie dkim verify message.eml --txt keys.txt";

/// `postie dkim`.
#[derive(Debug, Args)]
pub(crate) struct DkimArgs {
    #[command(subcommand)]
    pub(crate) command: DkimCommand,
}

/// What to do with DKIM keys and signatures.
#[derive(Debug, Subcommand)]
pub(crate) enum DkimCommand {
    /// Make a signing key (Ed25519 or RSA), write it with mode 600, and
    /// print the DNS TXT record to publish.
    #[command(after_help = DKIM_KEYGEN_HELP)]
    Keygen(DkimKeygenArgs),
    /// Print the DNS TXT record that publishes a private key's public half.
    #[command(
        after_help = "The key must be yours and readable by you alone (chmod 600), as for --dkim-key.\n\nExamples:\n  postie dkim record --key rsa.pem --domain example.org --selector rsa2026"
    )]
    Record(DkimRecordArgs),
    /// Verify every DKIM signature of a message, one line each; exit 0 when
    /// all pass.
    #[command(after_help = DKIM_VERIFY_HELP)]
    Verify(DkimVerifyArgs),
}

const DKIM_KEYGEN_HELP: &str = "The key file is created new (an existing file or link is never \
overwritten: exit 73) with mode 600, as PKCS#8 PEM. The record goes to standard output, so it can \
be kept as a --txt file for `postie dkim verify`; TXT strings are at most 255 bytes, so an RSA \
record is split into several, which DNS joins. Ed25519 (RFC 8463) is not yet known to every \
verifier: sign with both (--dkim-key twice) during the transition.

Examples:
  postie dkim keygen --domain example.org --selector mail2026 --out /etc/postie/dkim.pem
  postie dkim keygen --domain example.org --selector rsa2026 --algorithm rsa2048";

const DKIM_VERIFY_HELP: &str = "One line per signature: `pass d=DOMAIN s=SELECTOR a=ALGORITHM`, with \
warnings in parentheses (a 1024-bit RSA key, l= leaving part of the body unsigned), or `fail ...: \
REASON`, or `temperror ...`. Exit 0: every signature passed; 65: one failed; 75: a key could not be \
looked up; 1: the message has no DKIM-Signature. The keys are looked up in DNS (the resolvers of \
/etc/resolv.conf, or --dns-server), or come from --txt FILE, whose lines are `NAME VALUE`, \
zone-file records (`NAME [TTL] [IN] TXT \"...\" \"...\"`, as `dig +noall +answer` and `postie dkim \
keygen` print them), or quoted strings alone (as `dig +short` prints them), which answer for any \
name: a key not yet published can be checked.

Examples:
  postie dkim verify message.eml
  postie dkim verify message.eml --dns-server 9.9.9.9
  postie dkim keygen --domain example.org --selector mail2026 > keys.txt
  postie dkim verify message.eml --txt keys.txt
  postie dkim verify message.eml --txt keys.txt --json";

/// `--algorithm` of `postie dkim keygen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DkimAlgorithmArg {
    /// Ed25519 (RFC 8463): small keys and signatures; made by postie.
    Ed25519,
    /// RSA of 2048 bits (rsa-sha256), which every verifier knows.
    Rsa2048,
}

/// `postie dkim keygen`.
#[derive(Debug, Args)]
pub(crate) struct DkimKeygenArgs {
    /// The signing domain (d=), whose DNS publishes the key.
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) domain: String,
    /// The selector (s=): the key's name under DOMAIN (e.g. mail2026).
    #[arg(long, value_name = "SELECTOR")]
    pub(crate) selector: String,
    /// ed25519 (the default) or rsa2048.
    #[arg(long, value_enum, default_value = "ed25519")]
    pub(crate) algorithm: DkimAlgorithmArg,
    /// Write the private key here (never over an existing file). Default:
    /// SELECTOR._domainkey.DOMAIN.pem in the current directory.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
}

/// `postie dkim record`.
#[derive(Debug, Args)]
pub(crate) struct DkimRecordArgs {
    /// The private key (PEM or DER: PKCS#8 or PKCS#1 RSA, PKCS#8 Ed25519).
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// The signing domain (d=).
    #[arg(long, value_name = "DOMAIN")]
    pub(crate) domain: String,
    /// The selector (s=).
    #[arg(long, value_name = "SELECTOR")]
    pub(crate) selector: String,
}

/// `postie dkim verify`.
#[derive(Debug, Args)]
pub(crate) struct DkimVerifyArgs {
    /// The message file; '-' reads standard input.
    #[arg(value_name = "MESSAGE")]
    pub(crate) message: PathBuf,
    /// The key records, from this file instead of DNS.
    #[arg(long, value_name = "FILE", conflicts_with = "dns_server")]
    pub(crate) txt: Option<PathBuf>,
    /// Ask this DNS resolver (IP[:PORT]) instead of /etc/resolv.conf's.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_dns_server)]
    pub(crate) dns_server: Option<std::net::SocketAddr>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub(crate) json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn durations_are_seconds_or_a_number_with_a_unit() {
        assert_eq!(parse_duration("5d").unwrap().as_secs(), 5 * 86400);
        assert_eq!(parse_duration("36h").unwrap().as_secs(), 36 * 3600);
        assert_eq!(parse_duration("90m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("3600").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("0").unwrap().as_secs(), 0);
        assert_eq!(parse_duration("1.5h").unwrap().as_secs(), 5400);
        for bad in ["", "d", "5w", "-1d", "x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_are_bytes_or_powers_of_1024() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("1T").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
