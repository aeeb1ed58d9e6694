#!/usr/bin/env python3
"""Verify the DKIM signatures of a batch of messages with two independent
verifiers, offline: dkimpy (pure Python; Ed25519 through PyNaCl) and
OpenDKIM (Debian's opendkim, in its test mode). Used by the integration tests
(POSTIE_TEST_DKIM_VERIFY, see scripts/servers/dkim.sh) and by dkim.sh's
ready check.

    dkim_verify.py [--opendkim PATH | --no-opendkim] BATCH.json|-

BATCH.json is a list of items, or an object {"items": [...], "keys": {...}}
whose keys every item also gets:

    {"message": "/path/to/message",
     "keys": {"SELECTOR._domainkey.DOMAIN": "v=DKIM1; k=rsa; p=...", ...}}

The message is read as stored (CRLF or LF line ends, as a Maildir has it). A
key name is matched without regard to case or a trailing dot; a signature
whose key is not in "keys" fails (no DNS query is ever made).

Printed on stdout: a JSON list, one object per item, in order:

    {"message": PATH,
     "dkimpy": {"ok": BOOL, "signatures": [
         {"d": D, "s": S, "a": A, "ok": BOOL, "error": TEXT|null}, ...]},
     "opendkim": {"ok": BOOL, "detail": TEXT, "log": TEXT, "signatures": [
         {"d": D, "s": S, "a": A, "ok": BOOL, "result": "pass"|"fail"|...,
          "reason": TEXT|null}, ...]}}

"signatures" has one entry per DKIM-Signature field, top to bottom (dkimpy's
idx). "ok" is true when the message has at least one signature and every
one of them verifies. For OpenDKIM the entries come from the
Authentication-Results field its filter adds (one dkim= result per
signature; d, s and a are the signature's own); "detail" is that field's
value (or OpenDKIM's error output), "log" its one-line verdict on the
message (naming one signature, with a reason even for a permerror); "ok"
also requires one result per signature. With --no-opendkim, "opendkim" is
null. Exit status 0 when the batch was processed (whatever the results), 2
on a usage or input error.

    dkim_verify.py --self-test DIR
        dkim.sh's ready check (see self_test below); exit 0 if it passed.

How OpenDKIM gets the keys: `opendkim -x CONF -vv -t -` runs one message
(on stdin) through the filter's own milter callbacks (mlfi_header ...
mlfi_eom) without an MTA, with CONF saying "Mode v" and "TestPublicKeys
FILE": libopendkim then reads each key record from FILE ("NAME VALUE" lines)
instead of DNS. One opendkim process per message (~10 ms each); stdin rather
than a file name because -t takes a comma-separated list and Maildir names
contain commas.

Where the two differ (both accept l= and rsa-sha1, and pass a message with
text appended after the l= length):
  * a second From field ABOVE the signed one, with h= naming From once:
    OpenDKIM passes (RFC 6376: the bottom-most instance is the signed one);
    dkimpy fails (it always treats From as over-signed). Over-signed
    (h=from:from) both fail, as they should.
  * t= more than ClockDrift (300 s) in the future: OpenDKIM permerror
    ("signature timestamp in the future"), dkimpy passes.
"""

import argparse
import base64
import importlib.metadata as md
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import dkim
    from dkim.util import parse_tag_value
except ImportError:  # main() says so
    dkim = None

# What OpenDKIM is told, apart from where the keys are. Every signature is
# verified (the default is the top three); an Authentication-Results field is
# added even when nothing was signed, so there is always a result to read.
OPENDKIM_CONF = """\
Mode v
Syslog no
AlwaysAddARHeader yes
AuthservID opendkim.test
MaximumSignaturesToVerify 50
SoftwareHeader no
"""


def norm_name(name):
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return name.strip().rstrip(".").lower()


def sig_fields(value):
    """d, s, a and b of a DKIM-Signature value (None where unparsable)."""
    try:
        tags = parse_tag_value(value)
    except Exception:  # noqa: BLE001 - any malformed field
        return {"d": None, "s": None, "a": None, "b": None}

    def tag(name):
        v = tags.get(name)
        return None if v is None else v.decode("ascii", "replace")

    b = tag(b"b")
    return {"d": tag(b"d"), "s": tag(b"s"), "a": tag(b"a"),
            "b": re.sub(r"\s+", "", b) if b is not None else None}


