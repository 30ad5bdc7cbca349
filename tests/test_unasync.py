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


SOURCE = '''"""The async client: `async with AsyncThing()`, then `await thing.aclose()`."""


class AsyncThing:
    """Use it as `async with` (or call `aclose()`); see AsyncOther."""

    async def aclose(self) -> None:  # await nothing: AsyncThing needs no cleanup
        await other.aclose()
        names = ["AsyncThing"]  # a string that is code, not prose
'''


def test_code_is_rewritten_and_prose_is_left_alone() -> None:
    unasync = load_unasync()
    used: set[str] = set()
    out = unasync.unasync(SOURCE, "x.py", used)
    code = [line for line in out.splitlines() if line.strip() and not line.lstrip().startswith(("#", '"""'))]
    assert "class SyncThing:" in code
    assert "    def close(self) -> None:  # await nothing: AsyncThing needs no cleanup" in code
    assert "        other.close()" in code
    assert '        names = ["SyncThing"]  # a string that is code, not prose' in code
    assert '"""The async client: `async with AsyncThing()`, then `await thing.aclose()`."""' in out
    assert '    """Use it as `async with` (or call `aclose()`); see AsyncOther."""' in out
    assert {r"\baclose\b", r"\basync def\b", r"\bawait ", r"\bAsync([A-Z]\w*)"} <= used


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
