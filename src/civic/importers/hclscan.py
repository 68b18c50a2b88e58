"""A fast scan of an HCL file's structure: its top-level blocks, and each block's attributes.

python-hcl2 (a lark grammar in pure Python) takes some 30 ms a file; the MoJ's estate has
12,460 ``.tf`` files, of which the importer needs only the labels of ``module`` and
``resource`` blocks and a few attributes of some modules. :func:`scan` finds those with
regular expressions: one reads most lines of a body whole, another skips text in bulk and
stops only where the structure can change (quotes, comments, heredocs, brackets, newlines);
some 0.3 ms a file.

It checks what it passes over: strings end on their line, comments and heredocs end,
brackets pair up, and every item of a block body is an attribute (``name = ...``) or a
block (``type "label" {``). Anything else, or anything it does not know, raises
:class:`Unsure`, and the caller reads the file with python-hcl2 instead, which says what
is wrong. It does not check expressions: ``a = 1 +`` passes here. No library does this
as fast from Python (tree-sitter-hcl and pygohcl, both C or Go parsers, take about 1 ms a
file on the samples), hence this hand-written scanner. Pure.
"""

from __future__ import annotations

import dataclasses
import re

# Where the structure can change; the regex engine skips everything between. A newline
# ends an item in a block's body, and means nothing inside brackets.
_BODY_STOP = re.compile(r'"|#|//|/\*|<<|[{}\[\]()\n]')
_EXPR_STOP = re.compile(r'"|#|//|/\*|<<|[{}\[\]()]')
# The rest of a quoted string after its opening quote, up to a quote, a template or the line's end.
_STRING = re.compile(r'(?:[^"\\\n$%]|\\.|\$\$\{|%%\{|\$(?!\{)|%(?!\{))*')
_HEREDOC = re.compile(r"<<-?([A-Za-z_][\w-]*)[ \t]*\r?\n")
_IDENT = r"[A-Za-z_][\w-]*"
_LABEL = r'"(?:[^"\\\n$%]|\\.|\$(?!\{)|%(?!\{))*"|' + _IDENT
_HEADER = re.compile(rf"\s*({_IDENT})((?:\s*(?:{_LABEL}))*)\s*")
_LABELS = re.compile(_LABEL)
_ATTRIBUTE = re.compile(rf"\s*({_IDENT})\s*=(?!=)")
_OPENS = {"{": "}", "[": "]", "(": ")"}
# A whole line of a body at once, as most are: blank, a comment, or ``name = value`` whose
# value holds no bracket, template, heredoc or comment mark; the loop below reads the others.
_PLAIN_STRING = r'"(?:[^"\\\n$%]++|\\.|\$(?!\{)|%(?!\{))*+"'
_LINE = re.compile(
    rf"[ \t]*+(?:({_IDENT})[ \t]*+=(?!=)[ \t]*+(?=\S)((?:[^\n\"#/{{}}\[\]()<$%\\]++|{_PLAIN_STRING})++))?"
    r"(?:(?:#|//)[^\n]*+)?\r?\n"
)


class Unsure(Exception):
    """The scan cannot vouch for this text; read it with a full parser."""


@dataclasses.dataclass(frozen=True)
class Block:
    """A top-level block: its type, labels as written (quotes kept), and where it is."""

    type: str
    labels: tuple[str, ...]
    start: int  # offset of its type's first character
    end: int  # offset just past its closing brace
    attributes: dict[str, str]  # name → the expression's text, for the blocks asked for
    blocks: tuple[str, ...]  # types of the blocks nested directly in it


class _Frame:
    """An open bracket: a block's body (items are checked) or part of an expression."""

    __slots__ = ("attributes", "blocks", "body", "closer", "comment", "item", "open", "start")

    def __init__(self, closer: str, *, body: bool, start: int, item: int) -> None:
        self.closer, self.body, self.start, self.item = closer, body, start, item
        self.open: tuple[str, tuple[str, ...], int] | None = None  # a top-level block's type, labels, start
        self.comment = -1  # where a comment starts in the current item, if one does
        self.attributes: dict[str, str] | None = None
        self.blocks: list[str] = []


