"""`manage.py makemessages`: Django's, with this project's defaults, so that `make messages`,
a developer's own call and the catalogue test (tests/test_translations.py) collect the same
strings.

- Folders that hold no text of ours are skipped: vendored libraries, npm's node_modules,
  collectstatic's output, the tests, the benchmark and the docs.
- In the browser clients (`-d djangojs`) the ES modules translate through `t(...)` and
  `tn(...)` from static/js/i18n.js; those are gettext keywords too.
"""

from django.core.management.commands.makemessages import Command as DjangoMakemessages

IGNORED = ["node_modules", "vendor", "staticfiles", "tests", "bench", "docs", "test-artifacts"]
JS_KEYWORDS = ["--keyword=t", "--keyword=tn:1,2"]


class Command(DjangoMakemessages):
    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        if options.get("domain") == "djangojs":
            self.xgettext_options = [*self.xgettext_options, *JS_KEYWORDS]
        return super().handle(*args, **options)
