"""Every ``>>>`` example in the library's docstrings runs and prints what it says.

The modules are found from the source tree (files whose text holds ``>>>``), imported, and their
examples run with :mod:`doctest` (``ELLIPSIS``, ``NORMALIZE_WHITESPACE``), one test per module.
Running them here rather than through ``--doctest-modules`` keeps one collector for the whole
suite (Brian2's test package replaces pytest's doctest collector when it is imported).
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ratebased", "spiking", "bridges")


def _modules_with_examples() -> list[str]:
    names = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if ">>>" not in path.read_text():
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()


def test_examples_were_found():
    assert len(MODULES) >= 40, MODULES


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    mod = importlib.import_module(module)
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = [t for t in finder.find(mod, module) if t.examples]
    assert tests, f"{module} mentions '>>>' but has no runnable example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    for t in tests:
        runner.run(t, out=out.append)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, f"{failed} of {attempted} examples failed in {module}:\n" + "".join(out)
