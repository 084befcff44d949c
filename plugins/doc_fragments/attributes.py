# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # For modules that change things: check mode predicts exactly, diff shows before/after.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
  action_group:
    description: Use C(group/virtops.libvirt.libvirt) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - virtops.libvirt.libvirt
"""

    # For read-only modules.
    INFO_MODULE = r"""
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the target.
    support: full
    details: This module only reads, so it behaves the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
    details: This module never changes anything.
  action_group:
    description: Use C(group/virtops.libvirt.libvirt) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - virtops.libvirt.libvirt
"""
