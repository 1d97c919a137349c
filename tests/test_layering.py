"""The package's layering, checked on its import graph (``tests/import_graph.py``: every import, also in functions).

Rules:

* the core ``models/`` imports the standard library, torch, timm, numpy and safetensors, and nothing of
  ``midway_plugin`` outside ``models/`` (no adapter, no ``compat``);
* ``official/`` (a foreign checkpoint format) imports the standard library, torch and the core only;
* the adapters ``lightly``, ``mmseg``, ``mmflow`` and ``analysis`` never import each other;
* only ``mmseg/`` imports mmseg and only ``mmflow/`` imports mmflow (``evaluation/`` runs ``mim`` as a subprocess;
  ``compat/`` patches the pinned OpenMMLab releases and is activated by those two adapters only);
* ``compat/`` imports nothing else of ``midway_plugin`` but the core's refusal wording (``models/refused_pickle.py``,
  so that a refused checkpoint reads the same whoever loads it); only ``mmseg/`` and ``mmflow/`` import it;
* ``data/`` imports neither Lightly's framework (the pip package ``lightly`` beyond ``lightly.transforms``, a
  library of torchvision transforms that loads no Lightning), nor (pytorch_)lightning, nor ``midway_plugin.lightly``;
* ``data/`` imports nothing of ``midway_plugin`` but the core;
* ``commands/`` never imports ``midway_plugin.cli`` (``cli`` registers the commands, not the other way round);
* no import cycle between modules, nor between the sub-packages (``models``, ``data``, ``lightly``, ...);
* every folder of ``tests/`` is named after the module or sub-package it tests (``reliability/``: end to end).

Each rule is checked on the real tree and, to show it can fail, on a small graph that breaks it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.import_graph import (
    PACKAGE,
    ROOT,
    Graph,
    import_cycles,
    import_graph,
    module_names,
    subpackage_graph,
    top,
    under,
    with_registration,
)

# --------------------------------------------------------------------------------------------------------------
# The rules


STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


@dataclass(frozen=True)
class Rule:
    """Modules under ``importers`` may not import names under ``forbidden`` (except under ``permitted``), or
    only names under ``allowed`` and the standard library."""

    name: str
    importers: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] | None = None
    permitted: tuple[str, ...] = ()
    exempt: tuple[str, ...] = ()  # importers the rule does not cover

    def violations(self, graph: Graph) -> set[tuple[str, str]]:
        found = set()
        for module, imported in graph.items():
            if not under(module, self.importers) or under(module, self.exempt):
                continue
            for name in imported:
                if under(name, self.forbidden) and not under(name, self.permitted):
                    found.add((module, name))
                if self.allowed is not None and top(name) not in STDLIB and not under(name, self.allowed):
                    found.add((module, name))
        return found


ADAPTERS = ("lightly", "mmseg", "mmflow", "analysis")
CORE_LIBRARIES = ("torch", "timm", "numpy", "safetensors")
COMPAT = f"{PACKAGE}.compat"

RULES = (
    Rule(
        "core imports only torch/timm/numpy/safetensors and itself",
        (f"{PACKAGE}.models",),
        allowed=(*CORE_LIBRARIES, f"{PACKAGE}.models"),
    ),
    Rule(
        "official imports only torch and the core",
        (f"{PACKAGE}.official",),
        allowed=("torch", f"{PACKAGE}.models", f"{PACKAGE}.official"),
    ),
    *(
        Rule(
            f"adapter {a} never imports another adapter",
            (f"{PACKAGE}.{a}",),
            forbidden=tuple(f"{PACKAGE}.{b}" for b in ADAPTERS if b != a),
        )
        for a in ADAPTERS
    ),
    Rule("only mmseg/ imports mmseg", (PACKAGE,), forbidden=("mmseg",), exempt=(f"{PACKAGE}.mmseg", COMPAT)),
    Rule("only mmflow/ imports mmflow", (PACKAGE,), forbidden=("mmflow",), exempt=(f"{PACKAGE}.mmflow", COMPAT)),
    Rule(
        "compat imports nothing else of the package but the refusal wording",
        (COMPAT,),
        forbidden=(PACKAGE,),
        permitted=(COMPAT, f"{PACKAGE}.models.refused_pickle"),
    ),
    Rule(
        "only mmseg/ and mmflow/ import compat",
        (PACKAGE,),
        forbidden=(COMPAT,),
        exempt=(f"{PACKAGE}.mmseg", f"{PACKAGE}.mmflow", COMPAT),
    ),
    Rule(
        "data never imports Lightly's framework",
        (f"{PACKAGE}.data",),
        forbidden=("lightly", "pytorch_lightning", "lightning", f"{PACKAGE}.lightly"),
        permitted=("lightly.transforms",),
    ),
    Rule(
        "data imports nothing of the package but the core",
        (f"{PACKAGE}.data",),
        forbidden=(PACKAGE,),
        permitted=(f"{PACKAGE}.data", f"{PACKAGE}.models"),
    ),
    Rule("commands never import cli", (f"{PACKAGE}.commands",), forbidden=(f"{PACKAGE}.cli",)),
)


# --------------------------------------------------------------------------------------------------------------
# The real tree


@pytest.fixture(scope="module")
def graph() -> dict[str, frozenset[str]]:
    return with_registration(import_graph())


@pytest.fixture(scope="module")
def runtime_graph() -> dict[str, frozenset[str]]:
    """Without ``if TYPE_CHECKING:`` imports; imports inside functions stay (they run, later)."""
    return with_registration(import_graph(type_checking=False))


def test_the_graph_is_read(graph) -> None:
    """The reader sees the package and imports inside functions (cli registers commands through importlib)."""
    assert f"{PACKAGE}.models.midway" in graph and f"{PACKAGE}.commands.errors" in graph
    assert {f"{PACKAGE}.commands", f"{PACKAGE}.commands.pretrain"} <= graph[f"{PACKAGE}.cli"]
    # commands/import_official.py imports the converter inside its handler only
    assert f"{PACKAGE}.official.convert" in graph[f"{PACKAGE}.commands.import_official"]
    assert "torch" in {top(name) for name in graph[f"{PACKAGE}.models.midway"]}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_holds(graph, rule: Rule) -> None:
    found = rule.violations(graph)
    assert not found, f"{rule.name}: " + ", ".join(f"{a} imports {b}" for a, b in sorted(found))


def test_no_import_cycle(runtime_graph) -> None:
    cycles = import_cycles(runtime_graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_cycle_between_subpackages(runtime_graph) -> None:
    cycles = import_cycles(subpackage_graph(runtime_graph))
    assert not cycles, "sub-package cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def _loaded_by_importing(package: str) -> set[str]:
    """``sys.modules`` of a fresh interpreter after importing every module of ``package`` (lazy exports too)."""
    modules = sorted(m for m in module_names() if under(m, [package]))
    code = f"import sys\nfor m in {modules!r}:\n    __import__(m)\nprint('\\n'.join(sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(proc.stdout.split())


@pytest.mark.parametrize(
    ("package", "forbidden", "permitted"),
    [
        (
            f"{PACKAGE}.models",
            ("lightly", "pytorch_lightning", "lightning", "mmengine", "mmcv", "mmseg", "mmflow", PACKAGE),
            (f"{PACKAGE}.models",),
        ),
        (
            f"{PACKAGE}.data",
            ("lightly", "pytorch_lightning", "lightning", f"{PACKAGE}.lightly", "mmseg", "mmflow"),
            ("lightly.transforms", "lightly.utils.dependency"),
        ),  # the latter: lightly.transforms' optional-deps check
    ],
    ids=["models", "data"],
)
def test_what_importing_loads(package: str, forbidden: tuple[str, ...], permitted: tuple[str, ...]) -> None:
    """At run time too (transitive imports, lazy exports): the core and data load no framework."""
    loaded = _loaded_by_importing(package)
    assert package in loaded
    parents = {"lightly", "lightly.utils", PACKAGE}  # loaded as parents of the permitted modules
    bad = sorted(m for m in loaded - parents if under(m, forbidden) and not under(m, permitted))
    assert not bad, f"importing {package} loads " + ", ".join(bad[:20])


# --------------------------------------------------------------------------------------------------------------
# Each rule can fail


def _graph(**edges: Iterable[str]) -> dict[str, frozenset[str]]:
    """A synthetic graph: keyword ``a__b`` is module ``midway_plugin.a.b``; values are full dotted names."""
    return {f"{PACKAGE}." + key.replace("__", "."): frozenset(names) for key, names in edges.items()}


BROKEN = {
    "core imports only torch/timm/numpy/safetensors and itself": _graph(
        models__midway=["torch", "timm.layers", f"{PACKAGE}.compat.safe_checkpoint", "yaml"]
    ),
    "official imports only torch and the core": _graph(official__convert=["torch", f"{PACKAGE}.lightly.midway"]),
    **{
        f"adapter {a} never imports another adapter": _graph(**{f"{a}__x": [f"{PACKAGE}.{b}.y"]})
        for a, b in zip(ADAPTERS, ADAPTERS[1:] + ADAPTERS[:1])
    },
    "only mmseg/ imports mmseg": _graph(mmflow__dpt_head=["mmseg.models.decode_heads.dpt_head"]),
    "only mmflow/ imports mmflow": _graph(commands__bench=["mmflow.registry"]),
    "data never imports Lightly's framework": _graph(data__transforms=["lightly.transforms.utils", "lightly.loss"]),
    "commands never import cli": _graph(commands__info=[f"{PACKAGE}.cli"]),
    "data imports nothing of the package but the core": _graph(data__views=[f"{PACKAGE}.analysis.frames"]),
    "compat imports nothing else of the package but the refusal wording": _graph(
        compat__safe_checkpoint=[f"{PACKAGE}.models.export"]
    ),
    "only mmseg/ and mmflow/ import compat": _graph(lightly__checkpoint=[f"{PACKAGE}.compat.safe_checkpoint"]),
}


def test_every_rule_has_a_broken_graph() -> None:
    assert set(BROKEN) == {rule.name for rule in RULES}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_catches_a_violation(rule: Rule) -> None:
    found = rule.violations(BROKEN[rule.name])
    assert found, f"{rule.name}: the broken graph passed"
    # the allowed names of the same graph are not reported
    assert all(top(name) not in {"torch", "timm"} for _, name in found)


@pytest.mark.parametrize(
    ("graph_", "expected"),
    [
        (
            _graph(cli=[f"{PACKAGE}.commands.info"], commands__info=[f"{PACKAGE}.cli"]),
            [[f"{PACKAGE}.cli", f"{PACKAGE}.commands.info"]],
        ),
        (
            _graph(a=[f"{PACKAGE}.b"], b=[f"{PACKAGE}.c"], c=[f"{PACKAGE}.a", "torch"], d=[f"{PACKAGE}.a"]),
            [[f"{PACKAGE}.a", f"{PACKAGE}.b", f"{PACKAGE}.c"]],
        ),
        (_graph(a=[f"{PACKAGE}.a"]), [[f"{PACKAGE}.a"]]),
        (_graph(a=[f"{PACKAGE}.b"], b=["torch"], c=[f"{PACKAGE}.a", f"{PACKAGE}.b"]), []),
    ],
    ids=["cli-commands", "three-module-ring", "self-import", "acyclic"],
)
def test_cycles_are_found(graph_, expected) -> None:
    assert import_cycles(graph_) == expected


def test_subpackage_cycles_are_found() -> None:
    """No module cycle, but data -> models and models -> data through different modules."""
    graph_ = _graph(
        data__views=[f"{PACKAGE}.models.levels"],
        models__levels=["torch"],
        models__midway=[f"{PACKAGE}.data.readers"],
        data__readers=["decord"],
    )
    assert import_cycles(graph_) == []
    assert subpackage_graph(graph_) == {
        f"{PACKAGE}.data": {f"{PACKAGE}.models"},
        f"{PACKAGE}.models": {f"{PACKAGE}.data"},
    }
    assert import_cycles(subpackage_graph(graph_)) == [[f"{PACKAGE}.data", f"{PACKAGE}.models"]]


def test_relative_and_function_level_imports_are_read(tmp_path: Path) -> None:
    pkg = tmp_path / PACKAGE
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("from .readers import read\n")
    (pkg / "data" / "readers.py").write_text("def read():\n    from ..lightly import midway\n    import lightly.data\n")
    (pkg / "lightly").mkdir()
    (pkg / "lightly" / "__init__.py").write_text("")
    (pkg / "lightly" / "midway.py").write_text(
        "import importlib\nfrom typing import TYPE_CHECKING\nimportlib.import_module('pytorch_lightning')\n"
        "if TYPE_CHECKING:\n    from midway_plugin.data import readers\n"
    )
    graph = import_graph(pkg)
    assert f"{PACKAGE}.data.readers" in graph[f"{PACKAGE}.lightly.midway"]
    assert f"{PACKAGE}.data.readers" not in import_graph(pkg, type_checking=False)[f"{PACKAGE}.lightly.midway"]
    assert graph[f"{PACKAGE}.data"] == {f"{PACKAGE}.data.readers"}
    assert graph[f"{PACKAGE}.data.readers"] == {f"{PACKAGE}.lightly.midway", "lightly.data"}
    assert "pytorch_lightning" in graph[f"{PACKAGE}.lightly.midway"]
    data_rule = next(rule for rule in RULES if rule.name == "data never imports Lightly's framework")
    assert data_rule.violations(graph) == {
        (f"{PACKAGE}.data.readers", f"{PACKAGE}.lightly.midway"),
        (f"{PACKAGE}.data.readers", "lightly.data"),
    }


# --------------------------------------------------------------------------------------------------------------
# The tests mirror the package

#: Test folders that are not one package's: the hostile-user suite runs the CLI end to end across packages.
CROSS_CUTTING_TESTS = {"reliability"}


def stray_test_folders(tests: Path, package: Path) -> list[str]:
    """Folders of ``tests`` named after no module or sub-package of ``package`` (nor a cross-cutting suite)."""
    names = {p.stem for p in package.glob("*.py")}
    names |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    return sorted(
        d.name
        for d in tests.iterdir()
        if d.is_dir() and not d.name.startswith((".", "_")) and d.name not in names | CROSS_CUTTING_TESTS
    )


def test_test_folders_are_named_after_what_they_test() -> None:
    assert stray_test_folders(Path(__file__).parent, ROOT) == []


def test_a_stray_test_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "models").mkdir(parents=True)
    (tmp_path / "pkg" / "models" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "cli.py").write_text("")
    for folder in ("models", "cli", "foundation", "reliability", "__pycache__"):
        (tmp_path / "tests" / folder).mkdir(parents=True)
    assert stray_test_folders(tmp_path / "tests", tmp_path / "pkg") == ["foundation"]


# --------------------------------------------------------------------------------------------------------------
# docs/architecture.md: the map of the package, kept true

ARCHITECTURE = ROOT.parent / "docs" / "architecture.md"


def architecture_problems(text: str, files: Iterable[str], graph: Graph) -> list[str]:
    """What ``docs/architecture.md`` gets wrong: modules it misses or lists but that do not exist, and rows of its
    sub-package table that differ from the import graph (``files``: paths relative to the package)."""
    listed = set(re.findall(rf"\]\(\.\./{PACKAGE}/([\w/]+\.py)\)", text))
    files = set(files)
    problems = [f"module {f} is not on the page" for f in sorted(files - listed)]
    problems += [f"the page lists {f}, which does not exist" for f in sorted(listed - files)]
    table = {}
    for sub, deps in re.findall(r"^\| `(\w+)` \| (.*?) \|$", text, flags=re.M):
        table[sub] = set(re.findall(r"`(\w+)`", deps))
    for node, imported in sorted(subpackage_graph(graph).items()):
        sub = node.partition(".")[2]
        real = {name.partition(".")[2] for name in imported if name.startswith(f"{PACKAGE}.")}
        if sub not in table:
            problems.append(f"sub-package {sub} is not in the import table")
        elif table[sub] != real:
            problems.append(f"sub-package {sub} imports {sorted(real)}, the page says {sorted(table[sub])}")
    return problems


def test_architecture_page_lists_every_module_and_the_real_graph(runtime_graph) -> None:
    files = [str(path.relative_to(ROOT)) for path in module_names().values()]
    assert architecture_problems(ARCHITECTURE.read_text(), files, runtime_graph) == []


def test_architecture_check_catches_missing_modules_and_wrong_edges() -> None:
    graph = _graph(**{"models.core": [], "data.reader": [f"{PACKAGE}.models.core"]})
    good = (
        "| `data` | `models` |\n| `models` | — |\n"
        f"[`models/core.py`](../{PACKAGE}/models/core.py) [`data/reader.py`](../{PACKAGE}/data/reader.py)\n"
    )
    files = ["models/core.py", "data/reader.py"]
    assert architecture_problems(good, files, graph) == []
    assert architecture_problems(good, files + ["data/new.py"], graph) == ["module data/new.py is not on the page"]
    assert architecture_problems(good, files[:1], graph) == ["the page lists data/reader.py, which does not exist"]
    assert architecture_problems(good.replace("| `data` | `models` |", "| `data` | — |"), files, graph) == [
        "sub-package data imports ['models'], the page says []"
    ]
