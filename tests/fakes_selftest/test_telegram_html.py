"""The fake's Telegram-HTML parser on its own."""

from __future__ import annotations

import pytest

from tests.fakes.telegram_html import EntityParseError, parse_telegram_html


def test_entities_use_utf16_offsets() -> None:
    parsed = parse_telegram_html("🔥 <b>a&lt;b</b> <a href='https://x.test/?a=1&amp;b=2'>l</a>")
    assert parsed.text == "🔥 a<b l"
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 3},  # the emoji is 2 UTF-16 units
        {"type": "text_link", "offset": 7, "length": 1, "url": "https://x.test/?a=1&b=2"},
    ]


def test_all_supported_tags() -> None:
    html = (
        "<b>1</b><strong>2</strong><i>3</i><em>4</em><u>5</u><ins>6</ins><s>7</s>"
        '<strike>8</strike><del>9</del><span class="tg-spoiler">a</span>'
        "<tg-spoiler>b</tg-spoiler><code>c</code><pre>d</pre><blockquote>e</blockquote>"
        '<blockquote expandable>f</blockquote><tg-emoji emoji-id="5368324170671202286">'
        'g</tg-emoji><pre><code class="language-python">h</code></pre>'
    )
    parsed = parse_telegram_html(html)
    assert parsed.text == "123456789abcdefgh"
    assert [e["type"] for e in parsed.entities] == [
        "bold",
        "bold",
        "italic",
        "italic",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "spoiler",
        "spoiler",
        "code",
        "pre",
        "blockquote",
        "expandable_blockquote",
        "custom_emoji",
        "pre",
    ]
    assert parsed.entities[-1]["language"] == "python"


def test_entities_and_lenient_cases() -> None:
    assert parse_telegram_html("&#65;&#x42;&quot;&amp;&gt;").text == 'AB"&>'
    assert parse_telegram_html("AT&T & co").text == "AT&T & co"  # bare & is text
    assert parse_telegram_html("<B>x</>").entities == [{"type": "bold", "offset": 0, "length": 1}]
    assert parse_telegram_html("&nbsp;", strict_entities=False).text == "&nbsp;"
    assert parse_telegram_html("<b></b>").entities == []


@pytest.mark.parametrize(
    ("html", "message"),
    [
        ("é<b>", 'Can\'t find end tag corresponding to start tag "b"'),
        ("é<x", "Unclosed start tag at byte offset 2"),  # byte offsets: é is 2 bytes
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<i =a>x</i>", 'Empty attribute name in the tag "i" at byte offset 0'),
        ("<i a>x</i>", 'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 0'),
        ("<i a=b,>x</i>", "Unexpected end of name token at byte offset 5"),
        ("<i a='x>", "Unclosed start tag at byte offset 0"),
        ("<i>x</i ", "Unclosed end tag at byte offset 4"),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        (
            "&#xD800;",
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units",
        ),
        ("<b>&foo;</b>", 'Unsupported HTML entity "&foo;" at byte offset 3'),
    ],
)
def test_errors(html: str, message: str) -> None:
    with pytest.raises(EntityParseError) as info:
        parse_telegram_html(html)
    assert str(info.value) == message
