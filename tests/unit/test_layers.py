"""The engine's imports only go down: nothing imports the plugin (it hands its state down)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "hivehealth"


def imports_of(path: Path) -> set[str]:
    """Every hivehealth module `path` imports, anywhere in it (functions included), absolute."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    if path.name == "__init__.py":
        module = package = module.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m == "hivehealth" or m.startswith("hivehealth.")}


def engine_modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_nothing_imports_the_plugin():
    back = {str(p.relative_to(ROOT)) for p in engine_modules()
            if p.name != "plugin.py" and "hivehealth.plugin" in imports_of(p)}
    assert not back, f"these modules import the plugin back: {sorted(back)}"
