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


# The flow of a run is the order of the layers: a layer may use the ones before it, never one
# after it. The few modules every layer uses (options, redaction, ids, safe writes) come first.
LAYERS = ["base", "site", "gather", "parsers", "judge", "remedy", "report", "run", "checks", "fixes", "plugin"]
BASE = {"hivehealth.options", "hivehealth.redact", "hivehealth.ids", "hivehealth.safe_write", "hivehealth.shell"}


def layer_of(module: str) -> str:
    if module == "hivehealth" or any(module == b or module.startswith(b + ".") for b in BASE):
        return "base"
    part = module.split(".")[1]
    if part in LAYERS:
        return part
    if part in ("plugin", "cli"):
        return "plugin"
    raise AssertionError(f"{module} is in no layer: put it in one (or in BASE if every layer needs it)")


def test_imports_only_go_down_the_flow():
    up = []
    for path in engine_modules():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        mine = LAYERS.index(layer_of(module))
        for imported in imports_of(path):
            if imported == "hivehealth" or imported.removeprefix("hivehealth.").split(".")[0] not in \
                    {m.split(".")[1] for m in BASE} | set(LAYERS) | {"plugin", "cli"}:
                continue        # `from hivehealth.x import name` also lists hivehealth.x.name
            theirs = LAYERS.index(layer_of(imported))
            if theirs > mine:
                up.append(f"{module} ({LAYERS[mine]}) imports {imported} ({LAYERS[theirs]})")
    assert not up, "imports that go back up the flow:\n" + "\n".join(sorted(set(up)))


def test_parsers_are_pure():
    """Parsers take text and return facts: they import no other part of the engine."""
    for path in (PACKAGE / "parsers").rglob("*.py"):
        others = {m for m in imports_of(path) if layer_of(m) not in ("parsers", "base")}
        assert not others, f"{path.name} imports {sorted(others)}"
