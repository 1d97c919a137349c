"""README.md and docs/*.md against the code: links, size, `midway` commands and options, paths, Python names.

Each check is a function from a page's text to a list of problems (empty = fine), so the unit tests at the
bottom can feed it a bad string and see it fail.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import functools
import importlib
import inspect
import io
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
README_MAX_BYTES = 10 * 1024

#: Directories of this repository whose paths the docs name (`configs/mmseg/...py`, `scripts/demo.sh`, ...).
_REPO_DIRS = ("configs", "midway_plugin", "scripts", "benchmarks", "tests", "docs", ".ci")
_PATH = re.compile(r"(?<![\w/.-])((?:{})/[\w.{{}},/*<>-]*)".format("|".join(re.escape(d) for d in _REPO_DIRS)))
_CONFIG_NAME = re.compile(r"(?<![\w/.{},-])([\w{},.-]+\.(?:yaml|py))\b")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_INLINE_CODE = re.compile(r"`([^`]+)`")
_FLAG = re.compile(r"(?<![\w-])(--[A-Za-z][\w-]*(?:\.[\w.]+)?)")
_PY_NAME = re.compile(r"\bmidway_plugin(?:\.\w+)+")
_FROM_IMPORT = re.compile(r"^\s*from (midway_plugin[\w.]*) import (\([^)]*\)|[^\n]+)", re.M)
#: Placeholders the pages write for "any config key".
_PLACEHOLDER_KEYS = {"section.key"}
#: Pages whose inline `section.key` spans are `midway pretrain` config keys (`data.augment: device`).
_PRETRAIN_KEY_PAGES = {"pretraining.md", "data.md"}
_PRETRAIN_KEY = re.compile(r"^((?:model|method|optim|data|trainer)\.[a-z_.]+)(?::\s.*)?$")
#: Where the names a page may call come from (the first module that has a name wins).
_API_MODULES = (
    "midway_plugin.models",
    "midway_plugin.data.video",
    "midway_plugin.data.views",
    "midway_plugin.data.synthetic",
    "midway_plugin.lightly",
    "midway_plugin.analysis",
    "midway_plugin.analysis.frames",
    "midway_plugin.mmseg",
    "midway_plugin.mmflow",
)
#: Deprecated parameters (still accepted, so the other checks pass them) -> the name the docs must show: a page may
#: name them only in a paragraph (or code line) that says "deprecated".
DEPRECATED_PARAMETERS = {
    # The one deprecated name kept: mmseg's EncoderDecoder passes `pretrained` to every backbone.
    ("MidwayViT", "pretrained"): "export",
}
#: Pages about the released code, whose config names are the authors', not files of this repository.
_FOREIGN_NAMES = {"paper.md", "official-code.md"}


# ---------------------------------------------------------------------------------------------- reading a page
def _rel(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _lines(text: str) -> Iterator[tuple[str, bool]]:
    """(line, inside a fenced code block) for every line; fence lines themselves count as inside."""
    fence = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            yield line, True
            continue
        yield line, fence


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    return {slug(line.lstrip("#")) for line, code in _lines(text) if not code and re.match(r"#{1,6} ", line)}


def commands(text: str) -> Iterator[tuple[str, str | None]]:
    """Every `midway ...` command line shown, with the heading command it is under (for options in prose).

    Yields (command text, None) for commands in code blocks or inline code, and (inline code span, heading
    command) for inline code outside headings in a section whose heading names a `midway` command.
    """
    heading_cmds: dict[int, str] = {}
    pending = ""
    for line, code in _lines(text):
        if code:
            body = line.split("  #", 1)[0].strip()
            body = re.sub(r"^\$\s+", "", body)
            if pending:
                body, pending = " ".join((pending + " " + body).split()), ""
            if body.endswith("\\"):
                pending = body[:-1]
                continue
            if re.match(r"midway [a-z]", body):  # not `midway    5.56 M` (an output line)
                yield body, None
            continue
        level = re.match(r"(#{1,6}) ", line)
        spans = [s.replace("\\|", "|") for s in _INLINE_CODE.findall(line)]  # `a\|b` in a table cell
        cmd_spans = [s for s in spans if re.match(r"midway\s+[a-z]", s)]
        if level:
            depth = len(level.group(1))
            for d in [d for d in heading_cmds if d >= depth]:
                del heading_cmds[d]
            if len(cmd_spans) == 1:  # a heading naming several commands sets no context
                heading_cmds[depth] = cmd_spans[0]
        for span in cmd_spans:
            yield span, None
        if not level and heading_cmds:
            under = heading_cmds[max(heading_cmds)]
            for span in spans:
                if span.startswith("--"):
                    yield span, under


# ---------------------------------------------------------------------------------------------- the CLI
def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # noqa: SLF001 - argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = set(parser._option_string_actions)  # noqa: SLF001
    for sub in _subparsers(parser).values():
        found |= _options(sub)
    return found


@functools.cache
def _cli() -> argparse.ArgumentParser:
    from midway_plugin.cli import build_parser

    return build_parser()


@functools.cache
def pretrain_config_keys() -> frozenset[str]:
    """Dotted keys `midway pretrain` accepts as `--section.key`: what `--print-config` prints, plus the open
    sections (`model.*` = `preset` and the `MidwayConfig` fields, `data.motion.*` / `data.dino.*` free-form)."""
    from midway_plugin.cli import main
    from midway_plugin.models import MidwayConfig

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["pretrain", "--config", str(REPO / "configs" / "pretrain" / "demo.yaml"), "--print-config"])
    assert rc == 0, out.getvalue()

    def walk(node: object, prefix: str) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{prefix}{key}.")
        yield prefix.rstrip(".")

    keys = set(walk(yaml.safe_load(out.getvalue()), ""))
    keys |= {f"model.{f.name}" for f in dataclasses.fields(MidwayConfig)} | {"model.preset"}
    return frozenset(k for k in keys if k)


def _pretrain_key_ok(key: str) -> bool:
    if key in pretrain_config_keys():
        return True
    return any(key.startswith(f"data.{open_}.") for open_ in ("motion", "dino"))


def check_command(command: str, under: str | None = None) -> list[str]:
    """`command` is a `midway ...` line; or, with `under`, a prose span whose options belong to `under`."""
    words = (under or command).split()[1:]
    parser, path = _cli(), []
    known: set[str] | None = None
    for word in words:
        subs = _subparsers(parser)
        if not subs or word.startswith("-"):
            break
        where = "midway " + " ".join(path) if path else "midway"
        for alternative in word.split("|"):  # `midway analyze perturb|track`
            if alternative not in subs:
                return [
                    f"`{under or command}`: {alternative!r} is not a subcommand of {where} "
                    f"(known: {', '.join(sorted(subs))})"
                ]
        if "|" in word:
            known = set().union(*(_options(subs[a]) for a in word.split("|")))
            break
        parser, path = subs[word], [*path, word]
    problems, known = [], known or _options(parser)
    for flag in _FLAG.findall(command):
        if "." in flag:
            key = flag[2:]
            if key in _PLACEHOLDER_KEYS:
                continue
            if path != ["pretrain"]:
                problems.append(f"`{command}`: {flag} (a config key) is only accepted by `midway pretrain`")
            elif not _pretrain_key_ok(key):
                problems.append(f"`{command}`: config key {key!r} is not a `midway pretrain` config key")
        elif flag not in known:
            problems.append(f"`{command}`: `midway {' '.join(path)}` has no option {flag}")
    return problems


# ---------------------------------------------------------------------------------------------- the checks
def check_links(text: str, page: Path) -> list[str]:
    """Every relative link (and #anchor) resolves to a file (heading) of the repository."""
    problems = []
    for line, code in _lines(text):
        if code:
            continue
        for target in _LINK.findall(line):
            if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, fragment = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                problems.append(f"link ({target}): {_rel(dest)} does not exist")
                continue
            if fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text() if file_part else text):
                problems.append(f"link ({target}): no heading #{fragment} in {_rel(dest)}")
    return problems


