"""Message bodies to the contract's HTML: what each Markdown construct gives, and that
hostile input never becomes markup."""

import re

import pytest

from chat.rendering import mention_candidates, parse, render_body

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
