"""The plugin surface: built-in plugins import only ``ganzoo``, ``ganzoo.api`` and, for table and figure
kinds, the torch-free report API ``ganzoo.report`` (its modules), like third parties."""

from __future__ import annotations

import ast
from pathlib import Path

import ganzoo
import ganzoo.api

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
PUBLIC = {"ganzoo", "ganzoo.api", "ganzoo.report", "ganzoo.report.figures", "ganzoo.report.stats",
          "ganzoo.report.kinds", "ganzoo.report.markdown", "ganzoo.report.records"}


def _ganzoo_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "ganzoo"]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(ln, n) for ln, n in found if n == "ganzoo" or n.startswith("ganzoo.")]


def test_builtin_plugins_import_only_the_public_api():
    bad = []
    for path in sorted(PLUGINS.rglob("*.py")):
        for line, name in _ganzoo_imports(path):
            # ``from ganzoo import X`` is fine when X is a name ganzoo exports (not a submodule).
            if name.startswith("ganzoo.") and name.rsplit(".", 1)[0] == "ganzoo" and name.split(".")[1] in ganzoo.__all__:
                continue
            if name not in PUBLIC:
                bad.append(f"{path.relative_to(PLUGINS)}:{line} imports {name}")
    assert not bad, "built-in plugins import private core modules:\n" + "\n".join(bad)


def test_api_exports_what_it_lists():
    assert set(ganzoo.__all__) - {"__version__"} <= set(ganzoo.api.__all__)
    for name in ganzoo.api.__all__:
        assert getattr(ganzoo.api, name) is not None
