"""MkDocs hook: the parts of the site that are read from the code, filled in at build time.

A page marks where generated content goes with an HTML comment:

- `<!-- generated: events -->`: the event catalogue (`shared.topics.EVENTS`), each event type
  with its producer, consumers and payload contract (`shared.contracts.PAYLOADS`), and the
  envelope (`shared.events.Envelope`);
- `<!-- generated: settings classes -->` and `<!-- generated: other settings -->`: the
  pydantic-settings classes and the settings no table of the page lists. Every table of the
  page headed `| variable | meaning |` gets each setting's readers (a service, for a setting of
  its own class; every service, for one of the shared classes; `remit up`), default and
  accepted values from its class; a table headed `| variable | default | meaning |` is for
  variables that are not settings (the gateway's, the tests'). A name on the page that no
  class reads, and an `.env.example` default that differs from the class's, fail the build;
- `<!-- generated: benchmark results -->`: the figures of `bench-results.json`, as the last
  `make bench` wrote them.

Nothing generated is committed: `make docs` (mkdocs build --strict) rebuilds it every time.
"""

from __future__ import annotations

import datetime
import importlib
import importlib.util
import inspect
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types
from pydantic import SecretStr, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"^<!-- generated: ([a-z ]+) -->$", re.M)

# Modules that may define settings classes; those that do not exist (yet, or any more) are
# skipped, so the page follows the code as it is reorganised.
SETTINGS_MODULES = (
    "shared.settings",
    "shared.devstack.platform",
    "services.auth.settings",
    "services.campaigns.settings",
    "services.agents.settings",
    "services.notifier.settings",
    "services.console.settings",
)


class DocsError(Exception):
    """A page and the code disagree; the build stops."""


# --- settings ------------------------------------------------------------------------------------


def settings_classes() -> list[type[BaseSettings]]:
    found: list[type[BaseSettings]] = []
    for name in SETTINGS_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except ModuleNotFoundError:
            continue
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseSettings) and value.__module__ == name:
                found.append(value)
    if not found:
        raise DocsError("no settings classes found in " + ", ".join(SETTINGS_MODULES))
    return found


def _variable(cls: type[BaseSettings], field: str) -> str:
    return (str(cls.model_config.get("env_prefix") or "") + field).upper()


def _own_fields(cls: type[BaseSettings]) -> Iterator[tuple[str, FieldInfo]]:
    """Fields `cls` declares itself (not those it inherits from another settings class)."""
    inherited = {
        name
        for base in cls.__mro__[1:]
        if isinstance(base, type) and issubclass(base, BaseSettings) and base is not BaseSettings
        for name in base.model_fields
    }
    for name, info in cls.model_fields.items():
        if name not in inherited:
            yield name, info


def settings_fields() -> dict[str, list[tuple[type[BaseSettings], FieldInfo]]]:
    """Each variable, with every class that reads it (several classes may)."""
    fields: dict[str, list[tuple[type[BaseSettings], FieldInfo]]] = {}
    for cls in settings_classes():
        for name, info in _own_fields(cls):
            fields.setdefault(_variable(cls, name), []).append((cls, info))
    return fields


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M")
    return str(value)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if value == "":
        return "empty"
    return f"`{_value(value)}`"


def _accepts(info: FieldInfo) -> str:
    annotation = info.annotation
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) is not Literal and len(args) == 1:
        annotation = args[0]
    if get_origin(annotation) is Literal:
        return ", ".join(f"`{choice}`" for choice in get_args(annotation))
    kind = {
        int: "integer",
        float: "number",
        bool: "`true` or `false`",
        str: "text",
        SecretStr: "text (secret)",
        Path: "path",
        datetime.time: "time, `HH:MM`",
    }.get(annotation, getattr(annotation, "__name__", str(annotation)))
    limits = []
    for rule in info.metadata:
        for attribute, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            bound = getattr(rule, attribute, None)
            if isinstance(rule, annotated_types.BaseMetadata) and bound is not None:
                limits.append(f"{sign} {_value(bound)}")
    return kind + (f" ({', '.join(limits)})" if limits else "")


def _reader(cls: type[BaseSettings]) -> str:
    """Who reads a class's settings: a service (its own class), all of them, or `remit up`."""
    module = cls.__module__.split(".")
    if module[0] == "services":
        return module[1]
    if "devstack" in module:
        return "`remit up`"
    return "every service"


def _read_by(readers: list[tuple[type[BaseSettings], FieldInfo]]) -> str:
    return ", ".join(dict.fromkeys(_reader(cls) for cls, _ in readers))


def _defaults(readers: list[tuple[type[BaseSettings], FieldInfo]]) -> str:
    shown = {_default(info) for _, info in readers}
    if len(shown) == 1:
        return shown.pop()
    return "; ".join(f"{_default(info)} (`{cls.__name__}`)" for cls, info in readers)


_ROW = re.compile(r"^\|(.*)\|\s*$")


