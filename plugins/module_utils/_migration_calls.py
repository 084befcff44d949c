# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The typed migration calls of one domain (virDomainMigrate*), each libvirt method from one method.

A migration is never repeated automatically (a timed-out request may have been carried out), so
only the getters are reads. The maximum speed (before and after the switch to post-copy) and the
xbzrle cache are set through the migration's own parameters (VIR_MIGRATE_PARAM_BANDWIDTH,
_BANDWIDTH_POSTCOPY, _COMPRESSION_XBZRLE_CACHE), which libvirt applies to the job as the setters do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible_collections.virtops.libvirt.plugins.module_utils._domain_calls import DomainCalls
from ansible_collections.virtops.libvirt.plugins.module_utils._flags import flag

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.virtops.libvirt.plugins.module_utils._connection import Connection


def _postcopy(postcopy: bool) -> int:
    return flag("VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY") if postcopy else 0


class MigrationCalls(DomainCalls):
    """Migration of one domain: the migrate calls, post-copy switch and the migration tunables."""

    def migrate3(self, destination: Connection, params: dict[str, Any], flags: int) -> Any:
        """Client-driven migration to `destination` (blocks until the job ends); the destination's virDomain."""
        return self.domain.invoke("migrate", self.virdomain.migrate3, destination.conn, params, flags)

    def migrate_to_uri3(self, peer_uri: str, params: dict[str, Any], flags: int) -> None:
        """Peer-to-peer migration: the source daemon connects to `peer_uri` itself (blocks until the job ends)."""
        self.domain.invoke("migrate", self.virdomain.migrateToURI3, peer_uri, params, flags)

    def migrate_start_post_copy(self) -> None:
        self.domain.invoke("switch the migration to post-copy", self.virdomain.migrateStartPostCopy, 0)

    def migrate_set_max_downtime(self, milliseconds: int) -> None:
        self.domain.invoke("set the migration's maximum downtime", self.virdomain.migrateSetMaxDowntime, milliseconds, 0)

    def migrate_get_max_downtime(self) -> int:
        return self.domain.read("read the migration's maximum downtime", self.virdomain.migrateGetMaxDowntime, 0)

    def migrate_get_max_speed(self, postcopy: bool = False) -> int:
        return self.domain.read("read the migration's maximum speed", self.virdomain.migrateGetMaxSpeed,
                                _postcopy(postcopy))

    def migrate_get_compression_cache(self) -> int:
        return self.domain.read("read the migration's compression cache", self.virdomain.migrateGetCompressionCache, 0)
