#!/usr/bin/env python3
"""Generates docs/api_reference.md from the comments of proto/paramsync/v1/*.proto.

    python3 scripts/gen_api_reference.py            # rewrites docs/api_reference.md
    python3 scripts/gen_api_reference.py --check    # exit 1 if it is out of date

Documented are services and their RPCs, messages and their fields, enums and
their values: each with the comment lines right above it (no blank line
between) and the comment after it on its own line. A file's description is the
comment above its `syntax` line. python/tests/test_api_reference.py keeps the
committed file up to date with the protos.

Only what these protos use is parsed (proto3, no nested types, no options
between braces); anything else is an error naming the file and line, so a
construct the generator does not know is never silently dropped.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import os
import re
import sys
from typing import Dict, List, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join(REPO_ROOT, "proto")
PROTO_GLOB = os.path.join("paramsync", "v1", "*.proto")
OUTPUT = os.path.join(REPO_ROOT, "docs", "api_reference.md")

_COMMENT = re.compile(r"^\s*//\s?(.*)$")
_RPC = re.compile(r"^rpc\s+(\w+)\s*\(\s*(stream\s+)?([\w.]+)\s*\)\s*returns\s*"
                  r"\(\s*(stream\s+)?([\w.]+)\s*\)\s*;$")
_FIELD = re.compile(r"^(repeated\s+|optional\s+)?(map<\s*\w+\s*,\s*[\w.]+\s*>|[\w.]+)\s+(\w+)\s*="
                    r"\s*(\d+)\s*;$")
_ENUM_VALUE = re.compile(r"^(\w+)\s*=\s*(-?\d+)\s*;$")
_BLOCK = re.compile(r"^(service|message|enum)\s+(\w+)\s*\{(.*)$")


@dataclasses.dataclass
class Member:
    """A field, an enum value or an RPC."""

    name: str
    number: str = ""       # Field or enum value number.
    type: str = ""         # Field type, or the RPC's request.
    label: str = ""        # "repeated", "optional", or "stream" for an RPC's request.
    response: str = ""     # RPC only.
    response_stream: bool = False
    comment: str = ""


@dataclasses.dataclass
class Block:
    """A service, message or enum."""

    kind: str
    name: str
    file: str
    comment: str = ""
    members: List[Member] = dataclasses.field(default_factory=list)
    reserved: List[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ProtoFile:
    name: str
    description: str = ""
    blocks: List[Block] = dataclasses.field(default_factory=list)


class ProtoError(ValueError):
    pass


def _join(lines: List[str]) -> str:
    """Comment lines as text: lines of a paragraph joined, list items ("- ") on lines of
    their own, paragraphs apart."""
    out: List[str] = []
    for line in lines:
        text = line.strip()
        if text and out and out[-1] and not text.startswith("- "):
            out[-1] += " " + text
        else:
            out.append(text)
    return "\n".join(out).strip()


def parse(path: str, name: str) -> ProtoFile:
    """Parses one .proto file (see the module docstring for what is accepted)."""
    result = ProtoFile(name)
    pending: List[str] = []  # Comment lines above the next declaration.
    block: Optional[Block] = None
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()

    def fail(number: int, what: str) -> ProtoError:
        return ProtoError("%s:%d: %s" % (path, number, what))

    def add_member(text: str, trailing: str, number: int) -> None:
        assert block is not None
        comment = _join(pending + ([trailing] if trailing else []))
        text = text.strip()
        if text.startswith("reserved "):
            block.reserved.append(text[len("reserved "):].rstrip(";").strip())
            return
        if block.kind == "service":
            match = _RPC.match(text)
            if not match:
                raise fail(number, "not an rpc: %r" % text)
            block.members.append(Member(
                match.group(1), type=match.group(3), label="stream" if match.group(2) else "",
                response=match.group(5), response_stream=bool(match.group(4)),
                comment=comment))
        elif block.kind == "message":
            match = _FIELD.match(text)
            if not match:
                raise fail(number, "not a field: %r" % text)
            block.members.append(Member(
                match.group(3), number=match.group(4), type=re.sub(r"\s+", "", match.group(2)),
                label=(match.group(1) or "").strip(), comment=comment))
        else:
            match = _ENUM_VALUE.match(text)
            if not match:
                raise fail(number, "not an enum value: %r" % text)
            block.members.append(Member(match.group(1), number=match.group(2), comment=comment))

    for number, raw in enumerate(lines, 1):
        comment = _COMMENT.match(raw)
        if comment:
            pending.append(comment.group(1))
            continue
        if not raw.strip():
            pending = []
            continue
        code, _, trailing = raw.partition("//")
        code, trailing = code.strip(), trailing.strip()
        if block is None:
            opened = _BLOCK.match(code)
            if code.startswith("syntax"):
                result.description = _join(pending)
            elif opened:
                block = Block(opened.group(1), opened.group(2), name,
                              comment=_join(pending + ([trailing] if trailing else [])))
                result.blocks.append(block)
                rest = opened.group(3).strip()
                pending = []
                if rest.endswith("}"):  # A block on one line: `message X { int32 a = 1; }`.
                    for statement in filter(None, (s.strip() for s in rest[:-1].split(";"))):
                        add_member(statement + ";", "", number)
                    block = None
                elif rest:
                    raise fail(number, "unexpected %r after '{'" % rest)
            elif not re.match(r"^(package|import|option)\b", code):
                raise fail(number, "unexpected %r" % code)
            pending = []
            continue
        if code == "}":
            block = None
        else:
            add_member(code, trailing, number)
        pending = []
    if block is not None:
        raise ProtoError("%s: block %s is not closed" % (path, block.name))
    return result


def _anchor(name: str) -> str:
    return name.lower()


def _type_link(type_name: str, known: Dict[str, Block]) -> str:
    """`Type`, linked to its section when it is one of ours."""
    base = type_name.split(".")[-1]
    if base in known:
        return "[`%s`](#%s)" % (base, _anchor(base))
    return "`%s`" % type_name


def _text(text: str) -> str:
    """Comment text as Markdown that shows it as written."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")


