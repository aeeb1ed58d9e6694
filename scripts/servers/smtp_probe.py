#!/usr/bin/env python3
"""Small SMTP checks used by scripts/servers.sh (standard library only).

    smtp_probe.py greeting HOST:PORT... [--timeout S] [--expect TEXT]
                                        [--implicit-tls HOST:PORT]
                                        [--unix PATH]
        Poll until each server accepts a connection and greets with 220
        (containing TEXT, if given). Exit 1 on timeout. Addresses given
        with --implicit-tls are checked for a TLS handshake (certificate not
        verified) before the greeting; --unix PATH is a Unix socket.
    smtp_probe.py free HOST:PORT...
        Exit 0 if nothing accepts connections at any of them, 1 if something
        does; the busy addresses are printed, one a line.
    smtp_probe.py send HOST:PORT --from ADDR --to ADDR [--subject S]
                  [--lmtp] [--tls starttls|implicit --cafile CA]
                  [--user USER --password PASSWORD]
        Send one small message; exit 1 if it is not accepted. --lmtp: speak
        LMTP (LHLO). --tls: STARTTLS first, or TLS from the start (server
        verified against CA). --user: AUTH PLAIN first (UTF-8), which must
        succeed (235).
    smtp_probe.py rcpt HOST:PORT --to ADDR --expect CODE
                  [--starttls --cafile CA [--cert PEM --key KEY]]
        MAIL FROM + RCPT TO only; print the RCPT reply, exit 0 if its code
        is CODE. With --starttls: STARTTLS first (server verified against
        CA), presenting the client certificate PEM (key KEY) if given.
    smtp_probe.py auth HOST:PORT --tls starttls|implicit --cafile CA
                  --user USER --password PASSWORD [--mechanism PLAIN]
                  [--no-quit]
        TLS (verified against CA) and AUTH; exit 0 if AUTH succeeds (235).
        --no-quit: then hang up without QUIT, for a server that may close
        the connection right after AUTH (Dovecot's submission whose relay
        is down answers 421 instead of 221).
"""

import argparse
import base64
import smtplib
import socket
import ssl
import sys
import time


def parse_hostport(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def read_greeting(host, port, timeout, implicit_tls=False):
    """The greeting of the server at host:port, or at the Unix socket
    host when port is None."""
    if port is None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(host)
        except OSError:
            sock.close()
            raise
    else:
        sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.settimeout(timeout)
        if implicit_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=host)
        data = b""
        # Read the whole (possibly multi-line) greeting.
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            lines = data.split(b"\r\n")
            complete = lines[:-1]
            if complete and len(complete[-1]) >= 4 and complete[-1][3:4] == b" ":
                break
        try:
            sock.sendall(b"QUIT\r\n")
        except OSError:
            pass
        return data.decode("utf-8", "replace").strip()
    finally:
        sock.close()


def cmd_greeting(args):
    deadline = time.monotonic() + args.timeout
    targets = [(address, False) for address in args.address]
    targets += [(address, True) for address in args.implicit_tls]
    targets += [((path, None), False) for path in args.unix]
    for (host, port), implicit_tls in targets:
        last = "no attempt"
        while True:
            try:
                greeting = read_greeting(host, port, 5, implicit_tls)
                if greeting.startswith("220") and (args.expect is None or args.expect in greeting):
                    print(greeting)
                    break
                last = "unexpected greeting %r" % greeting
            except OSError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                where = host if port is None else "%s:%d" % (host, port)
                print("no 220 greeting from %s within %ss (%s)" % (where, args.timeout, last),
                      file=sys.stderr)
                return 1
            time.sleep(0.1)
    return 0


def cmd_free(args):
    rc = 0
    for host, port in args.address:
        try:
            with socket.create_connection((host, port), timeout=2):
                print("%s:%d" % (host, port))
                rc = 1
        except OSError:
            pass
    return rc


def cmd_send(args):
    host, port = args.address
    message = (
        "From: <%s>\r\n"
        "To: <%s>\r\n"
        "Subject: %s\r\n"
        "\r\n"
        "Probe message sent by postie's scripts/servers.sh.\r\n" % (args.sender, args.rcpt, args.subject)
    )
    try:
        if args.lmtp:
            smtp = smtplib.LMTP(host, port, local_hostname="probe.test", timeout=20)
        elif args.tls == "implicit":
            smtp = smtplib.SMTP_SSL(host, port, local_hostname="probe.test", timeout=20,
                                    context=ssl.create_default_context(cafile=args.cafile))
        else:
            smtp = smtplib.SMTP(host, port, local_hostname="probe.test", timeout=20)
        with smtp:
            if args.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context(cafile=args.cafile))
            if args.user is not None:
                # By hand: smtplib encodes AUTH PLAIN's credentials as ASCII.
                smtp.ehlo_or_helo_if_needed()
                token = "\0%s\0%s" % (args.user, args.password)
                code, text = smtp.docmd(
                    "AUTH", "PLAIN " + base64.b64encode(token.encode("utf-8")).decode("ascii"))
                if code != 235:
                    raise smtplib.SMTPAuthenticationError(code, text)
            refused = smtp.sendmail(args.sender, [args.rcpt], message.encode("ascii"))
    except (smtplib.SMTPException, OSError) as exc:
        print("sending a probe to %s via %s:%d failed: %s" % (args.rcpt, host, port, exc),
              file=sys.stderr)
        return 1
    if refused:
        print("probe refused: %r" % (refused,), file=sys.stderr)
        return 1
    return 0