def _cells(line: str) -> list[str]:
    match = _ROW.match(line)
    return [cell.strip() for cell in match.group(1).split(" | ")] if match else []


def _names(cell: str) -> list[str]:
    return re.findall(r"`([A-Z][A-Z0-9_]*)`", cell)


def fill_settings_tables(markdown: str, fields: dict[str, Any]) -> tuple[str, set[str]]:
    """Every `| variable | meaning |` table with the defaults and accepted values added."""
    out: list[str] = []
    listed: set[str] = set()
    kind = ""
    for line in markdown.splitlines():
        cells = _cells(line)
        if not cells:
            kind = ""
        elif cells == ["variable", "meaning"]:
            kind = "settings"
            line = "| variable | read by | default | accepts | meaning |"
        elif cells == ["variable", "default", "meaning"]:
            kind = "other"
        elif kind == "settings" and set(line) <= set("|- "):
            line = "|---|---|---|---|---|"
        elif kind == "settings":
            names = _names(cells[0])
            if len(cells) != 2 or len(names) != 1 or names[0] not in fields:
                raise DocsError(f"configuration: {cells[0]} is not a setting any class reads")
            readers = fields[names[0]]
            listed.add(names[0])
            accepts = " / ".join(sorted({_accepts(info) for _, info in readers}))
            filled = [cells[0], _read_by(readers), _defaults(readers), accepts, cells[1]]
            line = "| " + " | ".join(filled) + " |"
        elif kind == "other":
            for name in _names(cells[0]):
                if name in fields:
                    raise DocsError(f"configuration: {name} is a setting; list it under a class")
        out.append(line)
    return "\n".join(out), listed


def settings_classes_list() -> str:
    lines = []
    for cls in settings_classes():
        source = Path(inspect.getfile(cls)).resolve().relative_to(ROOT)
        doc = " ".join((cls.__doc__ or "").split("\n\n")[0].split())
        bases = [base.__name__ for base in cls.__bases__ if base is not BaseSettings]
        count = f"{len(list(_own_fields(cls)))} settings"
        if bases:
            count += " of its own, on " + ", ".join(f"`{name}`" for name in bases)
        lines.append(f"- `{cls.__name__}` in `{source}` ({count}): {doc}")
    return "\n".join(lines)


def other_settings(fields: dict[str, Any], listed: set[str]) -> str:
    rest = sorted(set(fields) - listed)
    if not rest:
        return "Every setting is described in a section above."
    rows = ["| variable | read by | default | accepts | meaning |", "|---|---|---|---|---|"]
    for name in rest:
        readers = fields[name]
        meaning = next((info.description for _, info in readers if info.description), "")
        accepts = " / ".join(sorted({_accepts(info) for _, info in readers}))
        rows.append(
            f"| `{name}` | {_read_by(readers)} | {_defaults(readers)} | {accepts} | {meaning} |"
        )
    return "\n".join(rows)


def check_env_example(fields: dict[str, list[tuple[type[BaseSettings], FieldInfo]]]) -> None:
    """`.env.example` names every setting, with the default its class has."""
    example = (ROOT / ".env.example").read_text()
    given = dict(re.findall(r"^#\s*([A-Z][A-Z0-9_]*)=([^#\n]*)", example, re.M))
    for name, readers in fields.items():
        if name not in given:
            raise DocsError(f".env.example does not name {name}")
        text = given[name].strip()
        for cls, info in readers:
            if info.is_required() or info.get_default(call_default_factory=True) is None:
                continue
            default = info.get_default(call_default_factory=True)
            value = TypeAdapter(info.annotation).validate_python(text) if text else ""
            if value != default:
                raise DocsError(
                    f".env.example gives {name}={text}, but {cls.__name__}'s default is "
                    f"{_value(default)}"
                )


# --- events --------------------------------------------------------------------------------------


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"object ([{name}](#{name.lower()}))"
    if "anyOf" in schema:
        kinds = [_type(option) for option in schema["anyOf"] if option.get("type") != "null"]
        nullable = any(option.get("type") == "null" for option in schema["anyOf"])
        return " or ".join(kinds) + (" or null" if nullable else "")
    if "enum" in schema:
        return "one of " + ", ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    kind = str(schema.get("type", "any"))
    if "format" in schema:
        kind += f" ({schema['format']})"
    if schema.get("type") == "array" and "items" in schema:
        kind = f"list of {_type(schema['items'])}"
    return kind


def _field_table(schema: dict[str, Any]) -> str:
    """One row per key: its type and whether every event has it (else it may be absent)."""
    required = set(schema.get("required", ()))
    properties = schema.get("properties", {})
    described = any("description" in prop for prop in properties.values())
    rows = ["| key | type | required |" + (" description |" if described else "")]
    rows.append("|---|---|---|" + ("---|" if described else ""))
    for key, prop in properties.items():
        row = f"| `{key}` | {_type(prop)} | {'yes' if key in required else 'no'} |"
        if described:
            text = " ".join(str(prop.get("description", "")).split()).replace("|", "\\|")
            row += f" {text} |"
        rows.append(row)
    return "\n".join(rows)