class Collect(logging.Handler):
    """Keeps what dkimpy logs at warning level and above (its reasons for a
    False result, e.g. a missing or too small key)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def verify_dkimpy(raw, keys):
    """dkimpy's result for every DKIM-Signature field of raw."""
    def dnsfunc(name, timeout=5):
        value = keys.get(norm_name(name))
        return value.encode("ascii") if value is not None else None

    headers = dkim.rfc822_parse(raw)[0]
    sigs = [v for k, v in headers if k.lower() == b"dkim-signature"]
    results = []
    for idx, value in enumerate(sigs):
        entry = sig_fields(value)
        del entry["b"]
        collect = Collect()
        logger = logging.getLogger("dkim_verify.%d" % idx)
        logger.propagate = False
        logger.handlers = [collect]
        logger.setLevel(logging.DEBUG)
        ok, error = False, None
        try:
            # A fresh DKIM object per signature: verify() keeps state.
            ok = bool(dkim.DKIM(raw, logger=logger).verify(idx=idx, dnsfunc=dnsfunc))
        except dkim.DKIMException as e:
            error = "%s: %s" % (type(e).__name__, e)
        except Exception as e:  # noqa: BLE001 - dkimpy may raise others
            error = "%s: %s" % (type(e).__name__, e)
        if not ok and error is None:
            error = "; ".join(collect.messages) or "signature did not verify"
        entry.update(ok=ok, error=None if ok else error)
        results.append(entry)
    return {"ok": bool(results) and all(r["ok"] for r in results), "signatures": results}


def find_opendkim(path):
    if path:
        return path
    return shutil.which("opendkim") or next(
        (p for p in ("/usr/sbin/opendkim", "/usr/local/sbin/opendkim") if os.access(p, os.X_OK)), None)


AR_LINE = re.compile(r"^### INSHEADER: idx=\d+ hname='Authentication-Results' hvalue='(.*)$")