def check_readme_size(text: str) -> list[str]:
    size = len(text.encode())
    return [] if size <= README_MAX_BYTES else [f"README.md is {size} bytes, more than {README_MAX_BYTES}"]


def check_commands(text: str) -> list[str]:
    """Every `midway <subcommand>` exists and every option shown with it is one of its options."""
    return [p for command, under in commands(text) for p in check_command(command, under)]


def check_config_keys(text: str) -> list[str]:
    """Every inline `section.key` (`optim.fused`, `data.augment: device`) is a `midway pretrain` config key."""
    keys = {
        m.group(1)
        for line, code in _lines(text)
        if not code
        for m in map(_PRETRAIN_KEY.match, _INLINE_CODE.findall(line))
        if m
    }
    return [f"`{k}` is not a `midway pretrain` config key" for k in sorted(keys) if not _pretrain_key_ok(k)]


def _expand(path: str) -> list[str]:
    """`a_{s16,b16}.py` → [`a_s16.py`, `a_b16.py`]."""
    parts = re.split(r"\{([^{}]*)\}", path)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def check_paths(text: str, foreign_names: bool = False) -> list[str]:
    """Every repository path (`configs/...`, `scripts/...`, `midway_plugin/...`) and, unless the page names the
    released code's configs (`foreign_names`), every bare config file name (`demo.yaml`,
    `linear_midway-vit-{s16,b16}_1xb16-60k_bdd100k-512x512.py`) exists."""
    problems = []
    configs = {p.name for p in (REPO / "configs").rglob("*") if p.is_file()}
    for raw in set(_PATH.findall(text)):
        path = raw.rstrip(".,:;)")
        if re.search(r"[*<>]|NAME|\.\.\.", path):
            continue
        for one in _expand(path):
            if not (REPO / one).exists():
                problems.append(f"path {one} does not exist")
    for raw in set() if foreign_names else set(_CONFIG_NAME.findall(text)):
        if raw.split(".")[0].isupper():  # CONFIG.yaml: a placeholder
            continue
        for name in _expand(raw):
            is_config = name.endswith(".yaml") or re.search(r"\d+xb\d+", name)
            if is_config and "/" not in name and name not in configs:
                problems.append(f"config {name} is in no directory under configs/")
    return problems


