"""Test helpers that ansible-core added after the oldest release the collection supports.

The unit tests are written against ansible-core 2.19's `ansible.module_utils.testing`; on 2.16 -
2.18 (tests/unit-matrix.sh) conftest installs the stand-in below under that name, so one test
file serves every release. Delete this once requires_ansible is >= 2.19.
"""

import contextlib
import importlib.util
import json
import sys
import types
from typing import Any, Iterator, Optional
from unittest import mock


@contextlib.contextmanager
def patch_module_args(args: Optional[dict] = None) -> Iterator[None]:
    """What 2.19's ansible.module_utils.testing.patch_module_args does, for 2.16 - 2.18: AnsibleModule
    instances made inside the context read `args` (older releases have no serialization profiles)."""
    from ansible.module_utils import basic  # pylint: disable=import-outside-toplevel
    if not isinstance(args, (dict, type(None))):
        raise TypeError("The `args` arg must be a dict or None.")
    encoded: Any = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
    with mock.patch.object(basic, "_ANSIBLE_ARGS", encoded):
        yield


def provide_module_testing() -> None:
    """Make `from ansible.module_utils.testing import patch_module_args` work on every release."""
    if importlib.util.find_spec("ansible.module_utils.testing") is not None:
        return
    import ansible.module_utils  # pylint: disable=import-outside-toplevel
    stand_in = types.ModuleType("ansible.module_utils.testing", __doc__)
    stand_in.patch_module_args = patch_module_args  # type: ignore[attr-defined]
    sys.modules[stand_in.__name__] = stand_in
    ansible.module_utils.testing = stand_in  # type: ignore[attr-defined]