def authentication_results(stdout):
    """The value of the Authentication-Results field opendkim -vv -t printed
    (its lines run on, tab-indented, up to the closing quote)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        m = AR_LINE.match(line)
        if not m:
            continue
        parts = [m.group(1)]
        j = i + 1
        while not parts[-1].endswith("'") and j < len(lines):
            parts.append(lines[j].strip())
            j += 1
        return " ".join(parts)[:-1] if parts[-1].endswith("'") else None
    return None


# "dkim=pass (2048-bit key) header.d=... header.s=... header.b=..." or
# "dkim=fail reason="signature verification failed" (...) header.d=...".
AR_DKIM = re.compile(r'dkim=(\w+)((?:\s+reason="[^"]*")?)([^;]*)')


def parse_ar(value):
    out = []
    for m in AR_DKIM.finditer(value):
        props = dict(re.findall(r"header\.(\w+)=(\S+)", m.group(3)))
        reason = re.search(r'reason="([^"]*)"', m.group(2))
        out.append({"result": m.group(1), "reason": reason.group(1) if reason else None,
                    "d": props.get("d"), "s": props.get("s"), "a": props.get("a"),
                    "b": props.get("b")})
    return out


def same(a, b):
    return a is not None and b is not None and a.lower() == b.lower()


def verify_opendkim(binary, workdir, n, raw, keys, sigs):
    keyfile = os.path.join(workdir, "keys%d" % n)
    conf = os.path.join(workdir, "opendkim%d.conf" % n)
    with open(keyfile, "w") as f:
        for name, value in keys.items():
            f.write("%s %s\n" % (name, value))
    with open(conf, "w") as f:
        f.write(OPENDKIM_CONF + "TestPublicKeys %s\nTemporaryDirectory %s\n" % (keyfile, workdir))
    try:
        # An MTA always sees a message ending in a line break (SMTP's DATA
        # ends with CRLF.CRLF); OpenDKIM's test mode, given a last line
        # without one and c=.../relaxed, reports "message not signed".
        if raw.endswith(b"\r"):
            raw += b"\n"
        elif raw and not raw.endswith(b"\n"):
            raw += b"\r\n" if b"\r\n" in raw else b"\n"
        p = subprocess.run([binary, "-x", conf, "-vv", "-t", "-"], input=raw,
                           capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"ok": False, "detail": "running %s: %s" % (binary, e), "log": "", "signatures": []}
    stdout = p.stdout.decode("utf-8", "replace")
    stderr = p.stderr.decode("utf-8", "replace")
    ar = authentication_results(stdout)
    if ar is None:
        tail = "\n".join((stdout + stderr).strip().splitlines()[-5:])
        return {"ok": False, "detail": "no Authentication-Results (exit %d): %s" % (p.returncode, tail),
                "log": "", "signatures": []}
    results = [r for r in parse_ar(ar) if r["result"] != "none"]
    # Put the results in the order of the signatures: header.b is the first
    # 8 characters of b= (unique enough between a message's signatures).
    ordered, rest = [], list(results)
    for sig in sigs:
        match = next((r for r in rest if same(r["d"], sig["d"]) and same(r["s"], sig["s"])
                      and sig["b"] is not None and r["b"] is not None
                      and sig["b"].startswith(r["b"])), None)
        if match is None:
            match = {"result": "missing", "reason": "no result for this signature",
                     "d": sig["d"], "s": sig["s"], "a": sig["a"], "b": None}
        else:
            rest.remove(match)
            # OpenDKIM says a=rsa-sha1 for a signature it could not
            # evaluate (a permerror): the signature's own a= is the truth.
            match["a"] = sig["a"]
        ordered.append(match)
    ordered += rest  # results matching no signature (not expected)
    for r in ordered:
        r["ok"] = r["result"] == "pass"
        del r["b"]
    ok = bool(sigs) and len(results) == len(sigs) and all(r["ok"] for r in ordered)
    # Its one-line verdict, which also gives a reason for a permerror
    # ("signature timestamp in the future").
    log = [line[len("opendkim: (stdin): "):] for line in stdout.splitlines()
           if line.startswith("opendkim: (stdin): ") and "returned SMFIS" not in line]
    return {"ok": ok, "detail": ar, "log": "; ".join(log), "signatures": ordered}


def load_batch(path):
    data = json.load(sys.stdin if path == "-" else open(path))
    common = {}
    if isinstance(data, dict):
        common = data.get("keys") or {}
        data = data.get("items")
    if not isinstance(data, list):
        raise ValueError("expected a list of items or {\"items\": [...]}")
    items = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("message"), str):
            raise ValueError("each item needs \"message\": PATH")
        keys = {}
        for name, value in list(common.items()) + list((item.get("keys") or {}).items()):
            if not isinstance(value, str) or re.search(r"[\r\n]", value) or re.search(r"\s", norm_name(name)):
                raise ValueError("bad key %r: %r" % (name, value))
            keys[norm_name(name)] = value
        items.append((item["message"], keys))
    return items


def verify_batch(items, binary, no_opendkim=False):
    """The result list for items [(path, keys)]."""
    out = []
    with tempfile.TemporaryDirectory(prefix="dkim-verify.") as workdir:
        for n, (path, keys) in enumerate(items):
            entry = {"message": path}
            try:
                with open(path, "rb") as f:
                    raw = f.read()
            except OSError as e:
                err = "cannot read the message: %s" % e
                entry["dkimpy"] = {"ok": False, "signatures": [], "error": err}
                entry["opendkim"] = None if no_opendkim else {"ok": False, "detail": err, "log": "",
                                                              "signatures": []}
                out.append(entry)
                continue
            entry["dkimpy"] = verify_dkimpy(raw, keys)
            if no_opendkim:
                entry["opendkim"] = None
            elif binary is None:
                entry["opendkim"] = {"ok": False, "detail": "opendkim not found", "log": "",
                                     "signatures": []}
            else:
                headers = dkim.rfc822_parse(raw)[0]
                sigs = [sig_fields(v) for k, v in headers if k.lower() == b"dkim-signature"]
                entry["opendkim"] = verify_opendkim(binary, workdir, n, raw, keys, sigs)
            out.append(entry)
    return out


# The self-test's message: a line with trailing spaces and an empty line at
# the end, which the two canonicalizations treat differently.
SAMPLE = (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
          b"Subject: DKIM self-test\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
          b"Message-ID: <dkim-self-test@example.org>\r\n\r\n"
          b"Hello  Bob,   \r\nthis is signed twice.\r\n\r\n")
SIGNED = [b"from", b"from", b"to", b"subject", b"date", b"message-id"]


def pem_der(path):
    text = open(path).read()
    body = re.search(r"-----BEGIN [A-Z ]+-----(.*?)-----END", text, re.S).group(1)
    return base64.b64decode("".join(body.split()))


def self_test(directory, binary):
    """Sign SAMPLE with DIR's keys (Ed25519 relaxed/relaxed, then RSA
    simple/simple above it), store it and a tampered copy as Maildir would
    (LF line ends), and check that both verifiers pass the first on every
    signature and fail the second on every signature. Writes DIR/versions."""
    d = lambda name: os.path.join(directory, name)  # noqa: E731
    with open(d("selectors")) as f:
        sel = dict(line.split() for line in f if line.strip())
    domain = sel["domain"].encode()
    # PKCS#8 Ed25519: a fixed 16-byte prefix, then the 32-byte seed (RFC 8410).
    seed = pem_der(d("ed25519.pem"))[-32:]
    sig_ed = dkim.DKIM(SAMPLE).sign(sel["ed25519"].encode(), domain, base64.b64encode(seed),
                                    signature_algorithm=b"ed25519-sha256",
                                    canonicalize=(b"relaxed", b"relaxed"), include_headers=SIGNED)
    with open(d("rsa2048.pem"), "rb") as f:
        rsa_key = f.read()
    sig_rsa = dkim.DKIM(sig_ed + SAMPLE).sign(sel["rsa2048"].encode(), domain, rsa_key,
                                              canonicalize=(b"simple", b"simple"),
                                              include_headers=SIGNED)
    signed = (sig_rsa + sig_ed + SAMPLE).replace(b"\r\n", b"\n")
    tampered = signed.replace(b"signed twice", b"signed thrice")
    for name, data in (("sample.eml", signed), ("sample-tampered.eml", tampered)):
        with open(d(name), "wb") as f:
            f.write(data)
    with open(d("keys.json")) as f:
        keys = {norm_name(k): v for k, v in json.load(f).items()}
    good, bad = verify_batch([(d("sample.eml"), keys), (d("sample-tampered.eml"), keys)], binary)
    json.dump([good, bad], open(d("self-test.json"), "w"), indent=1)
    problems = []
    for who in ("dkimpy", "opendkim"):
        g, b = good[who], bad[who]
        if not g["ok"] or len(g["signatures"]) != 2:
            problems.append("%s does not pass the signed sample: %s" % (who, g.get("detail") or g))
        if b["ok"] or len(b["signatures"]) != 2 or any(s["ok"] for s in b["signatures"]):
            problems.append("%s does not fail the tampered sample: %s" % (who, b.get("detail") or b))
    def version(dist):
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return "unknown"

    v = subprocess.run([binary, "-V"], capture_output=True, text=True).stdout
    m = re.search(r"OpenDKIM Filter v(\S+)", v)
    with open(d("versions"), "w") as f:
        f.write("dkimpy %s\npynacl %s\nopendkim %s\n" % (
            version("dkimpy"), version("pynacl"), m.group(1) if m else "unknown"))
    for p in problems:
        print("dkim_verify.py: self-test: %s" % p, file=sys.stderr)
    if not problems:
        print("dkim self-test passed: both verifiers pass %s/sample.eml (rsa-sha256 and "
              "ed25519-sha256) and fail sample-tampered.eml" % directory)
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("batch", nargs="?", help="the batch (JSON), - for stdin")
    ap.add_argument("--opendkim", help="the opendkim binary (default: from PATH or /usr/sbin)")
    ap.add_argument("--no-opendkim", action="store_true", help="dkimpy only")
    ap.add_argument("--self-test", metavar="DIR", help="dkim.sh's ready check (see self_test)")
    args = ap.parse_args()
    if dkim is None:
        print("dkim_verify.py: the dkimpy package is not installed for %s" % sys.executable,
              file=sys.stderr)
        return 2
    binary = None if args.no_opendkim else find_opendkim(args.opendkim)
    if args.self_test:
        if binary is None:
            print("dkim_verify.py: opendkim not found", file=sys.stderr)
            return 1
        return self_test(args.self_test, binary)
    if args.batch is None:
        ap.error("a batch file is needed")
    try:
        items = load_batch(args.batch)
    except (OSError, ValueError) as e:
        print("dkim_verify.py: %s" % e, file=sys.stderr)
        return 2
    json.dump(verify_batch(items, binary, args.no_opendkim), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