def _doc(text: str | None) -> str:
    return "\n".join(line.strip() for line in (text or "").strip().splitlines())


def events_page() -> str:
    from shared.contracts import PAYLOADS
    from shared.events import Envelope, dead_letter_topic
    from shared.topics import EVENTS

    missing = set(EVENTS) ^ set(PAYLOADS)
    if missing:
        raise DocsError(f"event types without both a catalogue entry and a contract: {missing}")
    parts = [
        "## The envelope",
        "",
        _doc(Envelope.__doc__),
        "",
        "A producer gives `type`, `producer` and `payload`; the others are filled in when the "
        "event is made: a new `event_id`, `version` 1, `occurred_at` now, and the `request_id` "
        "and `traceparent` of the request or trace behind it (null when there is none).",
        "",
        _field_table(Envelope.model_json_schema()),
        "",
    ]
    parts += ["## Event types", "", "| event type | producer | consumers | what it says |"]
    parts.append("|---|---|---|---|")
    for event_type, spec in EVENTS.items():
        consumers = ", ".join(spec.consumers) or "none yet"
        anchor = event_type.replace(".", "")
        parts.append(
            f"| [`{event_type}`](#{anchor}) | {spec.producer} | {consumers} | {spec.description} |"
        )
    parts.append("")
    nested: dict[str, dict[str, Any]] = {}
    for event_type, spec in EVENTS.items():
        contract = PAYLOADS[event_type]
        schema = contract.model_json_schema(by_alias=True)
        nested.update(schema.get("$defs", {}))
        consumers = ", ".join(f"**{name}**" for name in spec.consumers)
        parts += [
            f"### {event_type}",
            "",
            f"{spec.description}.",
            "",
            f"- Produced by **{spec.producer}**, through its outbox, keyed by the aggregate's ID.",
            (
                f"- Consumed by {consumers}; after the retries an event that still fails goes "
                f"to `{dead_letter_topic(event_type)}`."
                if spec.consumers
                else "- No service consumes it yet."
            ),
            f"- Payload contract: `{contract.__name__}` in `shared/contracts.py`.",
            "",
            _doc(contract.__doc__),
            "",
            _field_table(schema),
            "",
        ]
    if nested:
        parts += ["## Nested objects", ""]
        for name, schema in sorted(nested.items()):
            parts += [f"### {name}", "", _doc(schema.get("description")), ""]
            parts += [_field_table(schema), ""]
    return "\n".join(parts)


# --- benchmarks ----------------------------------------------------------------------------------


def _figure(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int | float) else str(value)


def _committed_at(path: Path) -> datetime.datetime | None:
    """When the file was last committed (a fresh clone's files all carry the checkout time);
    None when it is not in git or has changes not committed yet."""
    try:
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        stamp = subprocess.run(
            ["git", "log", "-1", "--format=%cI", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    if changed or not stamp:
        return None
    return datetime.datetime.fromisoformat(stamp).astimezone(datetime.UTC)


def benchmark_results() -> str:
    path = ROOT / "bench-results.json"
    if not path.exists():
        return (
            '!!! note "No results in this build"\n'
            "    This site was built without a `bench-results.json`. Run `make bench`, then\n"
            "    `make docs`, to see the figures of your machine here."
        )
    rows = json.loads(path.read_text())
    written = _committed_at(path) or datetime.datetime.fromtimestamp(
        path.stat().st_mtime, datetime.UTC
    )
    lines = [
        f"Figures from `bench-results.json`, measured {written:%Y-%m-%d %H:%M} UTC "
        f"({len(rows)} figures). They depend on the machine and on what else ran on it.",
        "",
        "| figure | value | unit | baseline | ratio | note |",
        "|---|---:|---|---:|---:|---|",
    ]
    for row in rows:
        cells = [
            row["figure"],
            _figure(row.get("value")),
            row.get("unit") or "",
            _figure(row.get("baseline")),
            _figure(row.get("ratio")),
            row.get("note") or "",
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


# --- the hook ------------------------------------------------------------------------------------


def render(markdown: str) -> str:
    """`markdown` with every generated part filled in."""
    fields: dict[str, Any] | None = None
    listed: set[str] = set()
    if "<!-- generated: other settings -->" in markdown:
        fields = settings_fields()
        check_env_example(fields)
        markdown, listed = fill_settings_tables(markdown, fields)

    def fill(match: re.Match[str]) -> str:
        what = match.group(1)
        if what == "events":
            return events_page()
        if what == "benchmark results":
            return benchmark_results()
        if what == "settings classes":
            return settings_classes_list()
        if what == "other settings" and fields is not None:
            return other_settings(fields, listed)
        raise DocsError(f"unknown generated part: {what}")

    return MARK.sub(fill, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    return render(markdown)
