"""The layering of plugins/, read from the source: typed libvirt calls, one wait primitive, read vs write side.

- every libvirt method is called from one typed wrapper only, and `invoke(` (the error translation)
  appears only in wrapper files;
- nothing sleeps but the retry backoff (waits go through _events.Watch.wait_until);
- the read side (facts, inventory) never imports the write side (runners), even indirectly;
- only _module (and the modules) import AnsibleModule.
"""

import ast
import re
from collections import defaultdict
from pathlib import Path

import libvirt
import libvirt_qemu

REPOSITORY = Path(__file__).resolve().parents[2]
PLUGINS = REPOSITORY / "plugins"
MODULE_UTILS = PLUGINS / "module_utils"
PACKAGE = "ansible_collections.virtops.libvirt.plugins.module_utils"

# Files whose classes are typed wrappers around libvirt objects: the only ones that may call invoke().
WRAPPER_FILES = {"_connection.py", "_domain.py", "_domain_calls.py", "_agent.py", "_jobs.py",
                 "_migration_calls.py", "_block_calls.py", "_device_calls.py", "_tune_calls.py",
                 "_console_calls.py"}
READ_SIDE = {"module_utils/_facts.py", "module_utils/_gather.py", "module_utils/_fleet.py",
             "module_utils/_snapshot_facts.py", "inventory/libvirt.py", "modules/domain_info.py"}
KNOWN_RUNNERS = {"_snapshot", "_backup", "_checkpoint", "_lifecycle", "_definition", "_removal", "_migration"}
# The receivers of libvirt objects in the wrappers, and which libvirt object each one is.
RECEIVERS = {"virdomain": "virDomain", "conn": "virConnect", "_conn": "virConnect", "handle": None}
# libvirt-python's camelCase method names are found whatever the receiver is called (lower-case
# ones such as destroy or resume are also the wrappers' own names: those are found by receiver).
# Not the libvirt module's own functions (libvirt.getVersion, the client library's version): they
# act on no connection or domain.
LIBVIRT_CLASSES = (libvirt.virConnect, libvirt.virDomain, libvirt.virDomainSnapshot, libvirt.virDomainCheckpoint,
                   libvirt.virStoragePool, libvirt.virStorageVol, libvirt.virNetwork, libvirt_qemu)
CAMEL_CASE_METHODS = {name for owner in LIBVIRT_CLASSES for name in dir(owner)
                      if not name.startswith("_") and name != name.lower() and callable(getattr(owner, name))}


def sources():
    return sorted(path for path in PLUGINS.rglob("*.py") if "__pycache__" not in path.parts)


def relative(path):
    return path.relative_to(PLUGINS).as_posix() if path.is_relative_to(PLUGINS) else path.name


def parsed(path):
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def libvirt_method_uses(path):
    """(libvirt object, method) -> where, for each `<...>.virdomain.m`, `self.conn.m`, `<...>.handle.m`
    and any `<...>.someLibvirtMethod`.

    A `handle` is the wrapped libvirt object of its class (Snapshot, Checkpoint, StoragePool),
    so its methods are told apart by that class.
    """
    found = defaultdict(list)

    def visit(node, owner):
        for child in ast.iter_child_nodes(node):
            visit(child, child.name if isinstance(child, ast.ClassDef) else owner)
        if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Attribute, ast.Name)):
            receiver = node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id
            if receiver == "handle":
                found[(f"the handle of {owner}", node.attr)].append(f"{relative(path)}:{node.lineno}")
            elif receiver in RECEIVERS or (node.attr in CAMEL_CASE_METHODS and receiver != "libvirt"):
                found[("libvirt", node.attr)].append(f"{relative(path)}:{node.lineno} ({receiver})")

    visit(parsed(path), None)
    return found


def test_the_scan_finds_libvirt_calls_whatever_the_receiver(tmp_path):
    sample = tmp_path / "_sample.py"
    sample.write_text(
        "class Snapshot:\n"
        "    def read(self, dom, handle):\n"
        "        self.domain.virdomain.blockInfo('vda', 0)\n"
        "        dom.createWithFlags(0)\n"
        "        handle.getName()\n"
        "        self.conn.destroy()\n"
        "        libvirt.getVersion()\n", encoding="utf-8")
    assert sorted(libvirt_method_uses(sample)) == [
        ("libvirt", "blockInfo"), ("libvirt", "createWithFlags"), ("libvirt", "destroy"),
        ("the handle of Snapshot", "getName")]


