"""Telegram's ``parse_mode=HTML`` as the Bot API server applies it.

Behaviour follows tdlib's parser (what api.telegram.org runs):

* tags: ``b strong i em u ins s strike del span tg-spoiler a code pre blockquote
  tg-emoji``; ``span`` needs ``class="tg-spoiler"``, ``tg-emoji`` needs ``emoji-id``;
  ``</>`` closes the innermost tag; tag and attribute names are case-insensitive;
* entities ``&lt; &gt; &amp; &quot;`` and numeric ``&#NN; &#xHH;`` (``;`` optional);
  a bare ``&`` is literal text;
* errors are reported with UTF-8 *byte* offsets into the source, worded like tdlib
  (``Unsupported start tag "foo" at byte offset 3``, ``Can't find end tag corresponding
  to start tag "b"``, ``Unmatched end tag at byte offset 9, expected "</i>", found
  "</b>"`` ...); the Bot API prefixes them with ``Bad Request: can't parse entities:``.

Deviation (on purpose, switchable): real Telegram keeps an unknown named entity such as
``&nbsp;`` as literal text. With ``strict_entities=True`` (the fake's default) it is an
error instead, so un-escaped ``&`` in templates is caught by tests.

Entity offsets/lengths are in UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EntityParseError", "ParsedText", "parse_telegram_html", "utf16_len"]

_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SURROGATE_ERROR = (
    "Text contains invalid Unicode characters after decoding HTML entities, "
    "check for unmatched surrogate code units"
)


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; ``str(exc)`` is tdlib's wording."""


