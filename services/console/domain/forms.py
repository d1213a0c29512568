"""Forms: what a person typed, and the API's refusal put beside the field it is about."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

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
