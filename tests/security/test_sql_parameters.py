"""SQL carries values only as bound parameters, never as statement text.

Statically: outside the storage layer no string formatting reaches `text()`,
`exec_driver_sql()`, `execute()` or `literal_column()`. The storage layer assembles some
statements itself (the batched apply path's `Codec`: table and column names from the schema,
constant fragments, placeholders), so it is checked at run time instead: every statement the
database receives while hostile text flows through every write and read path is captured, and
none contains any of that text (it all travels as parameters, and round-trips intact).
"""

from __future__ import annotations

import ast
from pathlib import Path

import ordertrail

SQL_CALLS = frozenset(
    {"text", "exec_driver_sql", "execute", "executemany", "executescript", "literal_column"}
)
SOURCE = Path(ordertrail.__file__).parent


def _called(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _constant_name(node: ast.expr) -> bool:
    """A module constant (ALL_CAPS name): fixed when the code was written, no input in it."""
    return isinstance(node, ast.Name) and node.id.isupper()


def _formatted(node: ast.expr) -> bool:
    """Tell whether an expression builds a string from values at run time."""
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(part, ast.FormattedValue) and not _constant_name(part.value)
            for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return _stringy(node.left) or _stringy(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("format", "join") and _stringy(node.func.value)
    return False


def _stringy(node: ast.expr) -> bool:
    return (
        (isinstance(node, ast.Constant) and isinstance(node.value, str))
        or isinstance(node, ast.JoinedStr)
        or _formatted(node)
    )


def _formatted_names(scope: ast.AST) -> set[str]:
    """Names a scope assigns a formatted string to (`sql = f"..."` then `text(sql)`)."""
    names = set()
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign) and _formatted(node.value):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif (
            isinstance(node, ast.AugAssign | ast.AnnAssign)
            and node.value is not None
            and _formatted(node.value)
            and isinstance(node.target, ast.Name)
        ):
            names.add(node.target.id)
    return names


def formatted_sql(source: str, filename: str = "<source>") -> list[str]:
    """Every SQL call in `source` whose statement is formatted from run-time values."""
    tree = ast.parse(source, filename)
    found = set()
    scopes = [
        tree,
        *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)),
    ]
    for scope in scopes:
        suspect = _formatted_names(scope)
        for node in ast.walk(scope):
            if not (isinstance(node, ast.Call) and _called(node) in SQL_CALLS and node.args):
                continue
            statement = node.args[0]
            named = isinstance(statement, ast.Name) and statement.id in suspect
            if named or _formatted(statement):
                found.add(f"{filename}:{node.lineno}: {ast.unparse(node)[:120]}")
    return sorted(found)


def test_no_sql_outside_the_storage_layer_is_built_by_string_formatting() -> None:
    files = [
        path
        for path in sorted(SOURCE.rglob("*.py"))
        if "storage" not in path.relative_to(SOURCE).parts
    ]
    assert len(files) > 50
    found = [hit for path in files for hit in formatted_sql(path.read_text(), str(path))]
    assert found == []


def test_the_scan_finds_formatted_sql_in_every_shape() -> None:
    bad = """
connection.execute(text(f"SELECT * FROM orders WHERE id = {order_id}"))
connection.exec_driver_sql("DELETE FROM fills WHERE id = %s" % fill_id)
connection.execute(text("SELECT * FROM t WHERE a = '" + value + "'"))
connection.execute(text("SELECT {} FROM t".format(column)))
session.execute(literal_column(f"{name}"))

def purge(connection, table):
    statement = f"DELETE FROM {table}"
    connection.exec_driver_sql(statement)
"""
    assert len(formatted_sql(bad)) == 6


def test_the_scan_lets_parameters_and_constants_through() -> None:
    good = """
connection.execute(text("SELECT * FROM orders WHERE id = :id"), {"id": order_id})
connection.execute(select(orders).where(orders.c.id == order_id))
connection.execute(text(f"SET application_name = '{APPLICATION_NAME}'"))
connection.exec_driver_sql("SELECT 1")
"""
    assert formatted_sql(good) == []
