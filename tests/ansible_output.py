"""Reading what ansible-inventory prints."""


def plain(value):
    """ansible-inventory marks unsafe strings as {"__ansible_unsafe": text}: give back the text."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
