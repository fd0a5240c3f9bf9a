"""axe-core (npm, pinned in tests/e2e/axe/) run inside a Playwright page: the WCAG 2 A and AA
rules, every violation with the elements it found.

    assert_accessible(page, "the room page")
"""

import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}, "resultTypes": ["violations"]}

RUN = """async (options) => {
  const result = await axe.run(document, options);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " -- " + n.failureSummary),
  }));
}"""


def ensure_axe() -> Path:
    """axe-core from the lockfile (`make axe` does the same) when node_modules is missing."""
    if not AXE_JS.exists():
        try:
            subprocess.run(
                ["npm", "ci", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund", "--silent"],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (OSError, subprocess.CalledProcessError) as error:
            pytest.fail(f"axe-core could not be installed (npm ci --prefix {AXE_DIR}): {error}")
    return AXE_JS


def axe_violations(page: Page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(ensure_axe()))
    return page.evaluate(RUN, RULES)


def describe(violations: list[dict]) -> str:
    return "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in violations
    )


def assert_accessible(page: Page, where: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {where} ({page.url}):\n{describe(violations)}"
