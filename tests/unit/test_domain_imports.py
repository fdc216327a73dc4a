"""The domain imports the standard library only."""

import ast
import sys
from pathlib import Path

import ordertrail.domain

DOMAIN = Path(ordertrail.domain.__file__).parent


def test_domain_modules_import_only_the_standard_library_and_the_domain() -> None:
    offenders = []
    for path in DOMAIN.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if name.startswith("ordertrail.domain") or top in sys.stdlib_module_names:
                    continue
                offenders.append(f"{path.name}: {name}")
    assert offenders == []
    assert len(list(DOMAIN.glob("*.py"))) >= 10