def _cell(text: str) -> str:
    """Comment text inside a table cell: one line."""
    return re.sub(r"\n+", "<br>", _text(text).replace("|", "\\|")) or " "


def render(files: List[ProtoFile]) -> str:
    """The reference as Markdown."""
    known = {b.name: b for f in files for b in f.blocks if b.kind != "service"}
    out = [
        "# paramsync.v1 API reference",
        "",
        "<!-- Generated by scripts/gen_api_reference.py from the comments of",
        "     proto/paramsync/v1/*.proto. Do not edit: change the protos and run",
        "     `python3 scripts/gen_api_reference.py`. -->",
        "",
        "The gRPC API between paramsync's coordinator, agents, client libraries and",
        "`paramsyncctl` (package `paramsync.v1`). Every RPC takes a deadline; errors",
        "are gRPC status codes with a message naming the field or component at fault",
        "(README.md, *Status codes*).",
        "",
        "## Files",
    ]
    for f in files:
        out += ["", "### %s" % f.name, "", _text(f.description)]
    for kind, title in (("service", "Services"), ("message", "Messages"), ("enum", "Enums")):
        out += ["", "## " + title]
        for f in files:
            for b in (b for b in f.blocks if b.kind == kind):
                out += ["", "### %s" % b.name, "", "Defined in `%s`." % f.name]
                if b.comment:
                    out += ["", _text(b.comment)]
                out.append("")
                if kind == "service":
                    out += ["| RPC | request | response | description |",
                            "|---|---|---|---|"]
                    for m in b.members:
                        out.append("| `%s` | %s%s | %s%s | %s |" % (
                            m.name, "stream " if m.label else "", _type_link(m.type, known),
                            "stream " if m.response_stream else "",
                            _type_link(m.response, known), _cell(m.comment)))
                elif kind == "message":
                    if not b.members:
                        out.append("No fields.")
                        continue
                    out += ["| field | type | number | description |", "|---|---|---|---|"]
                    for m in b.members:
                        out.append("| `%s` | %s%s | %s | %s |" % (
                            m.name, m.label + " " if m.label else "",
                            _type_link(m.type, known), m.number, _cell(m.comment)))
                else:
                    out += ["| value | number | description |", "|---|---|---|"]
                    for m in b.members:
                        out.append("| `%s` | %s | %s |" % (m.name, m.number, _cell(m.comment)))
                if b.reserved:
                    out += ["", "Reserved: %s." % ", ".join(b.reserved)]
    return "\n".join(out) + "\n"


def generate(proto_dir: str = PROTO_DIR) -> str:
    """The reference of every proto/paramsync/v1 file, by file name."""
    paths = sorted(glob.glob(os.path.join(proto_dir, PROTO_GLOB)))
    if not paths:
        raise ProtoError("no .proto files under %s" % os.path.join(proto_dir, PROTO_GLOB))
    return render([parse(p, os.path.relpath(p, proto_dir)) for p in paths])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed file instead of writing it")
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args()
    try:
        text = generate()
    except ProtoError as e:
        print("gen_api_reference: %s" % e, file=sys.stderr)
        return 2
    if args.check:
        try:
            with open(args.output, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            print("%s is out of date: run python3 scripts/gen_api_reference.py" % args.output,
                  file=sys.stderr)
            return 1
        return 0
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
