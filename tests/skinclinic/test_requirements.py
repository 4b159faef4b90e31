"""The requirements split (requirements/base.txt, ml.txt, test.txt) holds: each package pinned once, the
development file installs all three, and the web app runs on base.txt alone (the Docker web image has no
TensorFlow), checked in a fresh interpreter where every package outside base.txt's closure is absent.
"""

import ast
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("base", "ml", "test")


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _closure(requirements: list[Requirement]) -> set[str]:
    """The installed distributions these requirements pull in, with their extras' dependencies."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in requirements]
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        names.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in map(Requirement, requires):
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in {"", *extras}):
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return names


def test_each_package_is_pinned_in_exactly_one_part_and_requirements_txt_includes_all_parts():
    owners: dict[str, list[str]] = {}
    for part in PARTS:
        for requirement in _requirements(ROOT / "requirements" / f"{part}.txt"):
            owners.setdefault(canonicalize_name(requirement.name), []).append(part)
            specifiers = list(requirement.specifier)
            assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{requirement} in {part}.txt is not pinned"
    assert {name: parts for name, parts in owners.items() if len(parts) > 1} == {}
    assert "tensorflow-cpu" in owners and owners["tensorflow-cpu"] == ["ml"]
    assert owners["django"] == ["base"] and owners["pytest"] == ["test"]

    includes = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert includes == [f"-r requirements/{part}.txt" for part in PARTS]


def _mlcore_modules_the_app_imports() -> set[str]:
    """Every mlcore module named in an import anywhere in the app, including those inside functions."""
    modules = set()
    for path in (ROOT / "predictions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("mlcore"):
                modules.add(node.module)
            elif isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names if alias.name.startswith("mlcore"))
    return modules


# Runs in a fresh interpreter: importing modules here would prove nothing, as TensorFlow may be loaded already.
_WEB_PROCESS = """
import importlib, json, os, pkgutil, sys
absent = set(json.loads(os.environ["ABSENT_MODULES"]))

class Absent:
    # As in the web image, where these packages are not installed.
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in absent:
            raise ModuleNotFoundError(f"No module named {name!r} (not in requirements/base.txt)", name=name)

sys.meta_path.insert(0, Absent())
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
from django.urls import get_resolver
get_resolver().url_patterns
import predictions, skinclinic
for package in (predictions, skinclinic):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
for name in json.loads(os.environ["MLCORE_MODULES"]):
    importlib.import_module(name)
print(json.dumps(sorted(name for name in sys.modules if name.partition(".")[0] in {"tensorflow", "keras"})))
"""


def test_the_web_app_and_every_app_module_load_with_base_requirements_only():
    base = _closure(_requirements(ROOT / "requirements" / "base.txt"))
    base |= {"pip", "setuptools", "wheel"}  # in every Python image and virtual environment
    absent = sorted(
        module
        for module, distributions in metadata.packages_distributions().items()
        if not any(canonicalize_name(d) in base for d in distributions)
    )
    assert "tensorflow" in absent and "keras" in absent and "pytest" in absent  # the check blocks what it should

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "skinclinic.settings",
        "DEBUG": "1",
        "SECRET_KEY": "test-requirements-only",
        "ABSENT_MODULES": json.dumps(absent),
        "MLCORE_MODULES": json.dumps(sorted(_mlcore_modules_the_app_imports())),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    result = subprocess.run(
        [sys.executable, "-c", _WEB_PROCESS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
