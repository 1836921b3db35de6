"""The README's Python examples run.

Every fenced ```python block of README.md is executed, each in a fresh namespace, in a temporary working
directory, with one torch thread (the suite's ``one_thread`` fixture), compiled with the README's own line
numbers (a failure points at ``README.md:<line>``). None is skipped: an example that needs a download does
not belong in the README's python blocks.
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
#: CPU seconds one block may take (measured: 0.5-3 s each with one torch thread, imports done). Generous
#: for a loaded machine; it catches a full-size run pasted into the README.
CPU_BUDGET_S = 30.0

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(first code line, code)`` of every fenced ``python`` block of a Markdown text (1-based lines).

    Raises
    ------
    ValueError
        A fence that is never closed.
    """
    blocks: list[tuple[int, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.groups()
        start = i + 1
        end = start
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            raise ValueError(f"the code block opened on line {i + 1} is never closed")
        if lang.lower() in ("python", "py"):
            body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[start:end]]
            blocks.append((start + 1, "\n".join(body) + "\n"))
        i = end + 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("no code\n", [], id="no-blocks"),
        pytest.param("```bash\nls\n```\n", [], id="bash-block-ignored"),
        pytest.param("a\n```python\nx = 1\ny = 2\n```\n", [(3, "x = 1\ny = 2\n")], id="one-block-line-numbers"),
        pytest.param(
            "```python\na = 1\n```\ntext\n```py\nb = 2\n```\n",
            [(2, "a = 1\n"), (6, "b = 2\n")],
            id="two-blocks",
        ),
        pytest.param("````python\ns = '```'\n````\n", [(2, "s = '```'\n")], id="longer-fence-holds-backticks"),
        pytest.param("- item\n  ```python\n  z = 3\n  ```\n", [(3, "z = 3\n")], id="indented-in-list"),
    ],
)
def test_python_blocks_are_extracted(text, expected):
    assert python_blocks(text) == expected


def test_an_unclosed_block_is_an_error():
    with pytest.raises(ValueError, match="opened on line 2 is never closed"):
        python_blocks("text\n```python\nx = 1\n")


def test_the_readme_shows_the_documented_examples():
    code = "".join(c for _, c in BLOCKS)
    assert len(BLOCKS) >= 3, f"README.md has {len(BLOCKS)} python blocks"
    # a rate-rule training loop, spiking training and evaluation, weight round trips
    for name in ("get_rule", "prepare", "train_step", "SpikingClassifier", "fit_epoch", ".score(", "build_twin"):
        assert name in code, f"no README example uses {name}"
    assert "to_snntorch" in code and "from_snntorch" in code


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_python_block_runs(line, code, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    # blank lines in front: tracebacks and warnings point at the README's own line numbers
    compiled = compile("\n" * (line - 1) + code, str(README), "exec")
    namespace = {"__name__": "__readme__"}
    start = time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compiled, namespace)
    cpu_s = time.process_time() - start
    ours = [f"{w.category.__name__}: {w.message} (line {w.lineno})" for w in caught if w.filename == str(README)]
    assert not ours, f"README.md:{line} raises warnings: {ours}"
    assert cpu_s < CPU_BUDGET_S, f"README.md:{line} took {cpu_s:.1f} CPU seconds; keep README examples short"
