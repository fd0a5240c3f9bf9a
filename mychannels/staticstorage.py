"""Static files storage for production: whitenoise's compressed, hashed copies, with the page
scripts' ES module imports rewritten to the hashed names too.

Django rewrites only imports it recognises: relative, with the extension and a semicolon,
`import { x } from "./socket.js";` (tests/test_staticfiles.py checks every page script)."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class ModuleManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    # Without it only `{% static %}` in templates gets a hashed name: a module's
    # `import … from "./socket.js"` would fetch the unhashed copy, which whitenoise serves
    # without the long cache lifetime, so an old module could meet a new entry script.
    support_js_module_import_aggregation = True
