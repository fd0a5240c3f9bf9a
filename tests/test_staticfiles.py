"""Production's static files: `collectstatic` with the production storage gives every page
script hashed names for what it imports, so no browser loads an unhashed module."""

import json
import posixpath
import re
import secrets

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.test_settings import settings_value

PRODUCTION_STORAGE = "mychannels.staticstorage.ModuleManifestStaticFilesStorage"
# Relative ES module imports: `import … from "./x.js"`, `export … from "./x.js"`, `import "./x.js"`.
RELATIVE_IMPORT = re.compile(r"""(?:\bfrom|\bimport)\s*["'](\.{1,2}/[^"']+)["']""")


@pytest.fixture(scope="module")
def collected(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("staticfiles")
    storages = {"staticfiles": {"BACKEND": PRODUCTION_STORAGE}}
    with override_settings(STATIC_ROOT=root, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
    manifest = json.loads((root / "staticfiles.json").read_text())["paths"]
    return root, manifest


def imports_of(root, manifest: dict, name: str) -> list[str]:
    """The relative imports of the hashed copy of `name`, resolved to static file names."""
    text = (root / manifest[name]).read_text()
    folder = posixpath.dirname(name)
    urls = RELATIVE_IMPORT.findall(text)
    return [posixpath.normpath(posixpath.join(folder, url)) for url in urls]


def test_page_scripts_import_the_hashed_names_of_their_modules(collected):
    root, manifest = collected
    hashed_names = set(manifest.values())
    scripts = [name for name in manifest if name.endswith(".js") and not name.startswith("admin/")]
    assert "chat/room.js" in scripts and "js/livesocket.js" in scripts
    for name in scripts:
        for imported in imports_of(root, manifest, name):
            assert imported in hashed_names, f"{manifest[name]} imports unhashed {imported}"


def test_room_page_entry_imports_its_modules_by_hashed_name(collected):
    root, manifest = collected
    entry = (root / manifest["chat/room.js"]).read_text()
    for module in ("socket", "messages", "composer", "presence", "read"):
        hashed = posixpath.basename(manifest[f"chat/room/{module}.js"])
        assert re.fullmatch(rf"{module}\.[0-9a-f]{{12}}\.js", hashed)
        assert f'from "./room/{hashed}"' in entry
    assert not re.search(r"""from\s*["']\./room/\w+\.js["']""", entry), "an unhashed import is left"


def test_live_pages_import_the_hashed_socket_lifecycle(collected):
    root, manifest = collected
    # The `/` page hears the sidebar's room list socket (chat/sidebar.js): one per page.
    for page in ("chat/room/socket.js", "chat/sidebar.js", "alert/feed.js"):
        assert manifest["js/livesocket.js"] in imports_of(root, manifest, page)


def test_production_uses_this_storage():
    backend = settings_value(
        "s.STORAGES['staticfiles']['BACKEND']",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="chat.example.com",
    )
    assert backend == PRODUCTION_STORAGE
