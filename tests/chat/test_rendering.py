"""Message bodies to the contract's HTML: what each Markdown construct gives, and that
hostile input never becomes markup."""

import random
import re

import pytest

from chat.rendering import mention_candidates, parse, plain_text_html, render, render_body

ALLOWED = {"p", "br", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
           "a", "span"}  # fmt: skip
REL = 'target="_blank" rel="nofollow noopener noreferrer"'


@pytest.mark.parametrize(
    ("body", "html"),
    [
        ("*em* **strong**", "<p><em>em</em> <strong>strong</strong></p>"),
        ("~~gone~~ `x`", "<p><s>gone</s> <code>x</code></p>"),
        ("one\ntwo", "<p>one<br>\ntwo</p>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("```\ncode\n```", "<pre><code>code\n</code></pre>"),
        ("[site](https://example.com)", f'<p><a href="https://example.com" {REL}>site</a></p>'),
        ("go https://example.com", f'<p>go <a href="https://example.com" {REL}>https://example.com</a></p>'),
        ("<b>bold</b>", "<p>&lt;b&gt;bold&lt;/b&gt;</p>"),
        ("# not a heading", "<p># not a heading</p>"),
    ],
)  # fmt: skip
def test_markdown_constructs(body, html):
    assert render_body(body) == html


HOSTILE = [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "<javascript:alert(1)>",
    "[x](data:text/html,<script>alert(1)</script>)",
    "[x](vbscript:msgbox(1))",
    "<img src=x onerror=alert(1)>",
    "![x](https://evil.example/track.png)",
    "![x](javascript:alert(1))",
    "```\n<script>alert(1)</script>\n```",
    "`<script>alert(1)</script>`",
    "&lt;script&gt;alert(1)&lt;/script&gt; &#x3C;img src=x onerror=alert(1)&#x3E;",
    '<a href="javascript:alert(1)">x</a>',
    '[x](https://a.example "onmouseover=alert(1)")',
    "<svg onload=alert(1)>",
    "> <iframe src=javascript:alert(1)>",
    "[x](/relative) [y](//evil.example)",
]


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_markdown_is_inert(body):
    html = render_body(body)
    assert set(re.findall(r"<([a-z0-9]+)", html)) <= ALLOWED
    for href in re.findall(r'<a\s[^>]*href="([^"]*)"', html):
        assert href.startswith(("http://", "https://", "mailto:")), href
    assert not re.search(r"<[^>]*\son\w+=", html)  # no event handler attribute on any tag
    assert "<script" not in html and "<img" not in html and "<iframe" not in html


def test_deep_nesting_is_bounded_not_a_crash():
    for body in (">" * 10_000, "> " * 1000 + "x", "*" * 2000, "[" * 2000, "- " * 1000):
        html = render_body(body)
        assert html.count("<blockquote>") <= 25


def test_mentions_outside_code_and_links_of_members_only():
    body = "hi @Bob, @carol. `@bob` [@bob](https://x.example) @stranger"
    assert "bob" in mention_candidates(parse(body))
    html = render_body(body, ["bob", "carol"])
    assert '<span class="mention" data-username="bob">@bob</span>' in html
    assert '<span class="mention" data-username="carol">@carol</span>.' in html
    assert "<code>@bob</code>" in html and "@stranger" in html
    assert html.count('class="mention"') == 2


# The plain-text path must give exactly what the parser gives. Random bodies over an alphabet
# of plain characters, markdown's own, spaces and other scripts: of those it takes, every one
# is compared with the parser's html.
_ALPHABET = [
    *"abcXYZ019 ,.?!'\"()/;:%$^=|+-*_~`#&<>[]\\@\n\t",
    *("é", "ß", "中", "٣", "²", "\u0131", "ﬁ", "\u00a0", "\u3000", "\u200b", "\u0301"),
]


def test_plain_text_html_is_the_parsers_html():
    rng = random.Random(20261202)
    taken = 0
    for _ in range(30_000):
        body = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 14)))
        html = plain_text_html(body)
        if html is not None:
            taken += 1
            assert html == render(parse(body)), body
            assert re.fullmatch(r"<p>[^<>]*</p>", html), body  # text only, never a tag
    assert taken > 1_000  # the comparison ran on many bodies, not a few


@pytest.mark.parametrize(
    "body",
    [
        "Hello there, how are you?",
        "well-known (really) fact; 100% sure!",
        "B|3|17|1733141234.567890",
        "x - y + z = 2",
        'she said "yes"',
        "naïve café 中文 ٣.",
    ],
)
def test_plain_text_takes_plain_prose(body):
    assert plain_text_html(body) == render(parse(body))


@pytest.mark.parametrize(
    "body",
    [
        "1. first",
        "2)",
        "- item",
        "+ item",
        "see example.com",
        "go https://example.com",
        "mail bob@example.com",
        " leading space",
        "trailing space ",
        "    code",
        "a\nb",
        "*em*",
        "a_b_c",
        "&amp;",
        "<b>",
        "[x](y)",
        "\\*",
        "`x`",
        "~~x~~",
        "# heading",
        "> quote",
        "no\u00a0break",
        "",
    ],
)
def test_plain_text_leaves_markdown_to_the_parser(body):
    assert plain_text_html(body) is None
    render_body(body)  # and the parser still takes it