def _resolve(dotted: str) -> str | None:
    """None if `midway_plugin.a.b.C` imports (module, then attributes), else the problem."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError as err:
            if err.name and not dotted.startswith(err.name):  # a dependency is missing, not our module
                return f"{dotted}: importing it needs {err.name}"
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return f"{dotted}: {'.'.join(parts[:i])} has no {attr!r}"
            obj = getattr(obj, attr)
        return None
    return f"{dotted}: no such module"


def check_python_names(text: str) -> list[str]:
    """Every `midway_plugin.x.y` and every `from midway_plugin.x import a, b` name imports."""
    names = set(_PY_NAME.findall(text))
    for module, imported in _FROM_IMPORT.findall(text):
        imported = re.sub(r"#[^\n]*", "", imported).strip("() \n")
        names |= {f"{module}.{n.split(' as ')[0].strip()}" for n in imported.split(",") if n.strip()}
    return sorted(p for p in map(_resolve, sorted(names)) if p)


@functools.cache
def _api() -> dict[str, object]:
    """The package's public callables by name: classes, functions, registered OpenMMLab modules."""
    found: dict[str, object] = {}
    for module in map(importlib.import_module, _API_MODULES):
        for name in getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]:
            obj = getattr(module, name, None)
            if callable(obj) and (inspect.isclass(obj) or inspect.isfunction(obj)):
                found.setdefault(name, obj)
    return found


def python_snippets(text: str) -> Iterator[str]:
    """The ```python blocks and the inline code spans (which may run over a line break) of a page."""
    block: list[str] | None = None
    prose: list[str] = []
    for line, code in _lines(text):
        if line.lstrip().startswith("```"):
            if block is not None:
                yield "\n".join(block)
                block = None
            elif line.strip() == "```python":
                block = []
        elif block is not None:
            block.append(line)
        elif not code:
            prose.append(line)
    for span in re.findall(r"`([^`]+)`", "\n".join(prose)):
        yield span.replace("\\|", "|").replace("\n", " ")


