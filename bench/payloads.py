"""Realistic event payloads, shaped like what the Agent Server sends (captured from `langgraph dev`).

* `messages`: a `messages/partial` event: a JSON list holding one AIMessageChunk dict (~316 bytes).
* `updates`: an `updates` event: `{node: {"messages": [AIMessage with a tool call and usage]}}` (~1.9 KB).

Each kind has `VARIANTS` distinct payloads (the token text changes), cycled through a stream.
"""

from __future__ import annotations

import json

ASSISTANT_ID = "6f1f2a3e-8c1d-5b7e-9a0f-3c2d1e4b5a69"
GRAPH_ID = "bench"
VARIANTS = 64
MESSAGES_TARGET = 316
UPDATES_TARGET = 1900

_WORDS = (
    "Sure, here is a short summary of the quarterly report you shared with me: revenue grew twelve "
    "percent year over year, driven mostly by the enterprise segment, while operating costs stayed flat "
    "and the gross margin improved by two points; the outlook for the next quarter remains cautious "
    "because of currency effects and a slower pipeline in two of the regions we discussed before. "
) * 4


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _fit(build: object, target: int) -> str:
    """Grow the content until the JSON text is as close to `target` bytes as the words allow."""
    assert callable(build)
    best = build(0)
    for n in range(0, len(_WORDS)):
        text = build(n)
        if len(text.encode()) > target:
            break
        best = text
    return best


def messages_payload(i: int) -> str:
    run = f"lc_run--01a20a70-dc50-70bd-a10c-{0x5847F7E3AED6 + i:012x}"

    def build(n: int) -> str:
        return _dumps(
            [
                {
                    "content": f"[{i}] " + _WORDS[:n],
                    "additional_kwargs": {},
                    "response_metadata": {},
                    "type": "AIMessageChunk",
                    "name": None,
                    "id": run,
                    "tool_calls": [],
                    "invalid_tool_calls": [],
                    "usage_metadata": None,
                    "tool_call_chunks": [],
                }
            ]
        )

    return _fit(build, MESSAGES_TARGET)


def updates_payload(i: int) -> str:
    def build(n: int) -> str:
        return _dumps(
            {
                "agent": {
                    "messages": [
                        {
                            "content": f"[{i}] " + _WORDS[:n],
                            "additional_kwargs": {
                                "refusal": None,
                                "tool_calls": [
                                    {
                                        "id": f"call_{i:08d}Xq4bVn2Lr8",
                                        "function": {
                                            "arguments": '{"query":"quarterly revenue by region","limit":10}',
                                            "name": "search_reports",
                                        },
                                        "type": "function",
                                    }
                                ],
                            },
                            "response_metadata": {
                                "token_usage": {
                                    "completion_tokens": 211,
                                    "prompt_tokens": 1893,
                                    "total_tokens": 2104,
                                    "completion_tokens_details": {"reasoning_tokens": 0},
                                    "prompt_tokens_details": {"cached_tokens": 1024},
                                },
                                "model_name": "gpt-4o-2024-08-06",
                                "system_fingerprint": "fp_a7d06e42a7",
                                "finish_reason": "tool_calls",
                                "logprobs": None,
                            },
                            "type": "ai",
                            "name": None,
                            "id": f"run-0f3c9a7e-1b2d-4e5f-8a9b-{i:012d}-0",
                            "example": False,
                            "tool_calls": [
                                {
                                    "name": "search_reports",
                                    "args": {"query": "quarterly revenue by region", "limit": 10},
                                    "id": f"call_{i:08d}Xq4bVn2Lr8",
                                    "type": "tool_call",
                                }
                            ],
                            "invalid_tool_calls": [],
                            "usage_metadata": {
                                "input_tokens": 1893,
                                "output_tokens": 211,
                                "total_tokens": 2104,
                                "input_token_details": {"cache_read": 1024},
                                "output_token_details": {"reasoning": 0},
                            },
                        }
                    ]
                }
            }
        )

    return _fit(build, UPDATES_TARGET)


def payloads(kind: str) -> tuple[str, list[str]]:
    """(event name, VARIANTS data strings) for `messages` or `updates`."""
    if kind == "messages":
        return "messages/partial", [messages_payload(i) for i in range(VARIANTS)]
    if kind == "updates":
        return "updates", [updates_payload(i) for i in range(VARIANTS)]
    raise ValueError(f"unknown event kind {kind!r}")


if __name__ == "__main__":
    for kind in ("messages", "updates"):
        name, items = payloads(kind)
        sizes = sorted(len(p.encode()) for p in items)
        print(kind, name, "bytes min/median/max:", sizes[0], sizes[len(sizes) // 2], sizes[-1])
        json.loads(items[0])
