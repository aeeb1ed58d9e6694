#!/usr/bin/env python3
"""Store-everything SMTP server for postie's integration tests.

Run as:

    python3 scripts/servers/aiosmtpd_store.py --listen 127.0.0.1:10026 \
        --dir DIR [--pidfile FILE]

Behaviour (the tests rely on it):

* RCPT TO whose local part starts with "reject" (case-insensitive) is refused
  with "550 5.1.1 no such user"; one starting with "defer" with
  "450 4.2.1 try again later". Every other recipient is accepted.
* Each accepted message is written to DIR as two files, numbered from 1 and
  zero-padded to six digits so that the names sort:
    - NNNNNN.json  {"mail_from", "rcpt_tos", "mail_options", "rcpt_options"}
    - NNNNNN.eml   the DATA bytes exactly as received (after dot-unstuffing,
                   CRLF line endings kept, nothing added: no Received:, no
                   X-Peer:, no decoding)
  Both are written to a temporary name and renamed into place; the .json is
  renamed first, so once NNNNNN.eml exists both files are complete.
* SMTPUTF8 is offered. aiosmtpd upper-cases MAIL/RCPT parameters, accepts only
  SIZE, BODY and SMTPUTF8 on MAIL FROM and refuses every RCPT TO parameter
  (e.g. NOTIFY=, ORCPT=) with 555; that is aiosmtpd's behaviour, not ours.
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

from aiosmtpd.controller import Controller

REJECT_PREFIX = "reject"
DEFER_PREFIX = "defer"
REJECT_REPLY = "550 5.1.1 no such user"
DEFER_REPLY = "450 4.2.1 try again later"

_NAME_RE = re.compile(r"(\d+)\.(?:eml|json)")


def local_part(address):
    """Local part of an address, without surrounding quotes, lower-cased."""
    local = address.rsplit("@", 1)[0] if "@" in address else address
    return local.strip('"').lower()


class StoreHandler:
    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._lock = threading.Lock()
        self._next = self._first_free_number()

    def _first_free_number(self):
        highest = 0
        for name in os.listdir(self.directory):
            match = _NAME_RE.fullmatch(name)
            if match:
                highest = max(highest, int(match.group(1)))
        return highest + 1

    def _write_atomic(self, name, data):
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.rename(tmp, os.path.join(self.directory, name))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = local_part(address)
        if local.startswith(REJECT_PREFIX):
            return REJECT_REPLY
        if local.startswith(DEFER_PREFIX):
            return DEFER_REPLY
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
        }
        with self._lock:
            number = self._next
            self._next += 1
        stem = "%06d" % number
        try:
            self._write_atomic(
                stem + ".json",
                json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8") + b"\n",
            )
            self._write_atomic(stem + ".eml", envelope.original_content)
        except OSError as exc:
            logging.exception("cannot store message %s", stem)
            return "451 4.3.0 cannot store message: %s" % exc.strerror
        logging.info("stored message %s for %s", stem, meta["rcpt_tos"])
        return "250 OK stored as %s" % stem


def parse_listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 10026),
                        metavar="HOST:PORT")
    parser.add_argument("--dir", required=True, help="where messages are stored")
    parser.add_argument("--pidfile", help="write the process id here once listening")
    parser.add_argument("--hostname", default="aiosmtpd.test",
                        help="name used in the greeting and EHLO reply")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    host, port = args.listen
    controller = Controller(
        StoreHandler(os.path.abspath(args.dir)),
        hostname=host,
        port=port,
        server_hostname=args.hostname,
        enable_SMTPUTF8=True,
        decode_data=False,
    )

    # Block the stop signals before the server thread starts (it inherits the
    # mask), so that sigwait() below receives them at once.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)

    controller.start()
    logging.info("listening on %s:%d, storing in %s", host, port, args.dir)
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.pidfile)
    try:
        signal.sigwait(stop_signals)
    finally:
        controller.stop()
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
        logging.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