def check_call_keywords(text: str) -> list[str]:
    """Every keyword passed to one of the package's classes or functions is one of its parameters, in calls
    (`VideoPairDataset(root, repeat=5)`) and in OpenMMLab config dicts (`dict(type='MidwayViT', out_indices=...)`);
    every ```python block parses."""
    problems = []
    for snippet in python_snippets(text):
        try:
            tree = ast.parse(snippet)
        except SyntaxError as err:
            if "\n" in snippet:  # a ```python block; an inline span may be any code
                problems.append(f"python block does not parse ({err.msg}, line {err.lineno}): {snippet[:60]!r}")
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            keywords = [k for k in node.keywords if k.arg]
            if name == "dict":
                types = [k.value.value for k in keywords if k.arg == "type" and isinstance(k.value, ast.Constant)]
                name, keywords = (types[0] if types else None), [k for k in keywords if k.arg != "type"]
            target = _api().get(name or "")
            if target is None:
                continue
            params = inspect.signature(target).parameters
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
                continue
            problems += [f"{name}(...) has no parameter {k.arg!r}" for k in keywords if k.arg not in params]
    return problems


def _deprecated_uses(name: str) -> re.Pattern[str]:
    """`name` as a keyword or config option (`out_indices=`, `model.backbone.pretrained=...`) or a bare code span."""
    return re.compile(rf"(?<![\w'\"]){re.escape(name)}\s*=(?!=)|`{re.escape(name)}`")


def check_deprecated_names(text: str) -> list[str]:
    """Deprecated parameter names appear only where the text says they are deprecated: a prose paragraph or a
    code line that contains the word "deprecated" (the docs show the new names)."""
    chunks: list[tuple[str, str]] = []  # (the code it holds, the whole paragraph or code line)
    paragraph: list[str] = []

    def close() -> None:
        whole = "\n".join(paragraph)
        chunks.append((" ".join(f"`{s}`" for s in _INLINE_CODE.findall(whole)), whole))
        paragraph.clear()

    for line, code in _lines(text):
        if code or not line.strip():
            close()
            if code:
                chunks.append((line, line))
        else:
            paragraph.append(line)
    close()
    problems = []
    for (owner, old), new in DEPRECATED_PARAMETERS.items():
        pattern = _deprecated_uses(old)
        for code, chunk in chunks:
            if pattern.search(code) and "deprecated" not in chunk.lower():
                snippet = " ".join(chunk.split())[:80]
                problems.append(f"{owner}: {old!r} is deprecated, show {new!r} (or say 'deprecated'): {snippet!r}")
    return problems


# ---------------------------------------------------------------------------------------------- the pages
@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_links_resolve(page: Path) -> None:
    assert check_links(page.read_text(), page) == []


def test_readme_fits_a_screen() -> None:
    assert check_readme_size(README.read_text()) == []


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_midway_commands_and_options_exist(page: Path) -> None:
    assert check_commands(page.read_text()) == []


@pytest.mark.parametrize("page", [p for p in PAGES if p.name in _PRETRAIN_KEY_PAGES], ids=_rel)
def test_pretrain_config_keys_exist(page: Path) -> None:
    assert check_config_keys(page.read_text()) == []


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_paths_exist(page: Path) -> None:
    assert check_paths(page.read_text(), foreign_names=page.name in _FOREIGN_NAMES) == []


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_python_names_import(page: Path) -> None:
    assert check_python_names(page.read_text()) == []


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_call_keywords_exist(page: Path) -> None:
    assert check_call_keywords(page.read_text()) == []


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_docs_show_the_new_parameter_names(page: Path) -> None:
    assert check_deprecated_names(page.read_text()) == []


def test_deprecated_parameter_list_matches_the_code() -> None:
    """Both the deprecated name and its replacement are parameters of the class (else the list is stale)."""
    for (owner, old), new in DEPRECATED_PARAMETERS.items():
        params = inspect.signature(_api()[owner]).parameters
        assert old in params and new in params, f"{owner}{inspect.signature(_api()[owner])}: {old!r} / {new!r}"


