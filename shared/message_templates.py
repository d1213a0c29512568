"""Step templates: the one syntax the campaigns service accepts and the agents service renders.

A template is text with plain `{placeholder}` fields from `PLACEHOLDERS` (and `{{`, `}}` for
literal braces). Nothing else of Python's format language is allowed: no format spec (a
width of a million characters), no conversion, no attribute or index access
(`{contact_name.__class__}`). Checked when a campaign is created or changed; rendering never
raises, whatever a stored template holds.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

PLACEHOLDERS = (
    "contact_name",
    "company_name",
    "amount",
    "currency",
    "invoice_number",
    "due_date",
    "days_overdue",
    "pay_link",
)
_ALLOWED = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)


def _fields(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    return list(string.Formatter().parse(template))


def template_problem(template: str) -> str | None:
    """Why `template` is refused, or None when it is fine."""
    try:
        fields = _fields(template)
    except ValueError as error:
        return f"is not a valid template ({error}); write a literal brace as {{{{ or }}}}"
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            return f"has an unknown placeholder {{{name}}}; use only {_ALLOWED}"
        if spec or conversion:
            shown = f"{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}"
            return f"formats a placeholder ({{{shown}}}); write it plainly as {{{name}}}"
    return None


def render(template: str, values: Mapping[str, object]) -> str | None:
    """The template with its placeholders filled in, or None when it breaks the syntax."""
    if template_problem(template) is not None:
        return None
    return "".join(
        literal + (str(values[name]) if name is not None else "")
        for literal, name, _, _ in _fields(template)
    )
