"""The embedded stack `remit up` and the tests start: real servers from PyPI wheels."""
