"""Forms: what a person typed, and the API's refusal put beside the field it is about."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

# Fields never kept outside the request that carried them (a password typed in a form).
_SECRET = re.compile(r"password", re.IGNORECASE)
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# The API words its validation errors the way Joi does: `"email" must be a valid email`.
_FIELD_NAMED = re.compile(r'^"([A-Za-z][A-Za-z0-9]*)(?:\.[^"]*)?" ')


@dataclass
class Form:
    """The fields as submitted (kept on a failed submit), and the errors to show."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None  # an error that belongs to no one field

    @classmethod
    def of(cls, submitted: Mapping[str, str], fields: tuple[str, ...]) -> Form:
        return cls({name: submitted.get(name, "").strip() for name in fields})

    def refused(self, details: str) -> Form:
        """The API's message beside its field when it names one of this form's, else on top."""
        named = _FIELD_NAMED.match(details)
        if named and named.group(1) in self.values:
            self.errors[named.group(1)] = details
        else:
            self.message = details
        return self

    def payload(self) -> dict[str, str]:
        """What to send: the fields filled in (an empty one is left out, not sent as "")."""
        return {name: value for name, value in self.values.items() if value}


def is_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


def label_of(name: str) -> str:
    """A field's name as people read it: `promisedDate` as "Promised date"."""
    words = _WORD_START.sub(" ", name).replace("_", " ").lower()
    return words[:1].upper() + words[1:]
