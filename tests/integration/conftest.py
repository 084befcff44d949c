"""Integration tests on the real rig: the fixtures live in rig_fixtures.py (tests/faults uses them too)."""

from rig_fixtures import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import
