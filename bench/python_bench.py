#!/usr/bin/env python3
"""Python's smtplib and email package as a benchmark client.

Speaks the interface of bench-workloads.md, like postie-bench (see
bench/src/throughput.rs):

    python_bench.py --host H --port P --count N --size S --connections C
    python_bench.py --host H --port P --count 1 --size 1024 --connections 1 --attach FILE
    python_bench.py --build-only --count N [--out FILE]
      W6 adds: --tls starttls --ca-file FILE --username U --password-env VAR
      [--max-secs T]  not in the spec: start no message after T seconds

Every message is built from scratch with email.message.EmailMessage (policy
SMTP: CRLF line ends): the spec's From and To, a Subject, a fresh Date
(email.utils.formatdate) and Message-ID (email.utils.make_msgid), the text
body of exactly S bytes. C connections (smtplib.SMTP, one thread each) are
opened once and reused; each message goes out with send_message and the
bench's envelope. W6: STARTTLS with the CA file as the only trust anchor
(hostname checked), then AUTH PLAIN. Exit 0 only when every message got its
2xx; 1 when one did not; 2 for bad arguments; 3 for an unsupported mode.

Also the home of the spec's message inputs in Python (text_body, html_body,
invoice_pdf), which bench/compare.py uses to check what each client sends.
"""

import email.policy
import email.utils
import os
import smtplib
import ssl
import sys
import threading
import time
from email.message import EmailMessage

BIN = "python-bench"
EXIT_FAILED, EXIT_USAGE, EXIT_UNSUPPORTED = 1, 2, 3

FROM = '"Bench Sender" <sender@example.org>'
TO = '"Bench Sink" <sink@example.com>'
ENVELOPE_FROM = "sender@example.org"
ENVELOPE_TO = "sink@discard.test"
MESSAGE_ID_DOMAIN = "example.org"

LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua, ut enim ad minim veniam, quis nostrud "
         "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat")
LINE_MAX = 72
HTML_OPEN = "<html><body><p>\r\n"
HTML_CLOSE = "</p></body></html>\r\n"
HTML_SIZE = 2048
W5_TEXT_SIZE = 1024
PDF_NAME = "invoice.pdf"
PDF_SIZE = 4096


def text_body(size):
    """The spec's text body of exactly `size` bytes (bench/src/lib.rs has
    the same rules; bench/compare.py checks the two agree)."""
    words = LOREM.split(" ")
    out = []
    written = 0
    nxt = 0
    while True:
        left = size - written
        if left == 0:
            break
        if left == 1:
            out.append("x")
            break
        line = ""
        while True:
            word = words[nxt % len(words)]
            length = len(word) if not line else len(line) + 1 + len(word)
            if length > LINE_MAX:
                break
            line = word if not line else line + " " + word
            nxt += 1
        if len(line) + 2 < left:
            out.append(line + "\r\n")
            written += len(line) + 2
        else:
            last = line[: left - 2]
            if last.endswith(" "):
                last = last[:-1] + "x"
            out.append(last + "\r\n")
            break
    return "".join(out)


def html_body():
    return HTML_OPEN + text_body(HTML_SIZE - len(HTML_OPEN) - len(HTML_CLOSE)) + HTML_CLOSE


def invoice_pdf():
    return bytes((i * 31 + 7) % 256 for i in range(PDF_SIZE))


def new_message(subject):
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = FROM
    msg["To"] = TO
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(localtime=True)
    msg["Message-ID"] = email.utils.make_msgid(domain=MESSAGE_ID_DOMAIN)
    return msg


def text_message(n, body):
    msg = new_message(f"Bench message {n}")
    msg.set_content(body)
    return msg


def w5_message(n, text, html, pdf):
    """W5 message n, built and serialized."""
    msg = new_message(f"Your order {n} has shipped")
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=PDF_NAME)
    return msg.as_bytes()


