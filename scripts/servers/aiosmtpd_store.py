#!/usr/bin/env python3
r"""Store-everything SMTP server for postie's integration tests.

Run as:

    python3 scripts/servers/aiosmtpd_store.py --listen 127.0.0.1:10026 \
        --dir DIR [--pidfile FILE] [--oauth-user USER --oauth-token TOKEN]

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

With --oauth-user and --oauth-token (the OAuth server, 127.0.0.1:10031):

* AUTH is required before MAIL ("530 5.7.0 Authentication required") and is
  offered over plain TCP (it is loopback only): "AUTH OAUTHBEARER XOAUTH2".
  PLAIN and LOGIN are not offered.
* XOAUTH2 (Google's format): the client response, as initial response or
  after an empty "334 " challenge, is
  base64("user=" USER "\x01auth=Bearer " TOKEN "\x01\x01").
  Right user and token: "235 2.7.0 Authentication successful". Anything else
  that parses: the JSON error challenge Gmail sends,
    334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==
  ({"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}),
  and after the client's reply (normally empty)
  "535 5.7.8 Authentication credentials invalid".
* OAUTHBEARER (RFC 7628): base64("n,a=" USER ",\x01" ["host=...\x01"
  "port=...\x01"] "auth=Bearer " TOKEN "\x01\x01"); the "a=" part may be
  left out (the token names the user), but if present it must be USER. A
  wrong token gets the RFC 7628 error challenge
  base64({"status":"invalid_token","schemes":"Bearer","scope":"https://mail.google.com/"}),
  to which the client answers "\x01" (AQ==), then 535 5.7.8 as above.
* A response that is not in the mechanism's format: "501 5.5.2 ..." at once,
  without the error challenge. "*" cancels: "501 5.7.0 Auth aborted".
* The .json of a message sent after AUTH has an extra member
  "auth": {"mechanism": "XOAUTH2" or "OAUTHBEARER", "user": USER}.
"""

import argparse
import base64
import binascii
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, AuthResult

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
        login = getattr(session, "auth_data", None)
        if isinstance(login, OAuthLogin):
            meta["auth"] = {"mechanism": login.mechanism, "user": login.user}
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


class OAuthLogin:
    """What a successful XOAUTH2 / OAUTHBEARER exchange leaves in the session."""

    def __init__(self, mechanism, user):
        self.mechanism = mechanism
        self.user = user

    def __repr__(self):
        return "OAuthLogin(%r, %r)" % (self.mechanism, self.user)


def _json_b64(obj):
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode("ascii"))


# Gmail's XOAUTH2 failure challenge, byte for byte.
XOAUTH2_ERROR = _json_b64({"status": "401", "schemes": "Bearer",
                           "scope": "https://mail.google.com/"})
# RFC 7628 section 3.2.2 error for OAUTHBEARER.
OAUTHBEARER_ERROR = _json_b64({"status": "invalid_token", "schemes": "Bearer",
                               "scope": "https://mail.google.com/"})
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"

_XOAUTH2_RE = re.compile(r"user=([^\x01]+)\x01auth=([^\x01]+)\x01\x01")
_BEARER_RE = re.compile(r"bearer +(\S+)", re.IGNORECASE)


def _gs2_unescape(value):
    """RFC 5801 saslname: "=2C" is ",", "=3D" is "="; any other "=" is bad."""
    if re.search(r"=(?!2C|3D)", value):
        return None
    return value.replace("=2C", ",").replace("=3D", "=")


