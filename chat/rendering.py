"""Markdown bodies to the contract's safe HTML, once, at write time.

markdown-it-py parses with raw HTML off (`<b>` stays the text `<b>`), links limited to
http, https and mailto, and no images; nh3 then keeps only the contract's tags and
attributes, so that a rule this module gets wrong still cannot put markup on a page.
Mentions are found in the parsed text (never in code or link text) and resolved by the
caller against the room's members: `mention_candidates` first, then `render`.
"""

import re
from collections.abc import Iterable, Iterator

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token

MENTION_RE = re.compile(r"(?<![\w@.+-])@([\w][\w.+-]*)")
SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Deeper than anyone quotes by hand; bounds the parser's (and nh3's) recursion for a body
# that is a 2000-character pile of `>` or `*`.
MAX_NESTING = 20

ALLOWED_TAGS = {
    "p", "br", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "span",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": set(),  # not nh3's default `lang` and `title` on every tag
    "a": {"href"},
    "span": {"data-username"},  # its class is allowed_classes' (nh3 refuses both)
    "ol": {"start"},
}


def _safe_link(url: str) -> bool:
    return url.strip().lower().startswith(SAFE_SCHEMES)


def _build_parser() -> MarkdownIt:
    md = MarkdownIt(
        "commonmark",
        {"html": False, "linkify": True, "breaks": True, "maxNesting": MAX_NESTING},
    )
    md.enable(["strikethrough", "linkify"])
    # Not in the contract's subset: shown as the text typed (an image as its link).
    md.disable(["image", "heading", "lheading", "hr", "html_block", "html_inline"])
    md.validateLink = _safe_link
    md.add_render_rule("text", _render_text)
    return md


def _render_text(self, tokens: list[Token], idx: int, options, env: dict) -> str:
    """Plain text, with each `@name` of a resolved member as a mention span."""
    content = tokens[idx].content
    members: dict[str, str] = env.get("members", {})
    if not members or tokens[idx].meta.get("in_link") or "@" not in content:
        return escapeHtml(content)
    out, last = [], 0
    for match in MENTION_RE.finditer(content):
        name = _member_name(match.group(1), members)
        if name is None:
            continue
        end = match.start() + 1 + len(name)
        out.append(escapeHtml(content[last : match.start()]))
        out.append(
            f'<span class="mention" data-username="{escapeHtml(members[name.lower()])}">'
            f"@{escapeHtml(members[name.lower()])}</span>"
        )
        last = end
    out.append(escapeHtml(content[last:]))
    return "".join(out)


def _member_name(raw: str, members: dict[str, str]) -> str | None:
    """The mention as typed, less trailing punctuation ("@bob." is bob), if a member's."""
    name = raw
    while name:
        if name.lower() in members:
            return name
        if name[-1] not in ".+-":
            return None
        name = name[:-1]
    return None


_PARSER = _build_parser()


def _text_tokens(tokens: list[Token]) -> Iterator[Token]:
    """Inline text tokens outside code and link labels (marked `in_link` for the renderer)."""
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        link_depth = 0
        for token in block.children:
            if token.type == "link_open":
                link_depth += 1
            elif token.type == "link_close":
                link_depth -= 1
            elif token.type == "text":
                token.meta["in_link"] = link_depth > 0
                if link_depth == 0:
                    yield token


def parse(body: str) -> list[Token]:
    return _PARSER.parse(body)


def mention_candidates(tokens: list[Token]) -> list[str]:
    """Every `@name` in the text (not in code or link labels), in order, each once."""
    seen: dict[str, None] = {}
    for token in _text_tokens(tokens):
        for match in MENTION_RE.finditer(token.content):
            name = match.group(1)
            # "@bob." or "@bob-" at a sentence's end: both spellings are asked for.
            for candidate in (name, name.rstrip(".+-")):
                if candidate:
                    seen.setdefault(candidate.lower(), None)
    return list(seen)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    # nh3 lets relative URLs through; the contract allows absolute safe schemes only.
    if tag == "a" and attribute == "href" and not _safe_link(value):
        return None
    return value


# Built once: a cleaner per call would rebuild its rule set on every message.
_CLEANER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    url_schemes={"http", "https", "mailto"},
    attribute_filter=_filter_attribute,
    link_rel="nofollow noopener noreferrer",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    allowed_classes={"span": {"mention"}},
)


def _sanitize(html: str) -> str:
    return _CLEANER.clean(html)


def render(tokens: list[Token], members: Iterable[str] = ()) -> str:
    """The parsed body as sanitized HTML; `members` are the usernames to show as mentions."""
    env = {"members": {name.lower(): name for name in members}}
    for _ in _text_tokens(tokens):
        pass  # marks link labels, where a mention stays plain text
    html = _PARSER.renderer.render(tokens, _PARSER.options, env)
    return _sanitize(html).strip()


# A body made only of these (letters and digits of any script, spaces, and punctuation that no
# rule enabled here reacts to inside a line) is one paragraph of text: no emphasis, code,
# link, entity, escape, strikethrough or line break can start in it...
_PLAIN_TEXT_RE = re.compile(r"(?:[^\W_]|[ ,.?!'\"()/;:%$^=|+-])+")
# ...unless its line starts a list item ("1. ", "2)", "- ", "+ "), or linkify sees a link.
_LIST_START_RE = re.compile(r"[0-9]{1,9}[.)](?: |$)|[+-](?: |$)")


def plain_text_html(body: str) -> str | None:
    """The html of a body that holds no markdown, without running the parser; None for any
    other body. The parser's fixed cost was most of a short message's rendering (about 200
    of 285 us at 10 messages/s, docs/performance.md); its output for such a body is
    `<p>{escaped}</p>`, which tests/chat/test_rendering.py checks against it."""
    if (
        _PLAIN_TEXT_RE.fullmatch(body) is None
        or body != body.strip()
        or _LIST_START_RE.match(body)
        or _PARSER.linkify.pretest(body)
    ):
        return None
    if body.isascii() and '"' not in body:
        # Nothing to escape, nothing the sanitizer would change: no <, >, & or quote.
        return f"<p>{body}</p>"
    return _sanitize(f"<p>{escapeHtml(body)}</p>\n").strip()


def render_body(body: str, members: Iterable[str] = ()) -> str:
    if not members:
        html = plain_text_html(body)
        if html is not None:
            return html
    return render(parse(body), members)
