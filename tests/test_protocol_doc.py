"""docs/protocol.md opens with the contract word for word (../shared/PROTOCOL.md, which the
team keeps beside the checkout and CI copies beside its clone); what the project adds beyond it
lives after it, in the additions table."""

import os
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
SHARED_CONTRACT = BASE_DIR.parent / "shared" / "PROTOCOL.md"
OWN_COPY = BASE_DIR / "docs" / "protocol.md"


def test_the_contract_part_of_docs_protocol_is_the_shared_contract_word_for_word():
    if not SHARED_CONTRACT.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_CONTRACT} is missing: CI keeps shared/ beside the clone")
        pytest.skip("no shared/ beside this checkout")
    contract = SHARED_CONTRACT.read_text().rstrip()
    own = OWN_COPY.read_text()
    assert own.startswith(contract), "docs/protocol.md no longer starts with the contract"
    assert "## Additions in this implementation" in own[len(contract) :]