def scan(text: str, *, collect: frozenset[str] = frozenset()) -> list[Block]:
    """The top-level blocks of ``text`` in order; the attributes of those whose type is in
    ``collect``. Raises :class:`Unsure` where it cannot vouch for the text."""
    out: list[Block] = []
    top = _Frame("", body=True, start=0, item=0)
    stack = [top]
    pos, size = 0, len(text)
    body, expr = _BODY_STOP.search, _EXPR_STOP.search
    frame = top
    line = _LINE.match
    while True:
        if frame.body and pos == frame.item:
            whole = line(text, pos)
            while whole is not None:
                if whole.group(1) is not None and frame.attributes is not None:
                    _keep(frame.attributes, whole.group(1), whole.group(2))
                pos = frame.item = whole.end()
                whole = line(text, pos)
        match = (body if frame.body else expr)(text, pos)
        if match is None:
            break
        pos = match.start()
        token = match.group()
        if token == "\n":
            _item(text, frame, pos)
            pos += 1
            continue
        if token == '"':
            pos = _string(text, pos + 1, stack)
        elif token in ("#", "//"):
            end = text.find("\n", pos)
            if frame.body and frame.comment < 0:
                frame.comment = pos
            pos = size if end < 0 else end
        elif token == "/*":
            end = text.find("*/", pos + 2)
            if end < 0:
                raise Unsure("a comment does not end")
            if frame.body:
                _block_comment(text, frame, pos, end + 2)
            pos = end + 2
        elif token == "<<":
            pos = _heredoc(text, pos)
        elif token in _OPENS:
            stack.append(_open(text, frame, token, pos, collect))
            pos += 1
        else:  # a closing bracket
            if frame.closer != token:
                raise Unsure(f"'{token}' does not close what is open")
            stack.pop()
            if frame.body:
                _item(text, frame, pos)
                parent = stack[-1]
                parent.item = pos + 1  # after a block, only a comment may follow on its line
                parent.comment = -1
                if frame.open is not None:
                    kind, labels, start = frame.open
                    out.append(Block(kind, labels, start, pos + 1, frame.attributes or {}, tuple(frame.blocks)))
            elif frame.closer == "}" and stack[-1].closer == '"':  # a template ends: back into the string
                pos = _string(text, pos + 1, stack) - 1
            pos += 1
        frame = stack[-1]
    if len(stack) != 1:
        raise Unsure("a bracket or string does not end")
    _item(text, top, size)
    return out


def _open(text: str, frame: _Frame, token: str, pos: int, collect: frozenset[str]) -> _Frame:
    if not frame.body or token != "{":
        return _Frame(_OPENS[token], body=False, start=pos, item=pos + 1)
    segment = text[frame.item : pos]
    attribute = _ATTRIBUTE.match(segment)
    if attribute:  # an attribute whose value is an object; anything before the brace is left to python-hcl2
        if segment[attribute.end() :].strip():
            raise Unsure("an object follows more of an expression")
        return _Frame("}", body=False, start=pos, item=pos + 1)
    header = _HEADER.fullmatch(segment)
    if header is None or frame.comment >= 0:
        raise Unsure("a block's header is not a type and labels")
    body = _Frame("}", body=True, start=pos, item=pos + 1)
    kind = header.group(1)
    frame.blocks.append(kind)
    if frame.closer == "":  # a top-level block
        body.open = (kind, tuple(_LABELS.findall(header.group(2))), frame.item + header.start(1))
        if kind in collect:
            body.attributes = {}
    return body


def _block_comment(text: str, frame: _Frame, start: int, end: int) -> None:
    """A ``/* */`` comment in a body: as blank space before an item, or at the end of its line."""
    if frame.comment >= 0:
        return
    if not text[frame.item : start].strip():
        frame.item = end
        return
    line_end = text.find("\n", end)
    rest = text[end : len(text) if line_end < 0 else line_end].strip()
    if rest and not rest.startswith(("#", "//")):
        raise Unsure("a comment sits inside an item")
    frame.comment = start


def _item(text: str, frame: _Frame, end: int) -> None:
    """Check the item of a body that ends at ``end``; keep it if its block collects."""
    start, comment = frame.item, frame.comment
    frame.item = end + 1
    if comment >= 0:
        frame.comment = -1
        end = comment
    if start >= end:
        return
    segment = text[start:end]
    attribute = _ATTRIBUTE.match(segment)
    if attribute is None and not segment.strip():
        return
    if attribute is None or not segment[attribute.end() :].strip():
        raise Unsure("an item is neither an attribute nor a block")
    if frame.attributes is not None:
        _keep(frame.attributes, attribute.group(1), segment[attribute.end() :])


def _keep(attributes: dict[str, str], name: str, value: str) -> None:
    if name in attributes:
        raise Unsure(f"attribute '{name}' is set twice")
    attributes[name] = value.strip()


def _string(text: str, pos: int, stack: list[_Frame]) -> int:
    """Skip a quoted string's text from ``pos``; at a template (``${``), open it and stop."""
    end = _STRING.match(text, pos).end()  # type: ignore[union-attr]  # the pattern matches empty text
    if text.startswith('"', end):
        if stack[-1].closer == '"':  # the string a template opened ends
            stack.pop()
        return end + 1
    if text.startswith(("${", "%{"), end):
        if stack[-1].closer != '"':
            stack.append(_Frame('"', body=False, start=pos - 1, item=pos))
        stack.append(_Frame("}", body=False, start=end, item=end + 2))
        return end + 2
    raise Unsure("a string does not end on its line")


def _heredoc(text: str, pos: int) -> int:
    match = _HEREDOC.match(text, pos)
    if match is None:
        raise Unsure("'<<' does not start a heredoc")
    end = re.compile(rf"^[ \t]*{re.escape(match.group(1))}[ \t]*\r?$", re.MULTILINE).search(text, match.end())
    if end is None:
        raise Unsure("a heredoc does not end")
    return end.end()
