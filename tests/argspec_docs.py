"""Whether a module's DOCUMENTATION says what its argument spec does (for argspecs assembled in code)."""


def documented_differently(spec, documented, path):
    """Where the documentation says other than the argspec: type, required, default, choices, elements, suboptions."""
    found = []
    for key, absent in (("type", None), ("required", False), ("default", None), ("choices", None), ("elements", None)):
        if spec.get(key, absent) != documented.get(key, absent):
            found.append(f"{path}: {key} is {spec.get(key, absent)!r} in the argspec, {documented.get(key, absent)!r} in the doc")
    if not documented.get("description"):
        found.append(f"{path}: no description")
    options, suboptions = spec.get("options") or {}, documented.get("suboptions") or {}
    if set(options) != set(suboptions):
        found.append(f"{path}: options {sorted(options)} in the argspec, {sorted(suboptions)} in the doc")
    for name in sorted(set(options) & set(suboptions)):
        found.extend(documented_differently(options[name], suboptions[name], f"{path}.{name}"))
    return found