def usage(text):
    print(f"{BIN}: {text}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def unsupported(text):
    print(f"{BIN}: unsupported: {text}", file=sys.stderr)
    sys.exit(EXIT_UNSUPPORTED)


def parse_args(argv):
    args = dict(host="127.0.0.1", port=25, count=1, size=1024, connections=1, driver=None,
                attach=None, build_only=False, out=None, tls=None, ca_file=None, username=None,
                password_env=None, max_secs=None)
    numbers = {"--port": "port", "--count": "count", "--size": "size",
               "--connections": "connections"}
    strings = {"--host": "host", "--driver": "driver", "--attach": "attach", "--out": "out",
               "--tls": "tls", "--ca-file": "ca_file", "--username": "username",
               "--password-env": "password_env"}
    i = 0
    while i < len(argv):
        flag = argv[i]
        if flag == "--build-only":
            args["build_only"] = True
            i += 1
            continue
        if flag in numbers or flag in strings or flag == "--max-secs":
            if i + 1 >= len(argv):
                usage(f"{flag} needs a value")
            value = argv[i + 1]
            try:
                if flag in numbers:
                    args[numbers[flag]] = int(value)
                elif flag == "--max-secs":
                    args["max_secs"] = float(value)
                else:
                    args[strings[flag]] = value
            except ValueError:
                usage(f"not a number: {value!r}")
            i += 2
            continue
        if flag.startswith("--"):
            unsupported(flag)
        usage(f"unexpected argument {flag!r}")
    if args["connections"] < 1:
        usage("--connections must be at least 1")
    if (args["username"] is None) != (args["password_env"] is None):
        usage("--username and --password-env go together")
    if args["tls"] is not None and args["ca_file"] is None:
        usage("--tls needs --ca-file")
    return args


def finish(args, sent, failed, count, start):
    secs = time.monotonic() - start
    rate = sent / secs if secs > 0 else 0.0
    print(f"RESULT msgs={sent} secs={secs:.3f} msgs_per_s={rate:.1f}", flush=True)
    complete = (sent > 0 or count == 0) if args["max_secs"] is not None else sent == count
    if failed or not complete:
        print(f"{failed} message(s) failed, {sent} of {count} sent", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    sys.exit(0)


def build_only(args):
    text, html, pdf = text_body(W5_TEXT_SIZE), html_body(), invoice_pdf()
    start = time.monotonic()
    stop = start + args["max_secs"] if args["max_secs"] is not None else None
    last = b""
    built = 0
    for n in range(1, args["count"] + 1):
        if stop is not None and time.monotonic() >= stop:
            break
        last = w5_message(n, text, html, pdf)
        built = n
    if args["out"]:
        try:
            with open(args["out"], "wb") as f:
                f.write(last)
        except OSError as e:
            print(f"{BIN}: {args['out']}: {e}", file=sys.stderr)
            sys.exit(EXIT_FAILED)
    finish(args, built, 0, args["count"], start)


class Run:
    """The counters shared by the connections' threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.failed = 0

    def failure(self, error):
        with self.lock:
            if self.failed == 0:
                print(f"{BIN}: {error}", file=sys.stderr, flush=True)
            self.failed += 1


def connect(args, tls):
    smtp = smtplib.SMTP(args["host"], args["port"], timeout=60)
    if tls is not None:
        smtp.starttls(context=tls["context"])
        smtp.ehlo()
        if tls["user"] is not None:
            smtp.user, smtp.password = tls["user"], tls["password"]
            smtp.auth("PLAIN", smtp.auth_plain)
    return smtp


def connection(args, tls, numbers, body, stop, run):
    try:
        smtp = connect(args, tls)
    except (OSError, smtplib.SMTPException) as e:
        run.failure(e)
        with run.lock:
            run.failed += len(numbers) - 1
        return
    for n in numbers:
        if stop is not None and time.monotonic() >= stop:
            break
        try:
            smtp.send_message(text_message(n, body), ENVELOPE_FROM, [ENVELOPE_TO])
            with run.lock:
                run.sent += 1
        except (OSError, smtplib.SMTPException) as e:
            run.failure(e)
            try:
                smtp.rset()
            except (OSError, smtplib.SMTPException):
                pass
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        pass


def tls_settings(args):
    if args["tls"] is None:
        return None
    if args["tls"] != "starttls":
        unsupported(f"--tls {args['tls']}")
    context = ssl.create_default_context(cafile=args["ca_file"])
    user = password = None
    if args["username"] is not None:
        user = args["username"]
        password = os.environ.get(args["password_env"])
        if password is None:
            print(f"{BIN}: the variable {args['password_env']} (--password-env) is not set",
                  file=sys.stderr)
            sys.exit(EXIT_FAILED)
    return {"context": context, "user": user, "password": password}


def send(args):
    tls = tls_settings(args)
    body = text_body(args["size"])
    count, conns = args["count"], args["connections"]
    shares = [count // conns + (1 if i < count % conns else 0) for i in range(conns)]
    run = Run()
    start = time.monotonic()
    stop = start + args["max_secs"] if args["max_secs"] is not None else None
    threads = []
    first = 1
    for share in shares:
        numbers = range(first, first + share)
        first += share
        t = threading.Thread(target=connection, args=(args, tls, numbers, body, stop, run))
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    finish(args, run.sent, run.failed, count, start)


def attach(args):
    if args["tls"] is not None:
        unsupported("--attach with --tls")
    start = time.monotonic()
    path = args["attach"]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        print(f"{BIN}: {path}: {e}", file=sys.stderr)
        sys.exit(EXIT_FAILED)
    msg = new_message("Bench message 1")
    msg.set_content(text_body(args["size"]))
    msg.add_attachment(data, maintype="application", subtype="octet-stream",
                       filename=os.path.basename(path))
    run = Run()
    try:
        smtp = connect(args, None)
        smtp.send_message(msg, ENVELOPE_FROM, [ENVELOPE_TO])
        run.sent = 1
    except (OSError, smtplib.SMTPException) as e:
        run.failure(e)
    else:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass
    finish(args, run.sent, run.failed, 1, start)


def main():
    args = parse_args(sys.argv[1:])
    if args["driver"] not in (None, "blocking"):
        unsupported(f"--driver {args['driver']} (smtplib is blocking)")
    if args["build_only"]:
        build_only(args)
    if args["attach"] is not None:
        attach(args)
    send(args)


if __name__ == "__main__":
    main()
