# -*- coding: utf-8 -*-
# Copyright: (c) 2026, virtops.libvirt contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""domain_tune's metadata group: title, description, tags and custom metadata elements.

Tags are written exactly as the inventory plugin and domain_info read them (_facts.metadata_summary):
one custom metadata element in the `tags_namespace`, whose text is the tags separated by spaces.
Tags are a set: their order does not count as a difference.
"""

from __future__ import annotations

import re
from typing import Any, Optional
from xml.sax.saxutils import escape

from ansible_collections.virtops.libvirt.plugins.module_utils import _xml
from ansible_collections.virtops.libvirt.plugins.module_utils._errors import VirtopsError
from ansible_collections.virtops.libvirt.plugins.module_utils._facts import metadata_summary
from ansible_collections.virtops.libvirt.plugins.module_utils._metadata import metadata_kind
from ansible_collections.virtops.libvirt.plugins.module_utils._plan import Step
from ansible_collections.virtops.libvirt.plugins.module_utils._tune import TuneGroup, TuneTarget, Values

# The inventory plugin's and domain_info's default tags_namespace.
TAGS_NAMESPACE = "https://virtops.example.org/xmlns/tags/1.0"
TAGS_PREFIX = "tags"
DEFAULT_PREFIX = "ns"
_NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")

METADATA_SPEC: dict[str, Any] = dict(type="dict", options=dict(
    title=dict(type="str"),
    description=dict(type="str"),
    tags=dict(type="list", elements="str"),
    tags_namespace=dict(type="str", default=TAGS_NAMESPACE),
    elements=dict(type="list", elements="dict", options=dict(
        namespace=dict(type="str", required=True),
        prefix=dict(type="str"),
        xml=dict(type="str"),
    )),
))


class MetadataGroup(TuneGroup):
    """`metadata`: title, description, tags and custom elements; each set on the running domain at once."""

    option = "metadata"

    def __init__(self, target: TuneTarget, wanted: Any) -> None:
        super().__init__(target, wanted)
        self.namespace: str = self.wanted.pop("tags_namespace", None) or TAGS_NAMESPACE
        self.elements: dict[str, Optional[str]] = {}  # namespace -> canonical XML without it (None: removed)
        self.payloads: dict[str, Optional[str]] = {}  # namespace -> the XML libvirt's setMetadata is given
        self.prefixes: dict[str, Optional[str]] = {}

    def validate(self) -> None:
        if "\n" in self.wanted.get("title", ""):
            raise self.refuse("title", "libvirt does not allow a line break in a title")
        for tag in self.wanted.get("tags", []):
            if not tag or re.search(r"[\s,]", tag):
                raise self.refuse("tags", f"'{tag}' is not one tag: tags are separated by spaces and commas")
        for number, element in enumerate(self.wanted.get("elements", [])):
            self._check_element(number, element)

    def _check_element(self, number: int, element: dict[str, Any]) -> None:
        namespace, prefix = element["namespace"], element.get("prefix")
        if namespace in self.elements:
            raise self.refuse(f"elements.{number}.namespace", f"'{namespace}' is given twice")
        if namespace == self.namespace and "tags" in self.wanted:
            raise self.refuse(f"elements.{number}.namespace", f"'{namespace}' holds the tags, which metadata.tags sets")
        if prefix is not None and not _NCNAME.match(prefix):
            raise self.refuse(f"elements.{number}.prefix", f"'{prefix}' is not an XML name")
        text = element.get("xml")
        try:
            parsed = _xml.parse(text, f"metadata.elements.{number}.xml") if text else None
        except VirtopsError as error:
            raise self.refuse(f"elements.{number}.xml", error.message) from None
        plain = None if parsed is None else _xml.without_namespace(parsed, namespace)
        self.elements[namespace] = None if plain is None else _xml.canonical(plain)
        self.payloads[namespace] = None if plain is None else _xml.to_string(plain, pretty=False)
        self.prefixes[namespace] = prefix

    def read(self, scope: str) -> Values:
        root = self.definition(scope)
        summary = metadata_summary(root, self.namespace)
        values: Values = {key: summary[key] for key in ("title", "description") if key in self.wanted}
        if "tags" in self.wanted:
            values["tags"] = sorted(set(summary["tags"]))
        if self.elements:
            values["elements"] = {namespace: _present(root, namespace) for namespace in sorted(self.elements)}
        return values

    def steps(self, scope: str, flags: int, current: Values) -> list[Step]:
        steps = [self._text_step(scope, flags, key, self.wanted[key] or None)
                 for key in ("title", "description") if key in self.wanted and (self.wanted[key] or None) != current[key]]
        if "tags" in self.wanted and sorted(set(self.wanted["tags"])) != current["tags"]:
            steps.append(self._tags_step(scope, flags))
        root = self.definition(scope) if self.elements else None
        steps.extend(self._element_step(scope, flags, namespace, root)
                     for namespace, wanted in sorted(self.elements.items()) if wanted != current["elements"][namespace])
        return steps

    def _text_step(self, scope: str, flags: int, key: str, value: Optional[str]) -> Step:
        return self.step(scope, f"set the {key}" if value else f"remove the {key}",
                         lambda: self.domain.set_metadata(metadata_kind(key), value, flags, key),
                         lambda prediction: prediction.update({key: value}))

    def _tags_step(self, scope: str, flags: int) -> Step:
        tags = list(dict.fromkeys(self.wanted["tags"]))
        value = f"<{TAGS_PREFIX}>{escape(' '.join(tags))}</{TAGS_PREFIX}>" if tags else None
        return self.step(scope, f"set the tags to {' '.join(tags)}" if tags else "remove the tags",
                         lambda: self.domain.set_metadata(metadata_kind("element"), value, flags, "tags",
                                                          TAGS_PREFIX, self.namespace),
                         lambda prediction: prediction.update(tags=sorted(set(tags))))

    def _element_step(self, scope: str, flags: int, namespace: str, root: Any) -> Step:
        wanted, payload = self.elements[namespace], self.payloads[namespace]
        prefix = self.prefixes[namespace] or _present_prefix(root, namespace) or DEFAULT_PREFIX
        return self.step(scope, f"{'set' if wanted else 'remove'} the metadata element of {namespace}",
                         lambda: self.domain.set_metadata(metadata_kind("element"), payload, flags,
                                                          f"metadata {namespace}", prefix if wanted else None, namespace),
                         lambda prediction: prediction["elements"].update({namespace: wanted}))


def _metadata_element(root: Any, namespace: str) -> Any:
    metadata = root.find("metadata")
    for element in (metadata if metadata is not None else []):
        if _xml.namespace_of(element) == namespace:
            return element
    return None


def _present(root: Any, namespace: str) -> Optional[str]:
    element = _metadata_element(root, namespace)
    # compared and shown as setMetadata takes it: without the namespace, which libvirt adds
    return None if element is None else _xml.canonical(_xml.without_namespace(element, namespace))


def _present_prefix(root: Any, namespace: str) -> Optional[str]:
    element = _metadata_element(root, namespace)
    return None if element is None else element.prefix
