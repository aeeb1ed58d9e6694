#!/usr/bin/env python3
r"""Store-everything LMTP server (RFC 2033) for postie's integration tests.

Run as:

    python3 scripts/servers/lmtp_store.py --listen 127.0.0.1:10036 \
        --unix-socket DIR/lmtp.sock --dir DIR/messages [--pidfile FILE]

One process serves both listeners (either may be left out, not both): TCP
on --listen and a Unix socket at --unix-socket (mode 0666, removed again when
the server stops). Both behave the same and store into the same --dir.

Behaviour (the tests rely on it):

* Greeting: "220 lmtp.test LMTP postie test server" (--hostname).
* LHLO is answered with
    250-lmtp.test
    250-SIZE 33554432
    250-8BITMIME
    250-SMTPUTF8
    250-PIPELINING
    250-ENHANCEDSTATUSCODES
    250 HELP
  EHLO and HELO are refused ('500 Error: command "EHLO" not recognized'),
  and MAIL before LHLO gets "503 Error: send LHLO first". Pipelined commands
  are answered in order.
* MAIL FROM -> "250 2.1.0 OK" (aiosmtpd upper-cases the parameters, accepts
  only SIZE, BODY and SMTPUTF8 and refuses others with 555). RSET and NOOP
  -> "250 2.0.0 OK".
* RCPT TO whose local part starts with "reject" (case-insensitive) ->
  "550 5.1.1 no such user"; a local part that cannot be a directory name
  (empty, starting with ".", containing "/" or NUL) ->
  "553 5.1.3 local part not usable as a mailbox name". Every other
  recipient -> "250 2.1.5 OK". aiosmtpd refuses every RCPT TO parameter
  (NOTIFY=, ORCPT=, ...) with 555.
* After the end of DATA: ONE REPLY PER ACCEPTED RECIPIENT, in RCPT order
  (the same address accepted twice gets two replies, and two stored copies).
  By local part (case-insensitive):
    lmtpfail*   "550 5.2.1 <addr> mailbox unavailable"
    lmtpdefer*  "452 4.2.2 <addr> mailbox full"
    otherwise   "250 2.0.0 <addr> delivered", and the message is stored
  (<addr> is the address as given in RCPT TO, without angle brackets).
  A recipient whose copy cannot be written gets
  "451 4.3.0 <addr> cannot store message: ...". A message over the SIZE
  limit gets "552 5.3.4 <addr> message too big" and one with a line over
  1000 octets + CRLF "500 5.5.0 <addr> line too long", once per
  recipient too; nothing is stored then.
* Storage, per delivered recipient: in DIR/<localpart>/ (local part
  lower-cased, quotes removed), numbered from 1 in each directory and
  zero-padded to six digits so that the names sort:
    - NNNNNN.json  {"mail_from", "rcpt_to", "mail_options", "rcpt_options"}
                   (rcpt_to: this recipient's address; rcpt_options: the
                   options of this recipient's RCPT TO)
    - NNNNNN.eml   the DATA bytes exactly as received (after dot-unstuffing,
                   CRLF line endings kept, nothing added)
  Both are written to a temporary name and renamed into place; the .json is
  renamed first, so once NNNNNN.eml exists both files are complete.
"""

import argparse
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading

from aiosmtpd.controller import Controller, UnixSocketController
from aiosmtpd.lmtp import LMTP

# The same RCPT-time refusal and address helpers as the SMTP store server
# (this directory is sys.path[0] when the script is run).
from aiosmtpd_store import REJECT_PREFIX, REJECT_REPLY, local_part, parse_listen

FAIL_PREFIX = "lmtpfail"
DEFER_PREFIX = "lmtpdefer"
BAD_MAILBOX_REPLY = "553 5.1.3 local part not usable as a mailbox name"

# aiosmtpd's single reply after a DATA it refused to take in, and what each
# recipient gets instead.
_DATA_ERRORS = (
    ("552 Error: Too much mail data", "552 5.3.4 <%s> message too big"),
    ("500 Line too long", "500 5.5.0 <%s> line too long"),
)

_NAME_RE = re.compile(r"(\d+)\.(?:eml|json)")


def mailbox_name(address):
    """The directory name for a recipient, or None if it cannot be one."""
    name = local_part(address)
    if not name or name.startswith(".") or "/" in name or "\0" in name:
        return None
    return name


