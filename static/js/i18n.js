// The browser clients' own texts in the page's language: Django's JavaScriptCatalog (/jsi18n/,
// loaded by templates/base.html before any module) defines gettext, ngettext and interpolate;
// `manage.py makemessages -d djangojs` collects every t(...) and tn(...) call. Placeholders
// are named, Python-style: t("%(name)s is typing…", { name }). User text is never passed
// through here, only put into the strings as a value.

const catalog = window.gettext ? window : {
  // The catalogue did not load: the English texts as they are.
  gettext: (text) => text,
  ngettext: (singular, plural, count) => (count === 1 ? singular : plural),
  interpolate: (format, values) => format.replace(/%\((\w+)\)s/g, (_, key) => String(values[key])),
};

export function t(text, values) {
  const translated = catalog.gettext(text);
  return values ? catalog.interpolate(translated, values, true) : translated;
}

// A text that depends on a count: tn("%(count)s message", "%(count)s messages", n, { count: n }).
export function tn(singular, plural, count, values) {
  const translated = catalog.ngettext(singular, plural, count);
  return catalog.interpolate(translated, values || { count: count }, true);
}

// The page's language, for Intl's dates, times and numbers.
export const language = document.documentElement.lang || "en";