class OAuthStoreHandler(StoreHandler):
    """StoreHandler plus the XOAUTH2 and OAUTHBEARER mechanisms.

    aiosmtpd offers every handler method named auth_<MECHANISM>; it calls it
    as method(server, args), args being the AUTH command's arguments.
    (Attributes must not start with "auth_": they would become mechanisms.)
    """

    def __init__(self, directory, oauth_user, oauth_token):
        super().__init__(directory)
        self.oauth_user = oauth_user
        self.oauth_token = oauth_token

    @staticmethod
    async def _client_response(server, args):
        """The initial response, or the answer to an empty 334 challenge.
        None when a reply has already been sent (bad base64, "*")."""
        if len(args) >= 2:
            if args[1] == "=":
                return b""
            try:
                return base64.b64decode(args[1], validate=True)
            except binascii.Error:
                await server.push("501 5.5.2 Can't decode base64")
                return None
        response = await server.challenge_auth(b"")
        return None if response is MISSING else response

    @staticmethod
    async def _fail(server, error_challenge, mechanism):
        logging.info("AUTH %s: invalid credentials", mechanism)
        # The client answers the error challenge (XOAUTH2: empty line,
        # OAUTHBEARER: ^A); whatever it says, the exchange fails.
        answer = await server.challenge_auth(error_challenge, encode_to_b64=False)
        if answer is MISSING:  # "*" or bad base64: aiosmtpd replied already
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=AUTH_INVALID)

    async def auth_XOAUTH2(self, server, args):
        data = await self._client_response(server, args)
        if data is None:
            return AuthResult(success=False, handled=True)
        match = _XOAUTH2_RE.fullmatch(data.decode("utf-8", "replace"))
        bearer = match and _BEARER_RE.fullmatch(match.group(2))
        if not bearer:
            await server.push("501 5.5.2 malformed XOAUTH2 response, expected "
                              "user=USER^Aauth=Bearer TOKEN^A^A")
            return AuthResult(success=False, handled=True)
        user, token = match.group(1), bearer.group(1)
        if user == self.oauth_user and token == self.oauth_token:
            logging.info("AUTH XOAUTH2 as %s", user)
            return AuthResult(success=True, auth_data=OAuthLogin("XOAUTH2", user))
        return await self._fail(server, XOAUTH2_ERROR, "XOAUTH2")

    async def auth_OAUTHBEARER(self, server, args):
        data = await self._client_response(server, args)
        if data is None:
            return AuthResult(success=False, handled=True)
        text = data.decode("utf-8", "replace")
        # gs2-header "n,a=USER," or "n,," ("y" for "n" is fine too; "p",
        # channel binding, is not), ^A, key=value pairs each ended by ^A,
        # and a final ^A.
        header, sep, rest = text.partition("\x01")
        fields = header.split(",")
        user = None
        ok = bool(sep) and len(fields) == 3 and fields[0] in ("n", "y") and fields[2] == ""
        if ok and fields[1]:
            ok = fields[1].startswith("a=")
            user = _gs2_unescape(fields[1][2:]) if ok else None
            ok = user is not None
        token = None
        if ok and rest.endswith("\x01\x01"):
            for pair in rest[:-2].split("\x01"):
                key, eq, value = pair.partition("=")
                if not eq or not key:
                    ok = False
                elif key == "auth":
                    bearer = _BEARER_RE.fullmatch(value)
                    token = bearer.group(1) if bearer else None
        else:
            ok = False
        if not ok or token is None:
            await server.push("501 5.5.2 malformed OAUTHBEARER response, expected "
                              "n,a=USER,^Aauth=Bearer TOKEN^A^A")
            return AuthResult(success=False, handled=True)
        if token == self.oauth_token and user in (None, self.oauth_user):
            logging.info("AUTH OAUTHBEARER as %s", self.oauth_user)
            return AuthResult(success=True,
                              auth_data=OAuthLogin("OAUTHBEARER", self.oauth_user))
        return await self._fail(server, OAUTHBEARER_ERROR, "OAUTHBEARER")


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
    parser.add_argument("--oauth-user",
                        help="require AUTH, offering only XOAUTH2 and OAUTHBEARER for this user")
    parser.add_argument("--oauth-token", help="the one access token accepted (with --oauth-user)")
    args = parser.parse_args(argv)
    if bool(args.oauth_user) != bool(args.oauth_token):
        parser.error("--oauth-user and --oauth-token go together")

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    host, port = args.listen
    directory = os.path.abspath(args.dir)
    if args.oauth_user:
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
        handler = OAuthStoreHandler(directory, args.oauth_user, args.oauth_token)
        auth_options = dict(
            auth_required=True,
            # Loopback only, so AUTH in clear is fine (aiosmtpd warns).
            auth_require_tls=False,
            auth_exclude_mechanism=["PLAIN", "LOGIN"],
        )
    else:
        handler = StoreHandler(directory)
        auth_options = {}
    controller = Controller(
        handler,
        hostname=host,
        port=port,
        server_hostname=args.hostname,
        enable_SMTPUTF8=True,
        decode_data=False,
        **auth_options,
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
