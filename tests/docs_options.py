"""Check that the guide's YAML examples use only virtops.libvirt options that exist.

    python3 tests/docs_options.py docs/docsite/rst

Every `.. code-block:: yaml` (or yaml+jinja) block of the RST files must be valid YAML. In it:
  - a task `virtops.libvirt.<module>: {...}` may use only the module's options (suboptions too,
    and literal values of options with choices must be among them);
  - `module_defaults: {group/virtops.libvirt.libvirt: {...}}` only options some module has;
  - an inventory source `plugin: virtops.libvirt.libvirt` only the inventory plugin's options;
  - a role of the collection (`roles:` entries, include_role/import_role with `vars:`) only its
    argument spec's options, and only roles that exist.
The options come from `ansible-doc --json` of the collection ANSIBLE_COLLECTIONS_PATH finds.
Exit status 1 and one line per mistake when anything is wrong.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any, Callable, Iterator, Optional

import yaml

COLLECTION = "virtops.libvirt"
GROUP = f"group/{COLLECTION}.libvirt"
INVENTORY = f"{COLLECTION}.libvirt"
INCLUDE_ROLE = {"include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role"}
_CODE_BLOCK = re.compile(r"^(\s*)\.\. code-block::\s*(yaml|yaml\+jinja)\s*$", re.IGNORECASE)

Specs = dict[str, dict[str, Any]]


def ansible_doc(*args: str) -> Any:
    output = subprocess.run(["ansible-doc", "--json", *args], check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def load_specs() -> tuple[Specs, Specs, Specs]:
    """(module options by FQCN, role options by FQCN, inventory plugin options)."""
    modules = sorted(ansible_doc("-t", "module", "-l", COLLECTION))
    module_docs = ansible_doc("-t", "module", *modules) if modules else {}
    module_specs = {name: doc["doc"].get("options") or {} for name, doc in module_docs.items()}
    roles = sorted(ansible_doc("-t", "role", "-l", COLLECTION))
    role_specs: Specs = {}
    for role in roles:
        entry_points = ansible_doc("-t", "role", role)[role]["entry_points"]
        role_specs[role] = {}
        for entry_point in entry_points.values():
            role_specs[role].update(entry_point.get("options") or {})
    inventory = ansible_doc("-t", "inventory", INVENTORY)[INVENTORY]["doc"]["options"]
    return module_specs, role_specs, inventory


def yaml_blocks(path: str) -> Iterator[tuple[int, str]]:
    """(line number of the code-block directive, text) of every YAML code block of one RST file."""
    lines = open(path, encoding="utf-8").read().splitlines()
    index = 0
    while index < len(lines):
        match = _CODE_BLOCK.match(lines[index])
        index += 1
        if not match:
            continue
        directive_line, directive_indent = index, len(match.group(1))
        while index < len(lines) and lines[index].strip().startswith(":"):
            index += 1   # directive options such as :caption:
        body = []
        while index < len(lines) and (not lines[index].strip() or _indent(lines[index]) > directive_indent):
            body.append(lines[index])
            index += 1
        text = "\n".join(body)
        if text.strip():
            yield directive_line, _dedent(text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _dedent(text: str) -> str:
    width = min(_indent(line) for line in text.splitlines() if line.strip())
    return "\n".join(line[width:] for line in text.splitlines())


def eda_source_specs() -> Specs:
    """The event sources of extensions/eda (used in rulebooks' sources), with the options of their DOCUMENTATION."""
    directory = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "extensions", "eda", "plugins",
                             "event_source")
    specs: Specs = {}
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else ():
        if name.endswith(".py"):
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                found = re.search(r'^DOCUMENTATION = r"""(.*?)"""', handle.read(), re.DOTALL | re.MULTILINE)
            if found:
                specs[f"{COLLECTION}.{name[:-3]}"] = (yaml.safe_load(found.group(1)) or {}).get("options") or {}
    return specs


def templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_options(given: Any, spec: dict[str, Any], where: str, report: Callable[[str], None]) -> None:
    """Report every key of `given` that `spec` lacks, recursing into suboptions."""
    if templated(given) or not isinstance(given, dict):
        return
    for key, value in given.items():
        option = spec.get(key) or next((o for o in spec.values() if key in (o.get("aliases") or [])), None)
        if option is None:
            report(f"{where}: no option '{key}' (has: {', '.join(sorted(spec))})")
            continue
        check_value(value, option, f"{where}.{key}", report)


