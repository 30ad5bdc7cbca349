"""scripts/unasync.py: the rules rewrite code only, and a rule that matches nothing fails the run."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", ROOT / "scripts" / "unasync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


SOURCE = '''"""LmsystemsClient: `async with AsyncThing()`, then `await thing.aclose()` (httpx.AsyncClient)."""


class AsyncThing:
    """Use it as `async with` (or call `aclose()`); see AsyncOther and LmsystemsClient."""

    async def aclose(self) -> None:  # LmsystemsClient needs no httpx.AsyncClient here
        await other.aclose()
        names = ["AsyncThing", LmsystemsClient]  # a string that is code, not prose
'''


def test_code_rules_rewrite_code_and_leave_prose_to_the_prose_rules() -> None:
    unasync = load_unasync()
    used: set[str] = set()
    out = unasync.unasync(SOURCE, "x.py", used).splitlines()
    assert out[1] == '"""LmsystemsClient: `with SyncThing()`, then `thing.close()` (httpx.AsyncClient)."""'
    assert "class SyncThing:" in out
    assert '    """Use it as `with` (or call `close()`); see SyncOther and LmsystemsClient."""' in out
    assert "    def close(self) -> None:  # LmsystemsClient needs no httpx.AsyncClient here" in out
    assert "        other.close()" in out
    assert '        names = ["SyncThing", _SyncLmsystemsClient]  # a string that is code, not prose' in out
    assert {"code: \\bLmsystemsClient\\b", "prose: \\baclose\\b", "code: \\bawait "} <= used


def test_a_rule_that_matches_nothing_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unasync = load_unasync()
    monkeypatch.setattr(unasync, "RULES", [*unasync.RULES, (re.compile(r"\bnever_written_anywhere\b"), "x")])
    with pytest.raises(SystemExit, match="never_written_anywhere"):
        unasync.render(tmp_path)


def test_the_real_rules_all_match_and_the_sync_tree_is_current(tmp_path: Path) -> None:
    unasync = load_unasync()
    unasync.render(tmp_path)
    for file in tmp_path.glob("*.py"):
        assert file.read_text() == (ROOT / "lmsystems" / "_sync" / file.name).read_text(), file.name
