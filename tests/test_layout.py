"""The product package stands alone: nothing under src/visionscores imports the tooling."""

import ast

from repo_paths import REPO


def _imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_the_product_never_imports_the_tooling():
    offenders = [
        f"{path.relative_to(REPO)}: {module}"
        for path in sorted((REPO / "src/visionscores").rglob("*.py"))
        for module in _imported_modules(path)
        if module.split(".")[0] == "visionscores_tools"
    ]
    assert offenders == []


def test_the_check_sees_an_import_of_the_tooling(tmp_path):
    # The check above must be able to fail: a module importing the tooling is seen.
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from visionscores_tools import synthetic\n")
    assert list(_imported_modules(module)) == ["visionscores_tools"]
