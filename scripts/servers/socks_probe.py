#!/usr/bin/env python3
"""A SOCKS5 check used by scripts/servers/socks.sh (standard library only).

    socks_probe.py PROXY_HOST:PORT TARGET_HOST:PORT [--user U --password P]
                   [--timeout S] --expect OUTCOME
        One SOCKS5 handshake (RFC 1928, RFC 1929 with --user): offer no
        authentication (and username/password with --user), then CONNECT to
        TARGET (a name goes as a name, for the proxy to resolve). Polls
        until the proxy accepts a TCP connection (within --timeout), then
        exits 0 when the outcome is OUTCOME:
          connected       REP 0
          rep-N           the CONNECT failed with REP N
          no-method       the proxy refused every method offered (0xFF)
          auth-refused    the username and password were refused
"""

import argparse
import ipaddress
import socket
import struct
import sys
import time


def hostport(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the proxy closed the connection")
        data += chunk
    return data


def handshake(sock, target, user, password):
    """The outcome of one handshake, as --expect names it."""
    methods = b"\x00\x02" if user is not None else b"\x00"
    sock.sendall(b"\x05" + bytes([len(methods)]) + methods)
    version, method = read_exactly(sock, 2)
    if version != 5:
        raise ValueError("method reply has version %d" % version)
    if method == 0xFF:
        return "no-method"
    if method == 2:
        u, p = user.encode(), password.encode()
        sock.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
        _, status = read_exactly(sock, 2)
        if status != 0:
            return "auth-refused"
    elif method != 0:
        raise ValueError("the proxy chose method %d" % method)
    host, port = target
    try:
        ip = ipaddress.ip_address(host)
        addr = (b"\x01" if ip.version == 4 else b"\x04") + ip.packed
    except ValueError:
        addr = b"\x03" + bytes([len(host)]) + host.encode()
    sock.sendall(b"\x05\x01\x00" + addr + struct.pack(">H", port))
    version, rep = read_exactly(sock, 2)
    if version != 5:
        raise ValueError("CONNECT reply has version %d" % version)
    return "connected" if rep == 0 else "rep-%d" % rep


def main():
    p = argparse.ArgumentParser()
    p.add_argument("proxy", type=hostport)
    p.add_argument("target", type=hostport)
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--expect", required=True)
    args = p.parse_args()
    until = time.monotonic() + args.timeout
    while True:
        try:
            sock = socket.create_connection(args.proxy, timeout=2)
            break
        except OSError as e:
            if time.monotonic() >= until:
                print("cannot connect to %s:%d: %s" % (args.proxy + (e,)), file=sys.stderr)
                return 1
            time.sleep(0.05)
    with sock:
        try:
            outcome = handshake(sock, args.target, args.user, args.password)
        except (OSError, EOFError, ValueError) as e:
            print("SOCKS5 handshake failed: %s" % e, file=sys.stderr)
            return 1
    print(outcome)
    if outcome != args.expect:
        print("expected %s, got %s" % (args.expect, outcome), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
