#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a circle.

    scripts/import-cycles.py crates/postie-mime/src crates/postie-smtp/src crates/postie/src

An edge A -> B is any `crate::B` path in A's code (comments and the
#[cfg(test)] module left out). Prints each circle with its edges; exit 1 if any.
"""
import os
import re
import sys
from collections import defaultdict


def graph(src):
    g = defaultdict(set)
    for root, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, src)[:-3].split(os.sep)
            top = parts[0]
            if top in ("lib", "main"):
                continue
            text = open(path, encoding="utf-8").read()
            cut = text.find("#[cfg(test)]")
            if cut >= 0:
                text = text[:cut]
            text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
            for m in re.finditer(r"crate::(\w+)", text):
                if m.group(1) != top:
                    g[top].add(m.group(1))
            for m in re.finditer(r"use crate::\{([^}]*)\}", text):
                for t in re.findall(r"(?:^|,)\s*(\w+)", m.group(1)):
                    if t != top:
                        g[top].add(t)
    return g


def circles(g):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(part)

    for v in list(g):
        if v not in index:
            visit(v)
    return found


def main():
    bad = False
    for src in sys.argv[1:]:
        g = graph(src)
        for part in circles(g):
            bad = True
            print(f"{src}: modules import each other in a circle: {sorted(part)}")
            for a in sorted(part):
                print(f"  {a} -> {sorted(g[a] & set(part))}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
