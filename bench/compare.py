#!/usr/bin/env python3
"""Throughput and build speed: postie against its peers, in one interleaved
run, as bench-workloads.md (the spec) defines the workloads.

Run through bench/compare.sh, which builds the clients and starts the
servers. This script checks what each client sends, runs the clients and
prints the table, then the same as one Markdown table (README's: a row per
workload, a column per client, each cell the median and postie's ratio):

    compare.py --bin-dir DIR --sink HOST:PORT --attach-file FILE
               [--postfix HOST:PORT --postfix-queue DIR]
               [--submission HOST:PORT --ca-file FILE --username U --password-env VAR]
               [--rounds N] [--quick] [--max-secs T] [--workloads W1,W2,...]
               [--clients postie,smtp-source,...]
               [--skip-checks] [--json FILE]
    compare.py --render FILE      the Markdown table of a run's --json FILE

Workloads (the spec's table; --quick divides every N by 10 and uses a
10 MiB attachment):
  W1  20,000 x text body S = 1024, 1 connection, smtp-sink     (msgs/s)
  W2  the same over 4 connections                              (msgs/s)
  W3  500 x S = 1 MiB, 1 connection                            (MiB/s, peak RSS)
  W4  one message: S = 1024 text + a 50 MiB base64 attachment  (seconds, peak RSS)
  W5  build + serialize 100,000 W5 messages, no network        (msgs/s)
  PF  2,000 x S = 1024, 1 connection, the test Postfix, which queues and
      discards; its queue is drained before every run          (msgs/s)
  W6  20,000 x S = 1024 over STARTTLS with AUTH PLAIN, certificate verified,
      1 and 4 connections, the test Postfix's submission listener, which
      discards; queue drained before every run                 (msgs/s)

Clients: postie (blocking and tokio drivers), lettre (pooled blocking and
tokio transports), mail-send 0.7 (tokio), Python's smtplib with the email
package (bench/python_bench.py), and Postfix's smtp-source (-d: one
connection per session, reused; it sends its own filler message, not the
spec's, and has no TLS, no AUTH, no attachment and no build mode). Each
client binary speaks the spec's interface; exit 3 means "not supported"
(n/a in the table).

Timing: the wall time of the whole client process, taken here around it
(start to exit), for every client alike; the clients' own RESULT lines are
not used for time. Rounds are interleaved: in each round every workload
runs every client once, in an order rotated from round to round, so slow
drift of a shared machine hits all alike. The table shows the median and
the min-max over the rounds; "postie xR" is the median of postie's
blocking driver over the median of that client (rates; for W4's time the
other way round): above 1, postie is faster. Peak RSS is GNU time's %M.

Before the rounds, each client's messages are checked (unless
--skip-checks): W1's (3 messages of S = 1024 and one of 1 MiB, captured by
a small SMTP server in this script), W4's (with a small attachment) and
W5's (--out): the spec's From, To, Subject, a fresh Date, distinct
Message-IDs, the text body byte for byte (bench/python_bench.py has an
independent copy of the generator), the W5 structure and the PDF's bytes,
the envelope sender@example.org -> sink@discard.test.

--max-secs T is not in the spec: it tells the clients to start no message
after T seconds (lettre and mail-send lose about 40 ms per message to
Nagle's algorithm and the server's delayed ACK, so W1 alone takes them 15
minutes a run; Python's email package builds W5's N in about 4 minutes);
the rate is then the messages sent (or built) over the process's wall time,
marked "capped" in the table. W4, one message, is never capped.
"""

import argparse
import base64
import email.parser
import email.policy
import email.utils
import json
import os
import re
import selectors
import signal
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import python_bench  # noqa: E402  (the spec's inputs, in Python)

HARD_TIMEOUT = 3600
# The client process running now, killed when this script is told to stop.
RUNNING = []
DRAIN_TIMEOUT = 900
GNU_TIME = "/usr/bin/time"
ENVELOPE_FROM = python_bench.ENVELOPE_FROM
ENVELOPE_TO = python_bench.ENVELOPE_TO