def check_value(value: Any, option: dict[str, Any], where: str, report: Callable[[str], None]) -> None:
    choices = option.get("choices")
    if choices and not isinstance(choices, dict):
        literals = value if isinstance(value, list) else [value]
        for literal in literals:
            if isinstance(literal, (str, int, bool)) and not templated(literal) and literal not in choices:
                report(f"{where}: {literal!r} is not one of {choices}")
    suboptions = option.get("suboptions")
    if not suboptions:
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        check_options(item, suboptions, where, report)


class Checker:
    def __init__(self, modules: Specs, roles: Specs, inventory: dict[str, Any], sources: Optional[Specs] = None) -> None:
        self.modules, self.roles, self.inventory = modules, roles, inventory
        self.sources = eda_source_specs() if sources is None else sources
        self.group_options: dict[str, Any] = {}
        for options in modules.values():
            self.group_options.update(options)
        self.errors: list[str] = []

    def check_text(self, text: str, where: str) -> None:
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            self.errors.append(f"{where}: not valid YAML: {error}")
            return
        for document in documents:
            self.walk(document, where)

    def walk(self, node: Any, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                self.walk(item, where)
            return
        if not isinstance(node, dict):
            return
        self.check_mapping(node, where)
        for value in node.values():
            self.walk(value, where)

    def check_mapping(self, node: dict[Any, Any], where: str) -> None:
        report = self.errors.append
        for key, value in node.items():
            if isinstance(key, str) and key.startswith(f"{COLLECTION}."):
                if key in self.modules:
                    check_options(value, self.modules[key], f"{where}: {key}", report)
                elif key in self.sources:
                    check_options(value, self.sources[key], f"{where}: event source {key}", report)
                elif key != INVENTORY:
                    report(f"{where}: no module {key}")
        if node.get("plugin") == INVENTORY:
            check_options({k: v for k, v in node.items() if k != "plugin"}, self.inventory, f"{where}: inventory", report)
        defaults = node.get("module_defaults")
        if isinstance(defaults, dict) and GROUP in defaults:
            check_options(defaults[GROUP], self.group_options, f"{where}: {GROUP}", report)
        self.check_role(node, where)
        for role in node.get("roles") or []:
            if isinstance(role, str):
                self.check_role({"role": role}, where)

    def check_role(self, node: dict[Any, Any], where: str) -> None:
        include = next((node[key] for key in INCLUDE_ROLE if key in node), None)
        if isinstance(include, dict):
            name, given = include.get("name"), dict(node.get("vars") or {})
        else:
            name = node.get("role")
            given = {key: value for key, value in node.items() if key not in ROLE_KEYWORDS}
            given.update(node.get("vars") or {})
        if not isinstance(name, str) or not name.startswith(f"{COLLECTION}."):
            return
        if name not in self.roles:
            self.errors.append(f"{where}: no role {name} (roles: {', '.join(sorted(self.roles)) or 'none'})")
            return
        check_options(given, self.roles[name], f"{where}: role {name}", self.errors.append)


# Keys of a `roles:` entry that are play keywords, not role options.
ROLE_KEYWORDS = {"role", "name", "vars", "tags", "when", "become", "become_user", "delegate_to", "environment", "tasks_from"}


def rst_files(directory: str) -> Iterator[str]:
    for parent, _dirs, files in os.walk(directory):
        for name in sorted(files):
            if name.endswith(".rst"):
                yield os.path.join(parent, name)


def main(directories: list[str]) -> int:
    checker = Checker(*load_specs())
    blocks = 0
    for directory in directories:
        for path in rst_files(directory):
            for line, text in yaml_blocks(path):
                blocks += 1
                checker.check_text(text, f"{path}:{line}")
    for error in checker.errors:
        print(error, file=sys.stderr)
    if not blocks:
        print(f"no YAML examples found in {directories}", file=sys.stderr)
        return 1
    print(f"{blocks} YAML examples checked, {len(checker.errors)} mistakes")
    return 1 if checker.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
