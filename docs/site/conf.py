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
    header = (
        "# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "wb") as handle:
        handle.write(header.encode() + zlib.compress("".join(entries).encode()))


ANSIBLE_INVENTORY = os.environ.get("VIRTOPS_DOCS_INVENTORY", os.path.join(HERE, "..", "build", "ansible_devel.inv"))
_write_local_inventory(os.path.join(HERE, "ansible_core_refs.txt"), ANSIBLE_INVENTORY)

# A local file only: Sphinx never fetches anything.
intersphinx_mapping = {
    "ansible_devel": (ANSIBLE_DOCS, ANSIBLE_INVENTORY),
}