# name, how to start it (None: smtp-source), whether it builds W5 messages.
CLIENTS = [
    ("postie", ("bin", "postie-bench", ["--driver", "blocking"]), True),
    ("postie-tokio", ("bin", "postie-bench", ["--driver", "tokio"]), False),
    ("lettre", ("bin", "lettre-bench", ["--driver", "blocking"]), True),
    ("lettre-tokio", ("bin", "lettre-bench", ["--driver", "tokio"]), False),
    ("mail-send", ("bin", "mail-send-bench", []), True),
    ("python", ("python", None, []), True),
    ("smtp-source", None, False),
]
REFERENCE = "postie"


def workloads(quick):
    scale = 10 if quick else 1
    return [
        ("W1", "sink", dict(count=20000 // scale, size=1024, connections=1)),
        ("W2", "sink", dict(count=20000 // scale, size=1024, connections=4)),
        ("W3", "sink", dict(count=500 // scale, size=1 << 20, connections=1)),
        ("W4", "sink", dict(count=1, size=1024, connections=1, attach_mib=10 if quick else 50)),
        ("W5", "build", dict(count=100000 // scale)),
        ("PF", "postfix", dict(count=2000 // scale, size=1024, connections=1)),
        ("W6-1", "submission", dict(count=20000 // scale, size=1024, connections=1, tls=True)),
        ("W6-4", "submission", dict(count=20000 // scale, size=1024, connections=4, tls=True)),
    ]


# ---------------------------------------------------------------------------
# Running one client process
# ---------------------------------------------------------------------------

def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass


def run_measured(argv, timeout=HARD_TIMEOUT):
    """Runs argv; returns (exit code, wall seconds, peak RSS KiB, stdout,
    stderr). The wall time is taken here, from just before the process is
    started to just after it is reaped. The peak RSS comes from GNU time
    when it is installed: wait4's ru_maxrss would also count the pages the
    child shared with this Python process between fork and exec."""
    timed = os.access(GNU_TIME, os.X_OK)
    if timed:
        argv = [GNU_TIME, "-f", "POSTIE_BENCH_MAXRSS_KIB=%M"] + argv
    start = time.monotonic()
    # A process group of its own: a kill reaches the client under GNU time.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    RUNNING.append(proc)
    out_chunks, err_chunks = [], []
    # Read both pipes to the end before wait4, so the child never blocks.
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out_chunks)
    sel.register(proc.stderr, selectors.EVENT_READ, err_chunks)
    deadline = start + timeout
    open_pipes = 2
    killed = False
    while open_pipes:
        left = deadline - time.monotonic()
        if left <= 0:
            kill_group(proc)
            killed = True
            break
        for key, _ in sel.select(timeout=left):
            data = key.fileobj.read1(65536)
            if data:
                key.data.append(data)
            else:
                sel.unregister(key.fileobj)
                open_pipes -= 1
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    RUNNING.remove(proc)
    proc.returncode = os.waitstatus_to_exitcode(status)
    sel.close()
    proc.stdout.close()
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    err = b"".join(err_chunks).decode(errors="replace")
    rss = rusage.ru_maxrss
    if timed:
        kept = []
        for line in err.splitlines():
            if line.startswith("POSTIE_BENCH_MAXRSS_KIB="):
                rss = int(line.split("=", 1)[1])
            elif not line.startswith("Command exited with non-zero status") \
                    and not line.startswith("Command terminated by signal"):
                kept.append(line)
        err = "\n".join(kept)
    if killed:
        err = f"killed after {timeout} s\n" + err
    return code, wall, rss, b"".join(out_chunks).decode(errors="replace"), err


def parse_result(stdout):
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            return int(fields["msgs"])
    return None


class Setup:
    """Where the servers are and how to reach them, from the arguments."""

    def __init__(self, args):
        self.args = args
        self.targets = {"sink": args.sink, "postfix": args.postfix,
                        "submission": args.submission}

    def client_base(self, how):
        kind, binary, extra = how
        if kind == "python":
            return [sys.executable, self.args.python_client] + extra
        if kind == "baseline":
            return [os.path.join(self.args.baseline_bin, binary)] + extra
        return [os.path.join(self.args.bin_dir, binary)] + extra

    def argv(self, how, target_kind, spec, attach=None, out=None, target=None,
             max_secs=None):
        """The command line of one run, or None when the client cannot do it."""
        if how is None:
            # smtp-source: the plain sending workloads only.
            if target_kind == "build" or "attach_mib" in spec or spec.get("tls"):
                return None
            host, port = (target or self.targets[target_kind]).rsplit(":", 1)
            return ["smtp-source", "-d", "-l", str(spec["size"]), "-m", str(spec["count"]),
                    "-s", str(spec["connections"]), "-f", ENVELOPE_FROM, "-t", ENVELOPE_TO,
                    f"{host}:{port}"]
        base = self.client_base(how)
        if target_kind == "build":
            argv = base + ["--build-only", "--count", str(spec["count"])]
            if max_secs is not None:
                argv += ["--max-secs", str(max_secs)]
            return argv + (["--out", out] if out else [])
        host, port = (target or self.targets[target_kind]).rsplit(":", 1)
        argv = base + ["--host", host, "--port", port, "--count", str(spec["count"]),
                       "--size", str(spec["size"]), "--connections", str(spec["connections"])]
        if attach:
            argv += ["--attach", attach]
        if spec.get("tls"):
            argv += ["--tls", "starttls", "--ca-file", self.args.ca_file,
                     "--username", self.args.username, "--password-env", self.args.password_env]
        if max_secs is not None:
            argv += ["--max-secs", str(max_secs)]
        return argv


def measure(setup, how, target_kind, spec, attach):
    # Builds too (Python's email package takes minutes for W5's N); not
    # W4, one message.
    max_secs = setup.args.max_secs if "attach_mib" not in spec else None
    argv = setup.argv(how, target_kind, spec, attach=attach, max_secs=max_secs)
    if argv is None:
        return {"status": "n/a"}
    code, wall, rss, out, err = run_measured(argv)
    if code == 3:
        return {"status": "n/a"}
    if code != 0:
        first = (err.strip().splitlines() or ["?"])[0]
        return {"status": "failed", "why": f"exit {code}: {first[:120]}", "secs": wall}
    msgs = spec["count"]
    if max_secs is not None and how is not None:
        parsed = parse_result(out)
        if parsed is None:
            return {"status": "failed", "why": "capped run without a RESULT line"}
        msgs = parsed
    size = spec.get("size", 0)
    return {
        "status": "ok",
        "msgs": msgs,
        "secs": wall,
        "rate": msgs / wall if wall > 0 else 0.0,
        "mib_s": msgs * size / (1 << 20) / wall if wall > 0 else 0.0,
        "rss_kib": rss,
        "capped": msgs < spec["count"],
    }


# ---------------------------------------------------------------------------
# The Postfix queue
# ---------------------------------------------------------------------------

QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


def queue_files(queue_dir):
    counts = {}
    for name in QUEUES:
        n = 0
        for _, _, files in os.walk(os.path.join(queue_dir, name)):
            n += len(files)
        counts[name] = n
    return counts


def wait_drained(queue_dir):
    """Waits until Postfix's queue holds no message; raises when a message
    is deferred or held (it would never leave) or after DRAIN_TIMEOUT."""
    start = time.monotonic()
    while True:
        counts = queue_files(queue_dir)
        if not any(counts.values()):
            return time.monotonic() - start
        if counts["deferred"] or counts["hold"]:
            raise RuntimeError(f"Postfix deferred or held mail (see its maillog): {counts}")
        if time.monotonic() - start > DRAIN_TIMEOUT:
            raise RuntimeError(f"Postfix's queue did not drain in {DRAIN_TIMEOUT} s: {counts}")
        time.sleep(0.1)


# ---------------------------------------------------------------------------
# Checks: what each client sends and builds
# ---------------------------------------------------------------------------

class CaptureHandler(socketserver.StreamRequestHandler):
    """A minimal SMTP server that keeps every transaction (pipelining
    works: commands are answered one by one, in order)."""

    def reply(self, text):
        self.wfile.write(text.encode("ascii") + b"\r\n")

    def handle(self):
        self.reply("220 capture.test ESMTP")
        sender, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("ascii", "replace").rstrip("\r\n")
            verb = cmd.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-capture.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                                 b"250 ENHANCEDSTATUSCODES\r\n")
            elif verb == "HELO":
                self.reply("250 capture.test")
            elif verb == "MAIL":
                m = re.match(r"MAIL FROM:\s*<([^>]*)>", cmd, re.I)
                sender, rcpts = (m.group(1) if m else cmd), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                m = re.match(r"RCPT TO:\s*<([^>]*)>", cmd, re.I)
                rcpts.append(m.group(1) if m else cmd)
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    chunk = self.rfile.readline()
                    if not chunk or chunk == b".\r\n":
                        break
                    data.append(chunk[1:] if chunk.startswith(b".") else chunk)
                with self.server.lock:
                    self.server.messages.append((sender, rcpts, b"".join(data)))
                sender, rcpts = None, []
                self.reply("250 2.0.0 Ok: kept")
            elif verb == "RSET":
                sender, rcpts = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("502 5.5.2 Command not recognized")


class CaptureServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CaptureHandler)
        self.lock = threading.Lock()
        self.messages = []

    def take(self):
        with self.lock:
            taken, self.messages = self.messages, []
        return taken


def strip_eol(data):
    return data.rstrip(b"\r\n")


def check_common(msg, subject_re, problems, now):
    """From, To, Subject, Date checks shared by every message; returns the
    Message-ID."""
    for field, name, addr in (("From", "Bench Sender", "sender@example.org"),
                              ("To", "Bench Sink", "sink@example.com")):
        value = msg[field]
        addrs = getattr(value, "addresses", ()) if value is not None else ()
        if len(addrs) != 1 or addrs[0].display_name != name or addrs[0].addr_spec != addr:
            problems.append(f"{field} is {str(value)!r}")
    subject = str(msg["Subject"] or "")
    if not re.fullmatch(subject_re, subject):
        problems.append(f"Subject {subject!r} does not match {subject_re!r}")
    date = msg["Date"]
    try:
        when = email.utils.parsedate_to_datetime(str(date)).timestamp()
        if abs(when - now) > 300:
            problems.append(f"Date {str(date)!r} is not now")
    except (TypeError, ValueError):
        problems.append(f"Date {date!r} does not parse")
    mid = str(msg["Message-ID"] or "")
    if not re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", mid.strip()):
        problems.append(f"Message-ID {mid!r}")
    return mid


def check_text_message(sender, rcpts, data, size, problems, now, ids):
    if sender != ENVELOPE_FROM or rcpts != [ENVELOPE_TO]:
        problems.append(f"envelope {sender} -> {rcpts}")
    if any(b > 127 for b in data):
        problems.append("not 7-bit")
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    ids.append(check_common(msg, r"Bench message \d+", problems, now))
    if msg.get_content_type() != "text/plain" or msg.is_multipart():
        problems.append(f"Content-Type {msg.get_content_type()}")
        return
    body = msg.get_payload(decode=True)
    want = python_bench.text_body(size).encode("ascii")
    if strip_eol(body) != strip_eol(want):
        problems.append(f"the text body differs from the spec's ({len(body)} bytes, "
                        f"{(msg['Content-Transfer-Encoding'] or '7bit')})")


def check_attach_message(sender, rcpts, data, attachment, problems, now):
    if sender != ENVELOPE_FROM or rcpts != [ENVELOPE_TO]:
        problems.append(f"envelope {sender} -> {rcpts}")
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    check_common(msg, r"Bench message \d+", problems, now)
    parts = msg.get_payload() if msg.is_multipart() else []
    if msg.get_content_type() != "multipart/mixed" or len(parts) != 2:
        problems.append(f"structure {msg.get_content_type()} of {len(parts)} parts")
        return
    text, att = parts
    if strip_eol(text.get_payload(decode=True) or b"") != \
            strip_eol(python_bench.text_body(1024).encode()):
        problems.append("the text differs")
    if (att["Content-Transfer-Encoding"] or "").lower() != "base64":
        problems.append("the attachment is not base64")
    if att.get_payload(decode=True) != attachment:
        problems.append("the attachment's bytes differ")


def shape(part):
    if part.is_multipart():
        return part.get_content_type() + "(" + ",".join(shape(p) for p in part.get_payload()) \
            + ")"
    return part.get_content_type()


def check_w5(data, count, problems, now):
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    check_common(msg, rf"Your order {count} has shipped", problems, now)
    want = "multipart/mixed(multipart/alternative(text/plain,text/html),application/pdf)"
    if shape(msg) != want:
        problems.append(f"structure {shape(msg)}")
        return
    alternative, pdf = msg.get_payload()
    text, html = alternative.get_payload()
    if strip_eol(text.get_payload(decode=True)) != strip_eol(
            python_bench.text_body(python_bench.W5_TEXT_SIZE).encode()):
        problems.append("the text part differs")
    if strip_eol(html.get_payload(decode=True)) != strip_eol(python_bench.html_body().encode()):
        problems.append("the HTML part differs")
    if pdf.get_filename() != "invoice.pdf":
        problems.append(f"attachment name {pdf.get_filename()!r}")
    if (pdf["Content-Transfer-Encoding"] or "").lower() != "base64":
        problems.append("the PDF is not base64")
    elif base64.b64decode("".join(pdf.get_payload().split())) != python_bench.invoice_pdf():
        problems.append("the PDF's bytes differ")


def run_checks(setup, plan):
    """Checks each client's messages; returns {client: [problems]}."""
    wanted = {name for name, _, _ in plan}
    results = {}
    server = CaptureServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    target = f"127.0.0.1:{server.server_address[1]}"
    tmp = tempfile.mkdtemp(prefix="postie-compare-")
    small = os.path.join(tmp, "attachment.bin")
    attachment = os.urandom(10000)
    with open(small, "wb") as f:
        f.write(attachment)
    try:
        for name, how, builds in CLIENTS:
            if how is None:
                continue
            problems = []
            now = time.time()
            if wanted & {"W1", "W2", "W3", "PF", "W6-1", "W6-4"}:
                ids = []
                for count, size in ((3, 1024), (1, 1 << 20)):
                    spec = dict(count=count, size=size, connections=1)
                    argv = setup.argv(how, "sink", spec, target=target)
                    code, _, _, _, err = run_measured(argv, timeout=120)
                    got = server.take()
                    if code != 0:
                        problems.append(f"S={size}: exit {code}: {err.strip()[:200]}")
                        continue
                    if len(got) != count:
                        problems.append(f"S={size}: {len(got)} messages arrived, not {count}")
                    for sender, rcpts, data in got:
                        check_text_message(sender, rcpts, data, size, problems, now, ids)
                if len(set(ids)) != len(ids):
                    problems.append(f"Message-IDs repeat: {ids}")
            if "W4" in wanted:
                spec = dict(count=1, size=1024, connections=1)
                argv = setup.argv(how, "sink", spec, attach=small, target=target)
                code, _, _, _, err = run_measured(argv, timeout=120)
                got = server.take()
                if code == 3:
                    pass
                elif code != 0 or len(got) != 1:
                    problems.append(f"W4: exit {code}, {len(got)} message(s): {err.strip()[:200]}")
                else:
                    check_attach_message(*got[0], attachment, problems, now)
            if "W5" in wanted and builds:
                out = os.path.join(tmp, f"{name}.eml")
                argv = setup.argv(how, "build", dict(count=3), out=out)
                code, _, _, _, err = run_measured(argv, timeout=120)
                if code != 0:
                    problems.append(f"W5: exit {code}: {err.strip()[:200]}")
                else:
                    with open(out, "rb") as f:
                        check_w5(f.read(), 3, problems, now)
            results[name] = problems
    finally:
        server.shutdown()
        server.server_close()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return results


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

def fmt_range(values, fmt):
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med), med
    return f"{fmt.format(med)} [{fmt.format(min(values))}-{fmt.format(max(values))}]", med


def title(wname, target_kind, spec):
    if wname == "W4":
        return (f"W4: one message, {spec['size']} B text + a {spec['attach_mib']} MiB base64 "
                f"attachment, smtp-sink (seconds, lower is better; peak RSS)")
    if wname == "W5":
        return f"W5: build + serialize {spec['count']:,} W5 messages, no network (msgs/s)"
    if wname == "W3":
        return (f"W3: {spec['count']:,} x {spec['size'] >> 20} MiB over 1 connection, "
                f"smtp-sink (MiB/s; peak RSS)")
    where = {"sink": "smtp-sink", "postfix": "Postfix (queued, discarded)",
             "submission": "Postfix submission, STARTTLS + AUTH PLAIN (queued, discarded)"}
    return (f"{wname}: {spec['count']:,} x {spec['size']} B over {spec['connections']} "
            f"connection(s) to {where[target_kind]} (msgs/s)")


def print_table(plan, results, rounds, machine):
    print()
    print(f"{rounds} interleaved round(s); median [min-max] over the rounds; time = wall time "
          "of each client process; 'postie xR' = postie's (blocking driver) median over that "
          "client's (above 1: postie faster)")
    print(f"Machine: {machine}")
    for wname, target_kind, spec in plan:
        if wname not in results:
            continue
        rows = results[wname]
        print()
        print(title(wname, target_kind, spec))
        meds = {}
        lines = []
        for name, _, _ in CLIENTS:
            runs = rows.get(name, [])
            ok = [r for r in runs if r["status"] == "ok"]
            if not runs:
                continue
            if len(ok) < len(runs):
                bad = next(r for r in runs if r["status"] != "ok")
                if not ok:
                    lines.append((name, bad.get("why", bad["status"]), None))
                    continue
            if wname == "W4":
                text, med = fmt_range([r["secs"] for r in ok], "{:.2f} s")
                rss, _ = fmt_range([r["rss_kib"] / 1024 for r in ok], "{:.1f} MiB")
                text = f"{text}, peak RSS {rss}"
            elif wname == "W3":
                text, med = fmt_range([r["mib_s"] for r in ok], "{:.1f}")
                rss, _ = fmt_range([r["rss_kib"] / 1024 for r in ok], "{:.1f}")
                text = f"{text}, peak RSS {rss} MiB"
            else:
                text, med = fmt_range([r["rate"] for r in ok], "{:,.0f}")
            if any(r["capped"] for r in ok):
                sent = statistics.median(r["msgs"] for r in ok)
                text += f" (capped: {sent:,.0f} of {spec['count']:,} msgs)"
            if len(ok) < len(runs):
                text += f" ({len(runs) - len(ok)} run(s) failed)"
            meds[name] = med
            lines.append((name, text, med))
        ref = meds.get(REFERENCE)
        for name, text, med in lines:
            ratio = ""
            if med and ref and name != REFERENCE:
                ratio = f"postie x{(med / ref if wname == 'W4' else ref / med):.2f}"
            print(f"  {name:13} {text:64} {ratio}")
        if "smtp-source" in meds:
            print("  (smtp-source sends its own filler message of the size, not the spec's, "
                  "and builds nothing)")


def cell(wname, ok):
    """One client's median in a workload, as the Markdown table shows it, and
    the median the ratio is taken of."""
    if wname == "W4":
        med = statistics.median(r["secs"] for r in ok)
        rss = statistics.median(r["rss_kib"] for r in ok) / 1024
        return f"{med:.2f} s, {rss:.1f} MiB", med
    if wname == "W3":
        med = statistics.median(r["mib_s"] for r in ok)
        rss = statistics.median(r["rss_kib"] for r in ok) / 1024
        return f"{med:.1f} MiB/s, {rss:.1f} MiB", med
    med = statistics.median(r["rate"] for r in ok)
    return f"{med:,.0f}", med


def short_title(wname, target_kind, spec):
    """A workload in a few words, for the Markdown table's first column."""
    if wname == "W4":
        return f"W4: one {spec['attach_mib']} MiB attachment (time, peak RSS)"
    if wname == "W5":
        return f"W5: build + serialize {spec['count']:,} messages (msgs/s)"
    if wname == "W3":
        return f"W3: {spec['count']:,} x {spec['size'] >> 20} MiB, 1 connection (MiB/s, peak RSS)"
    where = {"sink": "smtp-sink", "postfix": "Postfix", "submission": "Postfix, STARTTLS + AUTH"}
    return (f"{wname}: {spec['count']:,} x {spec['size'] >> 10} KiB, {spec['connections']} "
            f"connection{'s' if spec['connections'] > 1 else ''}, {where[target_kind]} (msgs/s)")


def markdown_table(plan, results, rounds, max_secs, machine):
    """The run as one Markdown table (README's): a row per workload, a column
    per client, each cell the median and postie's ratio to it (x above 1:
    postie faster; W4 is time, lower is better)."""
    names = [name for name, _, _ in CLIENTS
             if any(name in results.get(w, {}) for w, _, _ in plan)]
    out = [f"<!-- bench/compare.sh, {rounds} interleaved round(s), medians"
           + (f", peers capped at {max_secs:g} s per run" if max_secs else "")
           + f"; {machine} -->",
           "| workload | " + " | ".join(names) + " |",
           "|---|" + "---|" * len(names)]
    for wname, kind, spec in plan:
        rows = results.get(wname)
        if not rows:
            continue
        texts, meds = {}, {}
        for name in names:
            runs = rows.get(name, [])
            ok = [r for r in runs if r["status"] == "ok"]
            if not runs or all(r["status"] == "n/a" for r in runs):
                texts[name] = "n/a"
                continue
            if not ok:
                texts[name] = "failed"
                continue
            text, med = cell(wname, ok)
            if any(r["capped"] for r in ok):
                text += " (capped)"
            texts[name], meds[name] = text, med
        ref = meds.get(REFERENCE)
        cells = []
        for name in names:
            text = texts[name]
            med = meds.get(name)
            if med and ref and name != REFERENCE:
                ratio = med / ref if wname == "W4" else ref / med
                text += f" (x{ratio:.2f})"
            cells.append(text)
        label = short_title(wname, kind, spec)
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def stop(signum, _frame):
    """SIGTERM or SIGINT: no client outlives this script."""
    for proc in RUNNING:
        kill_group(proc)
    print(f"compare.py: stopped by signal {signum}", file=sys.stderr)
    sys.exit(128 + signum)


def add_baseline_clients():
    """postie-base and postie-base-tokio: an earlier build of postie-bench."""
    CLIENTS.insert(2, ("postie-base", ("baseline", "postie-bench", ["--driver", "blocking"]),
                       True))
    CLIENTS.insert(3, ("postie-base-tokio",
                       ("baseline", "postie-bench", ["--driver", "tokio"]), False))


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir")
    parser.add_argument("--python-client", default=os.path.join(HERE, "python_bench.py"))
    parser.add_argument("--sink")
    parser.add_argument("--postfix")
    parser.add_argument("--postfix-queue")
    parser.add_argument("--submission")
    parser.add_argument("--ca-file")
    parser.add_argument("--username")
    parser.add_argument("--password-env")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--max-secs", type=float)
    parser.add_argument("--workloads", help="comma-separated subset, e.g. W1,W5,PF")
    parser.add_argument("--clients",
                        help="comma-separated subset, e.g. postie,smtp-source (postie always runs)")
    parser.add_argument("--skip-checks", action="store_true")
    parser.add_argument("--baseline-bin",
                        help="a directory holding an earlier postie-bench: adds the clients "
                             "postie-base and postie-base-tokio, to compare builds in one run")
    parser.add_argument("--json")
    parser.add_argument("--render", metavar="JSON",
                        help="print the Markdown table of an earlier run's --json file; run "
                             "nothing")
    parser.add_argument("--attach-file",
                        help="a file of at least 50 MiB for W4 (its first N MiB are used)")
    args = parser.parse_args()
    if args.render:
        with open(args.render) as f:
            run = json.load(f)
        if run.get("baseline"):
            add_baseline_clients()
        plan = [(w, spec.pop("kind"), spec) for w, spec in run["workloads"].items()]
        print(markdown_table(plan, run["results"], run["rounds"], run.get("max_secs"),
                             run["machine"]))
        return
    if not (args.bin_dir and args.sink and args.attach_file):
        parser.error("--bin-dir, --sink and --attach-file are needed (all but with --render)")
    if args.postfix and not args.postfix_queue:
        parser.error("--postfix needs --postfix-queue (its queue is drained between runs)")
    if args.submission and not (args.ca_file and args.username and args.password_env):
        parser.error("--submission needs --ca-file, --username and --password-env")
    if args.submission and not args.postfix_queue:
        parser.error("--submission needs --postfix-queue")

    if args.baseline_bin:
        add_baseline_clients()
    if args.clients:
        wanted = set(args.clients.split(",")) | {REFERENCE}
        unknown = wanted - {name for name, _, _ in CLIENTS}
        if unknown:
            parser.error(f"unknown clients: {sorted(unknown)}")
        CLIENTS[:] = [c for c in CLIENTS if c[0] in wanted]

    setup = Setup(args)
    plan = []
    only = set(args.workloads.split(",")) if args.workloads else None
    for wname, kind, spec in workloads(args.quick):
        if only is not None and wname not in only:
            continue
        if kind in ("postfix", "submission") and not setup.targets[kind]:
            print(f"{wname}: skipped (no --{kind})", file=sys.stderr)
            continue
        plan.append((wname, kind, spec))
    if not plan:
        parser.error("no workload to run")

    if not args.skip_checks:
        print("==> checking each client's messages against the spec", file=sys.stderr)
        checks = run_checks(setup, plan)
        failed = False
        for name, problems in checks.items():
            if problems:
                failed = True
                for p in problems:
                    print(f"    {name}: {p}", file=sys.stderr)
            else:
                print(f"    {name}: ok", file=sys.stderr)
        if failed:
            print("compare.py: a client does not send the spec's messages", file=sys.stderr)
            sys.exit(1)

    attach = None
    for wname, kind, spec in plan:
        if "attach_mib" in spec:
            attach = f"{args.attach_file}.{spec['attach_mib']}MiB"
            if not os.path.exists(attach):
                with open(args.attach_file, "rb") as src, open(attach, "wb") as dst:
                    dst.write(src.read(spec["attach_mib"] << 20))

    load_before = " ".join(open("/proc/loadavg").read().split()[:3])
    results = {}
    started = time.monotonic()
    for rnd in range(args.rounds):
        shift = rnd % len(CLIENTS)
        order = CLIENTS[shift:] + CLIENTS[:shift]
        for wname, kind, spec in plan:
            for name, how, builds in order:
                if kind == "build" and not builds and how is not None:
                    continue
                if kind in ("postfix", "submission"):
                    waited = wait_drained(args.postfix_queue)
                    if waited > 1:
                        print(f"    (waited {waited:.1f} s for Postfix's queue to drain)",
                              file=sys.stderr)
                r = measure(setup, how, kind, spec, attach if "attach_mib" in spec else None)
                results.setdefault(wname, {}).setdefault(name, []).append(r)
                if r["status"] == "ok":
                    detail = f"{r['secs']:.2f} s, {r['rate']:,.1f} msgs/s"
                else:
                    detail = r.get("why", r["status"])
                print(f"round {rnd + 1}/{args.rounds} {wname:5} {name:13} {detail}"
                      f"  [{time.monotonic() - started:.0f} s]", file=sys.stderr, flush=True)
        if any(kind in ("postfix", "submission") for _, kind, _ in plan):
            wait_drained(args.postfix_queue)

    load_after = " ".join(open("/proc/loadavg").read().split()[:3])
    machine = (f"{os.cpu_count()} cores; load average before {load_before}, after {load_after}; "
               f"{time.monotonic() - started:.0f} s in all")
    print_table(plan, results, args.rounds, machine)
    print()
    print(markdown_table(plan, results, args.rounds, args.max_secs, machine))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "quick": args.quick, "max_secs": args.max_secs,
                       "baseline": bool(args.baseline_bin),
                       "machine": machine,
                       "workloads": {w: dict(kind=k, **s) for w, k, s in plan},
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