def cmd_rcpt(args):
    host, port = args.address
    try:
        with smtplib.SMTP(host, port, local_hostname="probe.test", timeout=20) as smtp:
            if args.starttls:
                context = ssl.create_default_context(cafile=args.cafile)
                if args.cert:
                    context.load_cert_chain(args.cert, args.key)
                smtp.starttls(context=context)
            smtp.ehlo()
            code, text = smtp.mail(args.sender)
            if code != 250:
                print("MAIL FROM refused: %d %s" % (code, text.decode("utf-8", "replace")),
                      file=sys.stderr)
                return 1
            code, text = smtp.rcpt(args.rcpt)
            smtp.rset()
    except (smtplib.SMTPException, OSError) as exc:
        print("RCPT check via %s:%d failed: %s" % (host, port, exc), file=sys.stderr)
        return 1
    print("%d %s" % (code, text.decode("utf-8", "replace")))
    return 0 if code == args.expect else 1


def cmd_auth(args):
    host, port = args.address
    context = ssl.create_default_context(cafile=args.cafile)
    try:
        if args.tls == "implicit":
            smtp = smtplib.SMTP_SSL(host, port, local_hostname="probe.test", timeout=20,
                                    context=context)
        else:
            smtp = smtplib.SMTP(host, port, local_hostname="probe.test", timeout=20)
        with smtp:
            if args.tls == "starttls":
                smtp.starttls(context=context)
            smtp.ehlo()
            mechanism = args.mechanism.lower().replace("-", "_")
            smtp.user, smtp.password = args.user, args.password
            code, text = smtp.auth(args.mechanism, getattr(smtp, "auth_" + mechanism))
            if args.no_quit:
                smtp.close()
    except (smtplib.SMTPException, OSError) as exc:
        print("AUTH %s as %s via %s:%d (%s) failed: %s"
              % (args.mechanism, args.user, host, port, args.tls, exc), file=sys.stderr)
        return 1
    print("%d %s" % (code, text.decode("utf-8", "replace")))
    return 0 if code == 235 else 1


def main(argv=None):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("greeting")
    p.add_argument("address", type=parse_hostport, nargs="*")
    p.add_argument("--implicit-tls", type=parse_hostport, action="append", default=[],
                   metavar="HOST:PORT")
    p.add_argument("--unix", action="append", default=[], metavar="PATH",
                   help="a Unix socket")
    p.add_argument("--timeout", type=float, default=20.0)
    p.add_argument("--expect")
    p.set_defaults(func=cmd_greeting)

    p = sub.add_parser("free")
    p.add_argument("address", type=parse_hostport, nargs="+")
    p.set_defaults(func=cmd_free)

    p = sub.add_parser("send")
    p.add_argument("address", type=parse_hostport)
    p.add_argument("--from", dest="sender", required=True)
    p.add_argument("--to", dest="rcpt", required=True)
    p.add_argument("--subject", default="postie test-server probe")
    p.add_argument("--lmtp", action="store_true")
    p.add_argument("--tls", choices=["starttls", "implicit"])
    p.add_argument("--cafile")
    p.add_argument("--user")
    p.add_argument("--password")
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("rcpt")
    p.add_argument("address", type=parse_hostport)
    p.add_argument("--from", dest="sender", default="probe-sender@postie.test")
    p.add_argument("--to", dest="rcpt", required=True)
    p.add_argument("--expect", type=int, required=True)
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--cafile")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.set_defaults(func=cmd_rcpt)

    p = sub.add_parser("auth")
    p.add_argument("address", type=parse_hostport)
    p.add_argument("--tls", choices=["starttls", "implicit"], required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--mechanism", default="PLAIN", choices=["PLAIN", "LOGIN", "CRAM-MD5"])
    p.add_argument("--no-quit", action="store_true")
    p.set_defaults(func=cmd_auth)

    args = parser.parse_args(argv)
    if args.command == "rcpt" and args.starttls and not args.cafile:
        parser.error("rcpt --starttls needs --cafile")
    if args.command == "rcpt" and bool(args.cert) != bool(args.key):
        parser.error("rcpt: --cert and --key go together")
    if args.command == "send" and args.tls and not args.cafile:
        parser.error("send --tls needs --cafile")
    if args.command == "send" and args.lmtp and args.tls == "implicit":
        parser.error("send --lmtp goes with --tls starttls only")
    if args.command == "send" and (args.user is None) != (args.password is None):
        parser.error("send: --user and --password go together")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
