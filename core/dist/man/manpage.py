#!/usr/bin/env python3
"""core/dist/man/manpage.py - builds a man page from the Markdown docs.

    manpage.py NAME SECTION VERSION DATE HEAD.md DOC.md [TAIL.roff] > page

HEAD.md holds the NAME line and the sections a man page has that the
guide does not (SYNOPSIS, DESCRIPTION); DOC.md is the document from
docs/ (its title line is dropped, its `##` sections become the page's
sections, `###` subsections); TAIL.roff (roff, for its .TP lists) adds
ENVIRONMENT, FILES, SEE ALSO.
cmark-gfm renders the Markdown to roff (--to man, tables through tbl);
this script adds the .TH line and lets table cells wrap (T{ ... T}).
Relative links of the guide are kept as text; their targets are named.
"""
import re
import subprocess
import sys


def sections(md, drop_title):
    out, fence = [], False
    for i, line in enumerate(md.splitlines()):
        if line.startswith("```"):
            fence = not fence
        if not fence and drop_title and i == 0 and line.startswith("# "):
            continue
        if not fence and re.match(r"^#{2,3} ", line):
            hashes, title = line.split(" ", 1)
            if len(hashes) == 2:
                line = "# " + title.upper()
            else:
                line = "## " + title
        out.append(line)
    return "\n".join(out) + "\n"


def roff(md):
    r = subprocess.run(["cmark-gfm", "--to", "man", "-e", "table", "-e", "autolink"],
                       input=md.encode(), capture_output=True, check=True)
    return r.stdout.decode()


def wrap_tables(text):
    """cmark-gfm writes each row on one line; long cells must wrap."""
    out, in_tbl, fmt_next = [], False, False
    for line in text.splitlines():
        if line == ".TS":
            in_tbl, fmt_next = True, 0
            out.append(line)
            continue
        if in_tbl and line == ".TE":
            in_tbl = False
            out.append(line)
            continue
        if in_tbl:
            if fmt_next == 0:          # tab(@);
                fmt_next = 1
                out.append("allbox tab(@);")
                continue
            if fmt_next == 1:          # the format line: left, last expands
                fmt_next = 2
                n = len(line.rstrip("."))
                out.append(" ".join(["lb"] * n) + "\n" + " ".join(["l"] * (n - 1) + ["lx"]) + ".")
                continue
            cells = line.split("@")
            out.append("@".join("T{\n" + c + "\nT}" for c in cells))
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def main():
    name, sec, version, date, head = sys.argv[1:6]
    docs = sys.argv[6:]
    md = open(head, encoding="utf-8").read()
    tail = ""
    for i, d in enumerate(docs):
        text = open(d, encoding="utf-8").read()
        if d.endswith(".roff"):  # written as roff (.TP lists): appended as is
            tail += text
        else:
            md += "\n" + sections(text, drop_title=(i == 0))
    body = wrap_tables(roff(md)) + tail
    sys.stdout.write('.TH "%s" "%s" "%s" "klimakit %s" "klimakit manual"\n'
                     % (name.upper(), sec, date, version))
    sys.stdout.write(body)


main()