@dataclass
class ParsedText:
    """Visible text and Bot API ``MessageEntity`` dicts."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Open:
    tag: str
    start: int  # UTF-16 offset in the output
    attrs: dict[str, str]
    language: str | None = None


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (how Telegram measures entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


class _Parser:
    def __init__(self, src: str, strict_entities: bool) -> None:
        self.src = src
        self.n = len(src)
        self.strict = strict_entities
        self.out: list[str] = []
        self.pos16 = 0
        self.stack: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def fail(self, message: str) -> EntityParseError:
        return EntityParseError(message)

    def byte_offset(self, i: int) -> int:
        return len(self.src[:i].encode("utf-8", "surrogatepass"))

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.pos16 += utf16_len(text)

    def decode_entity(self, i: int) -> tuple[str | None, int]:
        """Decode ``&...`` at ``i``: (character, next index) or (None, i)."""
        src, j = self.src, i + 1
        if j < self.n and src[j] == "#":
            j += 1
            is_hex = j < self.n and src[j] == "x"
            j += is_hex
            digits_start = j
            allowed = "0123456789abcdefABCDEF" if is_hex else "0123456789"
            while j < self.n and src[j] in allowed:
                j += 1
            digits = src[digits_start:j]
            if not digits or j - i >= 10:
                return None, i
            value = int(digits, 16 if is_hex else 10)
            if value == 0 or value >= 0x10FFFF:
                return None, i
            if 0xD800 <= value <= 0xDFFF:
                raise self.fail(_SURROGATE_ERROR)
            char = chr(value)
        else:
            while j < self.n and src[j].isascii() and src[j].isalpha():
                j += 1
            name = src[i + 1 : j]
            if name not in _NAMED:
                if self.strict and name and j < self.n and src[j] == ";":
                    raise self.fail(
                        f'Unsupported HTML entity "&{name};" at byte offset {self.byte_offset(i)}'
                    )
                return None, i
            char = _NAMED[name]
        if j < self.n and src[j] == ";":
            j += 1
        return char, j

    def parse(self) -> ParsedText:
        i = 0
        while i < self.n:
            c = self.src[i]
            if c == "&":
                char, j = self.decode_entity(i)
                if char is not None:
                    self.emit(char)
                    i = j
                    continue
            if c != "<":
                self.emit(c)
                i += 1
                continue
            closing = i + 1 < self.n and self.src[i + 1] == "/"
            i = self.end_tag(i) if closing else self.start_tag(i)
        if self.stack:
            raise self.fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return ParsedText("".join(self.out), self.entities)

    def skip_spaces(self, i: int) -> int:
        while i < self.n and self.src[i].isspace():
            i += 1
        return i

    def start_tag(self, begin: int) -> int:
        src, offset = self.src, self.byte_offset(begin)
        i = begin + 1
        while i < self.n and not src[i].isspace() and src[i] != ">":
            i += 1
        if i >= self.n:
            raise self.fail(f"Unclosed start tag at byte offset {offset}")
        tag = src[begin + 1 : i].lower()
        if tag not in _ENTITY_TYPES:
            raise self.fail(f'Unsupported start tag "{tag}" at byte offset {offset}')
        attrs: dict[str, str] = {}
        while True:
            i = self.skip_spaces(i)
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if src[i] == ">":
                i += 1
                break
            name_start = i
            while i < self.n and not src[i].isspace() and src[i] not in "=>":
                i += 1
            name = src[name_start:i].lower()
            if not name:
                raise self.fail(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
            i = self.skip_spaces(i)
            if i < self.n and src[i] != "=" and tag == "blockquote" and name == "expandable":
                attrs[name] = ""
                continue
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if src[i] != "=":
                raise self.fail(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {offset}'
                )
            i = self.skip_spaces(i + 1)
            if i >= self.n:
                raise self.fail(f'Unclosed start tag "{tag}" at byte offset {offset}')
            attrs[name], i = self.attribute_value(i, offset)
        self.open_tag(tag, attrs, offset)
        return i

    def attribute_value(self, i: int, tag_offset: int) -> tuple[str, int]:
        src = self.src
        if src[i] in "\"'":
            quote, i, chars = src[i], i + 1, []
            while i < self.n and src[i] != quote:
                if src[i] == "&":
                    char, j = self.decode_entity(i)
                    if char is not None:
                        chars.append(char)
                        i = j
                        continue
                chars.append(src[i])
                i += 1
            if i >= self.n:
                raise self.fail(f"Unclosed start tag at byte offset {tag_offset}")
            return "".join(chars), i + 1
        token_start = i
        while i < self.n and ((src[i].isascii() and src[i].isalnum()) or src[i] in ".-"):
            i += 1
        if i < self.n and not src[i].isspace() and src[i] != ">":
            raise self.fail(f"Unexpected end of name token at byte offset {self.byte_offset(token_start)}")
        return src[token_start:i].lower(), i

    def open_tag(self, tag: str, attrs: dict[str, str], offset: int) -> None:
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise self.fail(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {offset}')
        self.stack.append(_Open(tag, self.pos16, attrs))

    def end_tag(self, begin: int) -> int:
        src, offset = self.src, self.byte_offset(begin)
        i = begin + 2
        while i < self.n and not src[i].isspace() and src[i] != ">":
            i += 1
        name = src[begin + 2 : i].lower()
        i = self.skip_spaces(i)
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {offset}")
        if i >= self.n or src[i] != ">":
            raise self.fail(f"Unclosed end tag at byte offset {offset}")
        top = self.stack.pop()
        if name and name != top.tag:
            raise self.fail(
                f'Unmatched end tag at byte offset {offset}, expected "</{top.tag}>", found "</{name}>"'
            )
        self.close(top)
        return i + 1

    def close(self, top: _Open) -> None:
        length = self.pos16 - top.start
        language = top.attrs.get("class", "").removeprefix("language-")
        parent = self.stack[-1] if self.stack else None
        if (
            top.tag == "code"
            and top.attrs.get("class", "").startswith("language-")
            and (parent is not None and parent.tag == "pre" and language)
        ):
            parent.language = language  # <pre><code class="language-x"> is one pre entity
            return
        if length <= 0:
            return
        entity: dict[str, Any] = {"type": _ENTITY_TYPES[top.tag], "offset": top.start, "length": length}
        if top.tag == "a":
            href = top.attrs.get("href")
            if not href:
                return  # tdlib: without href the text itself must be a URL; keep it plain
            entity["url"] = href
        elif top.tag == "pre" and top.language:
            entity["language"] = top.language
        elif top.tag == "blockquote" and "expandable" in top.attrs:
            entity["type"] = "expandable_blockquote"
        elif top.tag == "tg-emoji":
            entity["custom_emoji_id"] = top.attrs["emoji-id"]
        self.entities.append(entity)


def parse_telegram_html(text: str, *, strict_entities: bool = True) -> ParsedText:
    """Parse Telegram HTML into visible text + entities; raises :class:`EntityParseError`."""
    return _Parser(text, strict_entities).parse()