def test_every_libvirt_method_is_called_from_one_place_only():
    places = defaultdict(list)
    for path in sources():
        for key, where in libvirt_method_uses(path).items():
            places[key].extend(where)
    assert places, "the scan must find the wrappers' calls"
    assert ("libvirt", "createWithFlags") in places and ("libvirt", "qemuAgentCommand") in places
    repeated = {f"{obj}.{method}": where for (obj, method), where in places.items() if len(where) > 1}
    assert not repeated, f"call these through their one typed wrapper: {repeated}"


def test_libvirt_calls_are_only_in_wrapper_files():
    outside = {}
    for path in sources():
        if path.name not in WRAPPER_FILES:
            uses = libvirt_method_uses(path)
            if uses:
                outside[relative(path)] = sorted(f"{obj}.{method}" for obj, method in uses)
    assert not outside, f"add a typed wrapper method instead: {outside}"


def test_invoke_is_used_only_in_wrapper_files():
    users = sorted(relative(path) for path in sources()
                   if path.name not in WRAPPER_FILES and re.search(r"\binvoke\(", path.read_text(encoding="utf-8")))
    assert not users, f"invoke() is the wrappers' error translation; call a typed wrapper method instead: {users}"


def test_no_string_dispatched_libvirt_calls():
    users = sorted(relative(path) for path in sources() if '.call("' in path.read_text(encoding="utf-8"))
    assert not users


def test_nothing_sleeps_but_the_retry_backoff():
    allowed = ("module_utils/_connection.py", "sleep: Callable[[float], None] = field(default=time.sleep, repr=False)")
    sleeping = []
    for path in sources():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"\btime\.sleep\b|\bimport\b.*\bsleep\b", line) and (relative(path), line.strip()) != allowed:
                sleeping.append(f"{relative(path)}:{number}: {line.strip()}")
    assert not sleeping, f"wait with _events.Watch.wait_until instead: {sleeping}"


def module_utils_imports(path):
    """The module_utils modules `path` imports (`from PACKAGE import _x`, `from PACKAGE._x import ...`)."""
    imported = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                imported.update(alias.name for alias in node.names)
            elif node.module.startswith(PACKAGE + "."):
                imported.add(node.module[len(PACKAGE) + 1:].split(".")[0])
        elif isinstance(node, ast.Import):
            imported.update(alias.name[len(PACKAGE) + 1:].split(".")[0] for alias in node.names
                            if alias.name.startswith(PACKAGE + "."))
    return imported


def runners():
    """The write side: the known runners, and any module_utils file with a *Runner class or a change plan."""
    found = set(KNOWN_RUNNERS)
    for path in MODULE_UTILS.glob("_*.py"):
        names = {node.name for node in ast.walk(parsed(path)) if isinstance(node, ast.ClassDef)}
        if any(name.endswith("Runner") for name in names) or "_plan" in module_utils_imports(path):
            found.add(path.stem)
    return found - {"_plan", "_module", "_targets"}  # the plan itself, and the glue every module (domain_info too) uses


def reachable_imports(path):
    """Every module_utils module `path` imports, directly or through the ones it imports."""
    seen, pending = set(), list(module_utils_imports(path))
    while pending:
        name = pending.pop()
        if name in seen or not (MODULE_UTILS / f"{name}.py").exists():
            continue
        seen.add(name)
        pending.extend(module_utils_imports(MODULE_UTILS / f"{name}.py"))
    return seen


def test_the_read_side_imports_no_runner():
    write_side = runners()
    assert {"_snapshot", "_backup", "_lifecycle"} <= write_side
    assert {"_domain", "_connection", "_events"} <= reachable_imports(PLUGINS / "inventory/libvirt.py"), "indirect too"
    crossing = {}
    for name in sorted(READ_SIDE):
        path = PLUGINS / name
        if path.exists():
            reached = reachable_imports(path) & write_side
            if reached:
                crossing[name] = sorted(reached)
    assert not crossing, f"the read side reaches the write side: {crossing}"


def test_only_module_imports_ansible_module():
    importing = []
    for path in MODULE_UTILS.glob("*.py"):
        if path.name == "_module.py":
            continue
        for node in ast.walk(parsed(path)):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                    alias.name.split(".")[-1] == "AnsibleModule" for alias in node.names):
                importing.append(path.name)
    assert not importing, f"only _module builds the AnsibleModule; runners take their options: {sorted(importing)}"


def test_the_facts_of_snapshots_and_checkpoints_live_on_the_read_side():
    readers = {"list_snapshots", "list_checkpoints", "snapshot_facts", "checkpoint_facts", "sorted_oldest_first"}
    defined = defaultdict(list)
    for path in sources():
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.FunctionDef) and node.name in readers:
                defined[node.name].append(relative(path))
    assert dict(defined) == {name: ["module_utils/_snapshot_facts.py"] for name in readers}
