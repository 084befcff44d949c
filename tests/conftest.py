"""pytest: every test imports the collection as ansible_collections.virtops.libvirt."""

import collection_path

collection_path.make_collection_importable()