def test_every_docs_page_is_in_the_index() -> None:
    index = (REPO / "docs" / "index.md").read_text()
    listed = {Path(t).name for t in _LINK.findall(index)}
    missing = [p.name for p in PAGES[1:] if p.name != "index.md" and p.name not in listed]
    assert missing == [], f"docs/index.md does not list {missing}"


# ---------------------------------------------------------------------------------------------- the checks fail
def test_link_check_catches_a_missing_file_and_anchor(tmp_path: Path) -> None:
    page = REPO / "docs" / "index.md"
    assert check_links("[ok](install.md) [web](https://example.org/x) [a](#top)\n# Top\n", page) == []
    assert check_links("see [gone](nowhere.md)", page) == ["link (nowhere.md): docs/nowhere.md does not exist"]
    assert check_links("[x](install.md#no-such-heading)", page) == [
        "link (install.md#no-such-heading): no heading #no-such-heading in docs/install.md"
    ]
    assert check_links("```\n[in code](nowhere.md)\n```\n", page) == []


def test_size_check_catches_a_long_readme() -> None:
    assert check_readme_size("x" * README_MAX_BYTES) == []
    assert check_readme_size("é" * (README_MAX_BYTES // 2 + 1))  # counted in bytes, not characters


def test_command_check_catches_unknown_subcommands_options_and_keys() -> None:
    good = (
        "```bash\nmidway export a.ckpt b.safetensors --student\nmidway analyze perturb --weights e \\\n"
        "    --points all --out o\n$ midway info --config vit-s16\n```\n"
        "`midway pretrain --config c.yaml --trainer.max_steps 50 --model.gating false --data.motion.crop_size 8`"
    )
    assert check_commands(good) == []
    assert "'frobnicate' is not a subcommand" in check_commands("`midway frobnicate --x`")[0]
    assert "'wobble' is not a subcommand of midway analyze" in check_commands("`midway analyze wobble`")[0]
    assert check_commands("```\nmidway export a b --studnet\n```") == [
        "`midway export a b --studnet`: `midway export` has no option --studnet"
    ]
    assert check_commands("```\nmidway analyze perturb --weights e \\\n  --pionts 1,2\n```") == [
        "`midway analyze perturb --weights e --pionts 1,2`: `midway analyze perturb` has no option --pionts"
    ]
    assert (
        "'trainer.max_stepz' is not a `midway pretrain` config key"
        in check_commands("`midway pretrain --config c.yaml --trainer.max_stepz 5`")[0]
    )
    assert "only accepted by `midway pretrain`" in check_commands("`midway export a b --trainer.max_steps 5`")[0]


def test_config_key_check_catches_unknown_keys() -> None:
    assert check_config_keys("`data.augment: device`, `optim.fused`, `model.gating`, `data.motion.crop_size`") == []
    assert check_config_keys("set `optim.fuzed: true`\n```\n`trainer.nope`\n```") == [
        "`optim.fuzed` is not a `midway pretrain` config key"
    ]


def test_command_check_reads_options_in_prose_under_a_command_heading() -> None:
    page = "# `midway make-video`\n\nOptions: `--num-videos N`, `--frames T`.\n\n## More\n\n`--crf` (0)\n"
    assert check_commands(page) == []
    assert check_commands(page + "and `--colour red`\n") == [
        "`--colour red`: `midway make-video` has no option --colour"
    ]
    assert check_commands("# `midway check-videos`, `midway make-video`\n\n`--colour red`\n") == []  # ambiguous
    assert check_commands("`midway analyze perturb|track --level 9`") == []
    assert "'trace' is not a subcommand" in check_commands("`midway analyze perturb|trace`")[0]
    assert check_commands("# Other\n\n`--colour red`\n") == []  # not under a midway command: not an option of it


def test_path_check_catches_missing_configs_and_files() -> None:
    good = (
        "`configs/mmseg/linear_midway-vit-{s16,b16}_1xb16-60k_bdd100k-512x512.py`, `demo.yaml`, "
        "`scripts/demo.sh`, `midway_plugin/models/`, `runs/NAME/x.ckpt`, `configs/pretrain/*.yaml`, CONFIG.yaml."
    )
    assert check_paths(good) == []
    assert check_paths("the released `linear_vit-s16_1xb16-60k_bdd100k-512x512.py`", foreign_names=True) == []
    assert check_paths("`configs/mmseg/linear_midway-vit-{s16,l16}_1xb16-60k_bdd100k-512x512.py`") == [
        "path configs/mmseg/linear_midway-vit-l16_1xb16-60k_bdd100k-512x512.py does not exist"
    ]
    assert check_paths("run `scripts/nothing.sh`.") == ["path scripts/nothing.sh does not exist"]
    assert check_paths("| `midway_vit-l16_bdd100k.yaml` |") == [
        "config midway_vit-l16_bdd100k.yaml is in no directory under configs/"
    ]
    assert check_paths("`raft_midway-vit-s16_8xb2_1k_nothing-1x1.py`") == [
        "config raft_midway-vit-s16_8xb2_1k_nothing-1x1.py is in no directory under configs/"
    ]


def test_call_keyword_check_catches_renamed_parameters() -> None:
    good = (
        "```python\nbackbone = dict(\n    type='MidwayViT',\n    out_blocks=(3, 6),   # levels\n    frozen=True)\n"
        "ds = VideoPairDataset('v/', repeat=5)\n```\n`MidwayViTEncoder(export, out_channels=256,\nfrozen=False)`"
    )
    assert check_call_keywords(good) == []
    assert check_call_keywords(good.replace("out_blocks", "out_levels")) == [
        "MidwayViT(...) has no parameter 'out_levels'"
    ]
    assert check_call_keywords(good.replace("frozen=False", "freezed=False")) == [
        "MidwayViTEncoder(...) has no parameter 'freezed'"
    ]
    assert check_call_keywords("```python\nds = VideoPairDataset('v/', repaet=5)\n```") == [
        "VideoPairDataset(...) has no parameter 'repaet'"
    ]
    assert "python block does not parse" in check_call_keywords("```python\nx = dict(a=1\ny = 2\n```")[0]
    assert check_call_keywords("`Unknown(x=1)` and `not python (at all`") == []


def test_python_name_check_catches_names_that_do_not_import() -> None:
    good = (
        "`midway_plugin.models.build_from_export`, `midway_plugin.evaluation.report`\n"
        "```python\nfrom midway_plugin.models import (\n    MidwayConfig,   # config\n    save_export,\n)\n```"
    )
    assert check_python_names(good) == []
    assert check_python_names("`midway_plugin.models.build_from_exprot`") == [
        "midway_plugin.models.build_from_exprot: midway_plugin.models has no 'build_from_exprot'"
    ]
    assert check_python_names("`midway_plugin.nowhere.thing`") == [
        "midway_plugin.nowhere.thing: midway_plugin has no 'nowhere'"
    ]
    assert check_python_names("```python\nfrom midway_plugin.data.video import VideoPairDataset, Nope\n```") == [
        "midway_plugin.data.video.Nope: midway_plugin.data.video has no 'Nope'"
    ]


def test_deprecated_name_check_catches_old_names_outside_a_deprecation_note() -> None:
    good = (
        "```python\nbackbone = dict(type='MidwayViT', out_blocks=(3,), export='e.safetensors')\n"
        "enc = dict(type='MidwayViTEncoder', out_blocks=(12,), frozen=True)\n```\n"
        "`--cfg-options model.backbone.export=E`, `pip freeze`, `init_dynamics='pretrained'`, a pretrained model.\n\n"
        "`pretrained` still works as a deprecated alias.\n"
    )
    assert check_deprecated_names(good) == []
    assert check_deprecated_names("`--cfg-options model.backbone.pretrained=E`") == [
        "MidwayViT: 'pretrained' is deprecated, show 'export' (or say 'deprecated'): "
        "'`--cfg-options model.backbone.pretrained=E`'"
    ]
    problems = check_deprecated_names("```python\ndict(type='MidwayViT', pretrained='e.safetensors')\n```\n")
    assert len(problems) == 1 and "'pretrained' is deprecated, show 'export'" in problems[0]
    assert check_deprecated_names("```python\nb = dict(pretrained='e')  # deprecated: use export\n```") == []
