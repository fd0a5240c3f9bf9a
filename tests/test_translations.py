"""Every text shown to people is in the Spanish catalogues, translated and confirmed.

makemessages runs on a copy of the code (so the working tree is left alone), exactly as
`make messages` runs it; every entry it finds must have a Spanish text and none may be
fuzzy (a guess msgmerge made from a similar text, which Django does not show). A template
string left outside {% translate %} is caught by the browser tests instead: its English
shows on a Spanish page.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
CATALOGUES = ("django", "djangojs")
SKIPPED = shutil.ignore_patterns(".*", "__pycache__", "node_modules", "vendor", "*.sqlite3", "*.mo")


def po_entries(text: str) -> list[dict]:
    """The entries of a .po file: msgid, msgid_plural, msgstr (every form), flags, obsolete."""
    entries = []
    for block in re.split(r"\n\s*\n", text.strip()):
        entry = {"flags": set(), "msgid": "", "msgstr": [], "obsolete": False}
        field = None
        for line in block.splitlines():
            if line.startswith("#~"):
                entry["obsolete"] = True
                continue
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
                continue
            if line.startswith("#") or not line.strip():
                continue
            match = re.match(r'^(msgid_plural|msgid|msgctxt|msgstr(?:\[\d+\])?)\s+"(.*)"$', line)
            if match:
                field, value = match.groups()
                if field.startswith("msgstr"):
                    entry["msgstr"].append(value)
                else:
                    entry[field] = value
            elif line.startswith('"') and field:
                value = line.strip()[1:-1]
                if field.startswith("msgstr"):
                    entry["msgstr"][-1] += value
                else:
                    entry[field] += value
        entries.append(entry)
    return entries


def problems(path: Path) -> list[str]:
    found = []
    for entry in po_entries(path.read_text(encoding="utf-8")):
        if entry["obsolete"] or entry["msgid"] == "":  # the header
            continue
        if "fuzzy" in entry["flags"]:
            found.append(f"fuzzy: {entry['msgid']!r}")
        elif not entry["msgstr"] or any(not text for text in entry["msgstr"]):
            found.append(f"untranslated: {entry['msgid']!r}")
    return found


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    """locale/ as makemessages leaves it after reading the code as it is now."""
    if not shutil.which("msgfmt") or not shutil.which("xgettext"):
        pytest.fail("GNU gettext is missing: install Debian's gettext (`make gettext`)")
    copy = tmp_path_factory.mktemp("messages")
    for name in ("manage.py",):
        shutil.copy2(BASE_DIR / name, copy / name)
    for name in ("mychannels", "chat", "alert", "templates", "static", "locale"):
        shutil.copytree(BASE_DIR / name, copy / name, ignore=SKIPPED)
    for domain in CATALOGUES:
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "makemessages",
                "-l",
                "es",
                "--no-obsolete",
                "-d",
                domain,
            ],
            cwd=copy,
            check=True,
            capture_output=True,
            text=True,
        )
    return copy / "locale"


@pytest.mark.parametrize("domain", CATALOGUES)
def test_every_text_has_a_spanish_translation(regenerated, domain):
    path = regenerated / "es" / "LC_MESSAGES" / f"{domain}.po"
    assert path.exists(), f"makemessages found no {domain} texts at all"
    assert problems(path) == [], (
        f"{domain}.po: run `make messages` and translate these in locale/es/LC_MESSAGES/"
    )


@pytest.mark.parametrize("domain", CATALOGUES)
def test_committed_catalogue_is_the_regenerated_one(regenerated, domain):
    """No text was added to the code without `make messages`: the committed catalogue holds
    every entry the code has (the test above would flag it untranslated otherwise) and no
    leftover ones."""
    committed = BASE_DIR / "locale" / "es" / "LC_MESSAGES" / f"{domain}.po"
    ids = lambda path: {e["msgid"] for e in po_entries(path.read_text()) if not e["obsolete"]}  # noqa: E731
    assert ids(committed) == ids(regenerated / "es" / "LC_MESSAGES" / f"{domain}.po")


@pytest.mark.parametrize("domain", CATALOGUES)
def test_catalogue_compiles_with_matching_placeholders(domain, tmp_path):
    """msgfmt --check: the same %(name)s placeholders in each translation as in its English."""
    po = BASE_DIR / "locale" / "es" / "LC_MESSAGES" / f"{domain}.po"
    result = subprocess.run(
        ["msgfmt", "--check", "-o", str(tmp_path / "out.mo"), str(po)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_parser_sees_untranslated_and_fuzzy_entries(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr "Language: es\\n"\n\n'
        'msgid "a"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "b"\nmsgstr "be"\n\n'
        'msgid "c"\nmsgid_plural "cs"\nmsgstr[0] "ce"\nmsgstr[1] ""\n\n'
        'msgid ""\n"long"\nmsgstr ""\n"largo"\n\n'
        '#~ msgid "old"\n#~ msgstr ""\n'
    )
    assert problems(po) == ["untranslated: 'a'", "fuzzy: 'b'", "untranslated: 'c'"]


# Texts that are the same in every language: the product's name.
SAME_IN_EVERY_LANGUAGE = {"MyChannels"}
SHOWN_ATTRIBUTES = r"(?:placeholder|title|aria-label|alt)"


def untranslated_template_texts(source: str) -> list[str]:
    """Words a template shows that are outside {% translate %} and {% blocktranslate %}:
    text between tags, and the attributes people read (placeholder, title, aria-label, alt)."""
    source = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", "", source, flags=re.S)
    source = re.sub(r"{#.*?#}", "", source, flags=re.S)
    source = re.sub(r"{%\s*blocktranslate.*?{%\s*endblocktranslate\s*%}", "", source, flags=re.S)
    source = re.sub(r"<(script|style)\b.*?</\1>", "", source, flags=re.S)
    # Class names filled in by a block ({% block main_class %}account panel{% endblock %}).
    source = re.sub(r"{%\s*block \w+_class\s*%}.*?{%\s*endblock", "{%", source, flags=re.S)
    found = []
    # Tags first: a translated attribute may hold quotes of its own.
    untagged = re.sub(r"{[{%].*?[%}]}", "§", source, flags=re.S)
    for value in re.findall(rf'\s{SHOWN_ATTRIBUTES}="([^"]*)"', untagged):
        if re.search(r"[A-Za-z]{2,}", value):
            found.append(value)
    text = re.sub(r"{[{%].*?[%}]}", " ", source, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    words = set(re.findall(r"[A-Za-z][A-Za-z'-]+", text)) - SAME_IN_EVERY_LANGUAGE
    return found + sorted(words)


def test_every_template_text_is_marked_for_translation():
    left = {}
    for path in sorted((BASE_DIR / "templates").rglob("*.html")):
        if texts := untranslated_template_texts(path.read_text(encoding="utf-8")):
            left[str(path.relative_to(BASE_DIR))] = texts
    assert left == {}, "wrap these in {% translate %} or {% blocktranslate %}"


# In the clients: a literal with words put where people read it, without t() around it.
JS_SHOWN = [
    r"\.(?:textContent|title|placeholder|innerText)\s*=\s*[\"'`][^\"'`]*[A-Za-z]{2,}",
    r"setAttribute\(\s*\"(?:aria-label|title|placeholder|alt)\"\s*,\s*[\"'`][^\"'`]*[A-Za-z]{2,}",
    r"\bel\(\s*\"[a-z0-9]+\"\s*,\s*\"[^\"]*\"\s*,\s*[\"'`][^\"'`]*[A-Za-z]{2,}",
    r"(?:detail|label)\s*:\s*[\"'`][^\"'`]*[A-Za-z]{2,}[^\"'`]*[\"'`]",
    r"setState\(\s*\"[a-z]+\"\s*,\s*[\"'`]",
]


def untranslated_client_texts(source: str) -> list[str]:
    found = []
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip().startswith("//") or "style.textContent" in line:  # CSS, not text
            continue
        if any(re.search(pattern, line) for pattern in JS_SHOWN):
            found.append(f"{number}: {line.strip()}")
    return found


def test_every_client_text_goes_through_the_catalogue():
    left = {}
    for path in sorted((BASE_DIR / "static").rglob("*.js")):
        if "vendor" in path.parts:
            continue
        if texts := untranslated_client_texts(path.read_text(encoding="utf-8")):
            left[str(path.relative_to(BASE_DIR))] = texts
    assert left == {}, "put these texts through t() (static/js/i18n.js) or gettext()"


def test_the_checks_see_unmarked_texts():
    assert untranslated_template_texts(
        '<h1>Hello</h1><p>{% translate "ok" %}</p><input placeholder="Type">'
        '{% blocktranslate %}fine {{ x }}{% endblocktranslate %}<a title="{{ room.name }}">'
    ) == ["Type", "Hello"]
    assert untranslated_client_texts(
        'node.textContent = "Hello";\nnode.textContent = t("Hello");\n'
        'button.setAttribute("aria-label", "Close");\nel("span", "x", "sending…");\n'
        'el("span", "author", msg.username);\n'
    ) == [
        '1: node.textContent = "Hello";',
        '3: button.setAttribute("aria-label", "Close");',
        '4: el("span", "x", "sending…");',
    ]
