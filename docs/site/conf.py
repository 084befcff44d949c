# Sphinx configuration of the virtops.libvirt docs site; tests/docs.sh builds it.
# Created with `antsibull-docs sphinx-init --use-current --squash-hierarchy virtops.libvirt`
# (antsibull-docs 2.28.0), changed so that the build needs no network: intersphinx reads a local
# inventory made from ansible_core_refs.txt instead of fetching docs.ansible.com's.

import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"

project = "virtops.libvirt"
copyright = "virtops.libvirt contributors"  # noqa: A001  (a Sphinx setting's name)

title = "virtops.libvirt documentation"
html_short_title = "virtops.libvirt"

extensions = ["sphinx.ext.intersphinx", "sphinx_antsibull_ext"]

pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = "any"
# Every reference must resolve: with -W a broken link fails the build.
nitpicky = True


def _write_local_inventory(source, target):
    """An intersphinx inventory (format 2) of the ansible-core targets listed in `source`."""
    entries = []
    with open(source, encoding="utf-8") as handle:
        for line in handle:
            if line.strip() and not line.startswith("#"):
                name, kind, page, shown = line.split(None, 3)
                entries.append(f"{name} {kind} -1 {page} {shown.strip()}\n")
    entries.extend(_builtin_plugin_entries())
    header = (
        "# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(header.encode() + zlib.compress("".join(entries).encode()))


def _builtin_plugin_entries():
    """Inventory lines of ansible.builtin's modules and plugins (their files in ansible-core).

    The generated pages refer to them (M(ansible.builtin.setup) in a role's argument spec, say);
    they are found, not listed by hand, so a new reference needs no change here.
    """
    import ansible

    core = os.path.dirname(ansible.__file__)
    found = [(name, "module") for name in _python_files(os.path.join(core, "modules"))]
    plugins = os.path.join(core, "plugins")
    for kind in sorted(os.listdir(plugins)):
        if kind not in ("filter", "test") and os.path.isdir(os.path.join(plugins, kind)):
            found.extend((name, kind) for name in _python_files(os.path.join(plugins, kind)))
    lines = []
    for name, kind in found:
        label = f"ansible_collections.ansible.builtin.{name}_{kind}"
        anchor = label.replace(".", "-").replace("_", "-")
        lines.append(f"{label} std:label -1 collections/ansible/builtin/{name}_{kind}.html#{anchor} "
                     f"ansible.builtin.{name} {kind}\n")
    return lines


def _python_files(directory):
    return sorted(name[:-3] for name in os.listdir(directory) if name.endswith(".py") and not name.startswith("_"))


# Sphinx runs this file inside the configuration directory: a relative path in the environment
# is meant relative to where the build was started ($PWD).
ANSIBLE_INVENTORY = os.path.join(
    os.environ.get("PWD", HERE), os.environ.get("VIRTOPS_DOCS_INVENTORY") or os.path.join(HERE, "..", "build", "ansible_devel.inv")
)
_write_local_inventory(os.path.join(HERE, "ansible_core_refs.txt"), ANSIBLE_INVENTORY)

# A local file only: Sphinx never fetches anything.
intersphinx_mapping = {
    "ansible_devel": (ANSIBLE_DOCS, ANSIBLE_INVENTORY),
}
