"""Argument checks, run before any request: each failure is an InputError naming the argument."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any, cast, get_args

from lmsystems_generated.agent_server_literals import MultitaskStrategy as MultitaskStrategyName
from lmsystems_generated.agent_server_literals import StreamMode as StreamModeName

from ._exceptions import InputError
from ._headers import is_field_value

# The allowed values, from the spec (the StreamMode and MultitaskStrategy enums have the same members).
STREAM_MODES: tuple[str, ...] = get_args(StreamModeName)
MULTITASK_STRATEGIES: tuple[str, ...] = get_args(MultitaskStrategyName)


def _choices(values: Sequence[str]) -> str:
    return ", ".join(repr(v) for v in values)


def stream_modes(value: object, *, argument: str = "stream_mode") -> list[StreamModeName]:
    """A stream mode, or a list of them, as a list of strings."""
    items: Sequence[object]
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = value
    else:
        raise InputError(f"{argument} must be a stream mode or a list of them, not {type(value).__name__}")
    if not items:
        raise InputError(
            f"{argument} must name at least one stream mode; choose from {_choices(STREAM_MODES)}"
        )
    modes: list[str] = []
    for item in items:
        if not isinstance(item, str) or item not in STREAM_MODES:
            raise InputError(
                f"{argument}: unknown stream mode {item!r}; choose from {_choices(STREAM_MODES)}"
            )
        mode = str(item)  # a StreamMode member becomes its plain value
        if mode not in modes:
            modes.append(mode)
    return cast("list[StreamModeName]", modes)  # each checked against the spec's values above


def multitask_strategy(value: object) -> str:
    """A multitask strategy as a plain string."""
    if not isinstance(value, str) or value not in MULTITASK_STRATEGIES:
        raise InputError(
            f"multitask_strategy: unknown strategy {value!r}; choose from {_choices(MULTITASK_STRATEGIES)}"
        )
    return str(value)


def identifier(value: object, *, argument: str) -> str:
    """A non-empty id string (thread id, run id, assistant id, ...)."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{argument} must be a non-empty string, not {value!r}")
    return value


def thread_id(thread: object, *, argument: str = "thread") -> str:
    """The id of a thread given as the dict `create_thread` returned, or as an id string."""
    if isinstance(thread, str):
        return identifier(thread, argument=argument)
    if isinstance(thread, Mapping):
        if "thread_id" not in thread:
            raise InputError(f"{argument} has no 'thread_id': pass the dict create_thread returned, or an id")
        return identifier(thread["thread_id"], argument=f"{argument}['thread_id']")
    raise InputError(f"{argument} must be a thread dict or a thread id string, not {type(thread).__name__}")


def event_id(value: object, *, argument: str = "last_event_id") -> str | None:
    """An event id to start after (sent as `Last-Event-ID`): printable ASCII, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not is_field_value(value):
        raise InputError(
            f"{argument} must be a string of printable ASCII without newlines (it is sent in a header)"
        )
    return value


def graph_name(value: object) -> str:
    """A non-empty graph name."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"graph_name must be a non-empty string, not {value!r}")
    return value.strip()


def json_value(value: Any, *, argument: str) -> Any:
    """Check that a value can be sent as JSON (no sets, objects, NaN or non-string keys)."""
    try:
        json.dumps(value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as error:
        raise InputError(f"{argument} cannot be sent as JSON: {error}") from None
    return value


def mapping(value: object, *, argument: str) -> dict[str, Any] | None:
    """An optional JSON object argument (config, metadata, filter, ...)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InputError(f"{argument} must be a dict, not {type(value).__name__}")
    return json_value(dict(value), argument=argument)  # type: ignore[no-any-return]


def node_selection(value: object, *, argument: str) -> str | list[str] | None:
    """`"*"` or a list of node names (interrupt_before / interrupt_after)."""
    if value is None:
        return None
    if value == "*":
        return "*"
    if isinstance(value, Sequence) and not isinstance(value, str) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(f'{argument} must be "*" or a list of node names, not {value!r}')


def positive_int(value: object, *, argument: str, allow_zero: bool = False) -> int:
    """A positive (or non-negative) integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        qualifier = "a non-negative" if allow_zero else "a positive"
        raise InputError(f"{argument} must be {qualifier} integer, not {value!r}")
    return value


def _positive_number(value: object, *, argument: str, unit: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InputError(f"{argument} must be a positive number of {unit}, not {value!r}")
    return float(value)


def seconds(value: object, *, argument: str) -> float | None:
    """An optional positive duration in seconds."""
    return _positive_number(value, argument=argument, unit="seconds")


def minutes(value: object, *, argument: str = "ttl") -> float | None:
    """An optional positive duration in minutes (a store item's `ttl`)."""
    return _positive_number(value, argument=argument, unit="minutes")


def text(value: object, *, argument: str) -> str | None:
    """An optional string (may be empty)."""
    if value is None or isinstance(value, str):
        return value
    raise InputError(f"{argument} must be a string, not {type(value).__name__}")


def assistant_id(value: object) -> str:
    return identifier(value, argument="assistant_id")


def cron_id(value: object) -> str:
    return identifier(value, argument="cron_id")


def end_time(value: object) -> str | None:
    """A cron's `end_time`: a datetime, or an ISO 8601 string, as an ISO 8601 string."""
    import datetime  # noqa: PLC0415 - only crons need it

    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InputError(f"end_time must be a datetime or an ISO 8601 date-time string, not {value!r}")


def store_index(value: object) -> bool | list[str] | None:
    """A store item's `index`: False (do not index), or the fields to index."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Sequence) and not isinstance(value, str) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(f"index must be False or a list of field names, not {value!r}")


def checkpoint_config(value: object, *, argument: str) -> dict[str, Any] | None:
    """A checkpoint (an id, or a config) as the config the server's checkpointer expects:
    `{"configurable": {...}}`."""
    if value is None:
        return None
    if isinstance(value, str):
        return {"configurable": {"checkpoint_id": identifier(value, argument=argument)}}
    config = mapping(value, argument=argument) or {}
    return config if "configurable" in config else {"configurable": config}


def namespace(value: object, *, argument: str = "namespace") -> list[str]:
    """A store namespace: a list of non-empty labels without dots."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InputError(f"{argument} must be a list of labels, e.g. ['users', 'profiles'], not {value!r}")
    labels = list(value)
    for label in labels:
        if not isinstance(label, str) or not label or "." in label:
            raise InputError(f"{argument}: each label must be a non-empty string without dots, not {label!r}")
    return labels


def choice(value: object, *, argument: str, choices: Sequence[str]) -> str | None:
    """An optional string among `choices`."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{argument} must be one of {_choices(choices)}, not {value!r}")
    return str(value)


def field_names(value: object, *, argument: str, choices: Sequence[str]) -> list[str] | None:
    """An optional list of field names among `choices` (e.g. `select`)."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InputError(f"{argument} must be a list of field names, not {value!r}")
    return [str(choice(item, argument=f"{argument}[]", choices=choices)) for item in value]


def flag(value: object, *, argument: str) -> bool | None:
    """An optional True/False."""
    if value is None or isinstance(value, bool):
        return value
    raise InputError(f"{argument} must be True or False, not {value!r}")


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body of the given fields, leaving out those that are None (unset)."""
    return {name: value for name, value in fields.items() if value is not None}
