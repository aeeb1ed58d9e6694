#!/usr/bin/env python3
"""Throughput comparison: postie against its peers, in one run, on one sink.

Run through bench/compare.sh, which builds the clients and starts the sinks.
This script only runs the clients and prints the table:

    compare.py --bin-dir DIR --sink HOST:PORT [--postfix HOST:PORT]
               [--rounds N] [--quick] [--json FILE]

Workloads (as the throughput issue names them):
  W1  20,000 messages of 1 KiB over 1 connection          (msgs/s)
  W2  the same over 4 connections                         (msgs/s)
  W3  500 messages of 1 MiB over 1 connection             (MiB/s)
  W4  one message with a 50 MiB attachment                (seconds, peak RSS)
  W1P W1 against a real Postfix that discards what it queues (msgs/s; 5,000
      messages, since Postfix queues each one to disk)

Clients: postie (blocking and tokio drivers), lettre (pooled blocking and
tokio transports), mail-send (tokio), and Postfix's smtp-source. Each client
binary has the same interface (bench/src/throughput.rs); smtp-source gets
the equivalent flags. Runs are interleaved (every client once per round, the
order rotated each round), so slow drift of a shared machine hits all alike;
the table shows medians and min-max over the rounds, and for each client how
many times as fast postie's blocking driver is (above 1: postie is faster).
Slow clients stop starting messages after 30 s (--max-secs) and report the
rate they reached. Peak RSS comes from wait4(2) for each client process.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MAX_SECS = 30
HARD_TIMEOUT = 180
FROM = "bench@example.org"
TO = "sink@discard.test"

CLIENTS = [
    ("postie", "postie-bench", "blocking"),
    ("postie-tokio", "postie-bench", "tokio"),
    ("lettre", "lettre-bench", "blocking"),
    ("lettre-tokio", "lettre-bench", "tokio"),
    ("mail-send", "mail-send-bench", "tokio"),
    ("smtp-source", None, None),
]


def workloads(quick):
    scale = 10 if quick else 1
    return [
        ("W1", "sink", dict(count=20000 // scale, size=1024, connections=1)),
        ("W2", "sink", dict(count=20000 // scale, size=1024, connections=4)),
        ("W3", "sink", dict(count=500 // scale, size=1 << 20, connections=1)),
        ("W4", "sink", dict(count=1, size=1024, connections=1, attach_mib=50 // (5 if quick else 1))),
        ("W1P", "postfix", dict(count=5000 // scale, size=1024, connections=1)),
    ]


GNU_TIME = "/usr/bin/time"


def run_measured(argv):
    """Runs argv; returns (exit code, wall seconds, peak RSS KiB, stdout,
    stderr). The peak RSS comes from GNU time when it is installed: wait4's
    ru_maxrss would also count the pages the child shared with this Python
    process between fork and exec."""
    timed = os.access(GNU_TIME, os.X_OK)
    if timed:
        argv = [GNU_TIME, "-f", "POSTIE_BENCH_MAXRSS_KIB=%M"] + argv
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out_chunks, err_chunks = [], []
    # Read both pipes to the end before wait4, so the child never blocks.
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out_chunks)
    sel.register(proc.stderr, selectors.EVENT_READ, err_chunks)
    deadline = start + HARD_TIMEOUT
    open_pipes = 2
    while open_pipes:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
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
    code = os.waitstatus_to_exitcode(status)
    err = b"".join(err_chunks).decode(errors="replace")
    rss = rusage.ru_maxrss
    if timed:
        kept = []
        for line in err.splitlines():
            if line.startswith("POSTIE_BENCH_MAXRSS_KIB="):
                rss = int(line.split("=", 1)[1])
            elif not line.startswith("Command exited with non-zero status"):
                kept.append(line)
        err = "\n".join(kept)
    return (code, wall, rss, b"".join(out_chunks).decode(errors="replace"), err)


def parse_result(stdout):
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            return int(fields["msgs"]), float(fields["secs"])
    return None


def client_argv(args, binary, driver, target, spec, attach_file):
    host, port = target.rsplit(":", 1)
    if binary is None:
        if "attach_mib" in spec:
            return None
        return [
            # -d: one connection per session for all its messages, as the
            # spec's workloads say (without it smtp-source connects, says
            # HELO and QUITs for every message, which is not the same work).
            "smtp-source", "-d", "-l", str(spec["size"]), "-m", str(spec["count"]),
            "-s", str(spec["connections"]), "-f", FROM, "-t", TO, f"{host}:{port}",
        ]
    argv = [
        os.path.join(args.bin_dir, binary), "--host", host, "--port", port,
        "--count", str(spec["count"]), "--size", str(spec["size"]),
        "--connections", str(spec["connections"]), "--driver", driver,
        "--max-secs", str(MAX_SECS),
    ]
    if "attach_mib" in spec:
        argv += ["--attach", attach_file]
    return argv


def measure(args, name, binary, driver, target, spec, attach_file):
    argv = client_argv(args, binary, driver, target, spec, attach_file)
    if argv is None:
        return {"status": "n/a"}
    code, wall, rss, out, err = run_measured(argv)
    if code == 3:
        return {"status": "n/a"}
    if code != 0:
        first = (err.strip().splitlines() or ["?"])[0]
        return {"status": "failed", "why": f"exit {code}: {first[:120]}"}
    if binary is None:
        msgs, secs = spec["count"], wall
    else:
        parsed = parse_result(out)
        if parsed is None:
            return {"status": "failed", "why": "no RESULT line"}
        msgs, secs = parsed
    capped = msgs < spec["count"]
    return {
        "status": "ok",
        "msgs": msgs,
        "secs": secs,
        "rate": msgs / secs if secs > 0 else 0.0,
        "mib_s": msgs * spec["size"] / (1 << 20) / secs if secs > 0 else 0.0,
        "rss_kib": rss,
        "capped": capped,
    }


def fmt_range(values, fmt):
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med), med
    return f"{fmt.format(med)} [{fmt.format(min(values))}-{fmt.format(max(values))}]", med


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--postfix")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--attach-file", required=True,
                        help="a file of at least 50 MiB for W4 (its first N MiB are used)")
    args = parser.parse_args()

    results = {}
    plan = workloads(args.quick)
    for rnd in range(args.rounds):
        order = CLIENTS[rnd % len(CLIENTS):] + CLIENTS[: rnd % len(CLIENTS)]
        for wname, target_kind, spec in plan:
            target = args.sink if target_kind == "sink" else args.postfix
            if target is None:
                continue
            attach = None
            if "attach_mib" in spec:
                attach = f"{args.attach_file}.{spec['attach_mib']}MiB"
                if not os.path.exists(attach):
                    with open(args.attach_file, "rb") as src, open(attach, "wb") as dst:
                        dst.write(src.read(spec["attach_mib"] << 20))
            for name, binary, driver in order:
                r = measure(args, name, binary, driver, target, spec, attach)
                results.setdefault(wname, {}).setdefault(name, []).append(r)
                status = r["status"]
                detail = f"{r['rate']:.1f} msgs/s" if status == "ok" else r.get("why", status)
                print(f"round {rnd + 1} {wname:4} {name:13} {detail}", file=sys.stderr, flush=True)

    print()
    print(f"Throughput, {args.rounds} interleaved round(s); median [min-max]; "
          "'postie xR': postie's blocking driver is R times as fast as that client (medians)")
    for wname, target_kind, spec in plan:
        if wname not in results:
            continue
        row_results = results[wname]
        print()
        if wname == "W4":
            print(f"{wname}: one message with a {spec['attach_mib']} MiB attachment "
                  f"(seconds, lower is better; peak RSS)")
        elif wname == "W3":
            print(f"{wname}: {spec['count']} x {spec['size'] >> 20} MiB over 1 connection (MiB/s)")
        else:
            where = "Postfix (discard)" if target_kind == "postfix" else "smtp-sink"
            print(f"{wname}: {spec['count']} x {spec['size']} B over {spec['connections']} "
                  f"connection(s) to {where} (msgs/s)")
        ref = None
        rows = []
        for name, _, _ in CLIENTS:
            runs = row_results.get(name, [])
            ok = [r for r in runs if r["status"] == "ok"]
            if not ok:
                status = runs[0].get("why", runs[0]["status"]) if runs else "not run"
                rows.append((name, status, None, ""))
                continue
            if wname == "W4":
                text, med = fmt_range([r["secs"] for r in ok], "{:.2f} s")
                rss, _ = fmt_range([r["rss_kib"] / 1024 for r in ok], "{:.1f} MiB")
                text = f"{text}, peak RSS {rss}"
            elif wname == "W3":
                text, med = fmt_range([r["mib_s"] for r in ok], "{:.1f}")
            else:
                text, med = fmt_range([r["rate"] for r in ok], "{:.0f}")
            if any(r["capped"] for r in ok):
                text += " (stopped at 30 s)"
            if name == "postie":
                ref = med
            rows.append((name, text, med, ""))
        for name, text, med, _ in rows:
            ratio = ""
            if med and ref and name != "postie":
                # How many times faster postie is: rates divide one way,
                # times the other.
                ratio = f"postie x{(med / ref if wname == 'W4' else ref / med):.2f}"
            print(f"  {name:13} {text:52} {ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