def write_atomic(directory, name, data):
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(directory, name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class LMTPStoreHandler:
    """Shared by both listeners (each runs in its own thread)."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()
        self._next = {}  # mailbox directory -> next free number

    def _reserve(self, mailbox):
        """Create DIR/<mailbox>/ if needed; its path and the next number."""
        path = os.path.join(self.directory, mailbox)
        with self._lock:
            if path not in self._next:
                os.makedirs(path, exist_ok=True)
                highest = 0
                for name in os.listdir(path):
                    match = _NAME_RE.fullmatch(name)
                    if match:
                        highest = max(highest, int(match.group(1)))
                self._next[path] = highest + 1
            number = self._next[path]
            self._next[path] += 1
        return path, "%06d" % number

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # Called for LHLO (aiosmtpd's LMTP refuses EHLO itself). With this
        # hook aiosmtpd leaves setting host_name to us.
        session.host_name = hostname
        last = responses.pop()  # "250 HELP"
        responses += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", last]
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RSET(self, server, session, envelope):
        return "250 2.0.0 OK"

    async def handle_NOOP(self, server, session, envelope, arg):
        return "250 2.0.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if local_part(address).startswith(REJECT_PREFIX):
            return REJECT_REPLY
        if mailbox_name(address) is None:
            return BAD_MAILBOX_REPLY
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        # Per recipient, for the .json (envelope.rcpt_options is one flat list).
        if not hasattr(envelope, "lmtp_rcpt_options"):
            envelope.lmtp_rcpt_options = []
        envelope.lmtp_rcpt_options.append(list(rcpt_options))
        return "250 2.1.5 OK"

    def _deliver(self, envelope, address, rcpt_options):
        mailbox = mailbox_name(address)
        path, stem = self._reserve(mailbox)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_to": address,
            "mail_options": list(envelope.mail_options),
            "rcpt_options": rcpt_options,
        }
        write_atomic(path, stem + ".json",
                     json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8") + b"\n")
        write_atomic(path, stem + ".eml", envelope.original_content)
        return "%s/%s" % (mailbox, stem)

    async def handle_DATA(self, server, session, envelope):
        options = getattr(envelope, "lmtp_rcpt_options", [])
        replies = []
        for i, address in enumerate(envelope.rcpt_tos):
            local = local_part(address)
            if local.startswith(FAIL_PREFIX):
                replies.append("550 5.2.1 <%s> mailbox unavailable" % address)
            elif local.startswith(DEFER_PREFIX):
                replies.append("452 4.2.2 <%s> mailbox full" % address)
            else:
                try:
                    stored = self._deliver(envelope, address,
                                           options[i] if i < len(options) else [])
                except OSError as exc:
                    logging.exception("cannot store message for %s", address)
                    replies.append("451 4.3.0 <%s> cannot store message: %s"
                                   % (address, exc.strerror))
                    continue
                logging.info("stored message %s for %s", stored, address)
                replies.append("250 2.0.0 <%s> delivered" % address)
        # aiosmtpd pushes the string followed by CRLF: one reply per line.
        return "\r\n".join(replies)


class LMTPServer(LMTP):
    """aiosmtpd's LMTP, with the LMTP rule kept where aiosmtpd would send a
    single reply after DATA, and "send LHLO first" instead of HELO."""

    _in_data = False

    async def check_helo_needed(self, helo="LHLO"):
        return await super().check_helo_needed("LHLO")

    async def smtp_DATA(self, arg):
        self._in_data = True
        try:
            await super().smtp_DATA(arg)
        finally:
            self._in_data = False

    async def push(self, status):
        if self._in_data and isinstance(status, str) and self.envelope is not None:
            for prefix, per_rcpt in _DATA_ERRORS:
                if status.startswith(prefix):
                    status = "\r\n".join(per_rcpt % a for a in self.envelope.rcpt_tos)
                    break
        await super().push(status)


class LMTPController(Controller):
    def factory(self):
        return LMTPServer(self.handler, **self.SMTP_kwargs)


class LMTPUnixController(UnixSocketController):
    def factory(self):
        return LMTPServer(self.handler, **self.SMTP_kwargs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=parse_listen, metavar="HOST:PORT",
                        help="TCP address to listen on")
    parser.add_argument("--unix-socket", metavar="PATH", help="Unix socket to listen on")
    parser.add_argument("--dir", required=True,
                        help="where messages are stored (one directory per local part)")
    parser.add_argument("--pidfile", help="write the process id here once listening")
    parser.add_argument("--hostname", default="lmtp.test",
                        help="name used in the greeting and LHLO reply")
    args = parser.parse_args(argv)
    if not args.listen and not args.unix_socket:
        parser.error("give --listen, --unix-socket or both")

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    directory = os.path.abspath(args.dir)
    handler = LMTPStoreHandler(directory)
    smtp_options = dict(
        server_hostname=args.hostname,
        ident="LMTP postie test server",
        enable_SMTPUTF8=True,
        decode_data=False,
    )
    controllers = []
    if args.listen:
        host, port = args.listen
        controllers.append((LMTPController(handler, hostname=host, port=port, **smtp_options),
                            "%s:%d" % (host, port)))
    socket_path = os.path.abspath(args.unix_socket) if args.unix_socket else None
    if socket_path:
        controllers.append((LMTPUnixController(handler, unix_socket=socket_path, **smtp_options),
                            socket_path))

    # Block the stop signals before the server threads start (they inherit
    # the mask), so that sigwait() below receives them at once.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    started = []
    try:
        for controller, where in controllers:
            controller.start()
            started.append(controller)
            if where == socket_path:
                os.chmod(socket_path, 0o666)
            logging.info("listening on %s", where)
        logging.info("storing in %s", directory)
        if args.pidfile:
            tmp = args.pidfile + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % os.getpid())
            os.rename(tmp, args.pidfile)
        signal.sigwait(stop_signals)
    finally:
        for controller in started:
            controller.stop()
        # Only our own socket (asyncio does not remove it in Python < 3.13).
        if socket_path and any(isinstance(c, LMTPUnixController) for c in started):
            try:
                os.unlink(socket_path)
            except OSError:
                pass
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
        logging.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
