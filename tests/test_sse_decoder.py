"""Tests for the sans-I/O SSE decoder in ``lmsystems._sse`` (no network)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsystems._sse import (
    DEFAULT_MAX_EVENT_BYTES,
    ServerSentEvent,
    SSEDecodeError,
    SSEDecoder,
    SSEEventTooLargeError,
    SSEInvalidUTF8Error,
    SSETruncatedError,
)

BOM = b"\xef\xbb\xbf"


def decode_all(*chunks: bytes, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> list[ServerSentEvent]:
    decoder = SSEDecoder(max_event_bytes=max_event_bytes)
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    assert decoder.end() == []
    return events


def ev(data: str, event: str = "message", id: str | None = None, retry: int | None = None) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


# --- reference decoder: a literal transcription of the WHATWG rules, on the whole decoded string ---------


@dataclass
class Reference:
    events: list[ServerSentEvent] = field(default_factory=list)
    last_event_id: str | None = None
    retry: int | None = None
    comments: int = 0
    truncated: bool = False


def reference_decode(raw: bytes) -> Reference:
    ref = Reference()
    text = raw.decode("utf-8")  # strict, like the decoder
    text = text.removeprefix("\ufeff")
    *lines, rest = re.split(r"\r\n|\r|\n", text)
    event_type = ""
    data = ""
    retry: int | None = None
    in_event = False
    for line in lines:
        if line == "":
            if data:
                ref.events.append(ev(data[:-1], event_type or "message", ref.last_event_id, retry))
            event_type, data, retry, in_event = "", "", None, False
            continue
        if line.startswith(":"):
            ref.comments += 1
            continue
        in_event = True
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id":
            if "\0" not in value:
                ref.last_event_id = value or None
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = ref.retry = int(value)
    ref.truncated = bool(rest) or in_event
    return ref


def run_decoder(chunks: list[bytes]) -> Reference:
    decoder = SSEDecoder()
    got = Reference()
    for chunk in chunks:
        got.events.extend(decoder.feed(chunk))
    got.last_event_id = decoder.last_event_id
    got.retry = decoder.retry
    got.comments = decoder.comments_seen
    got.truncated = decoder.pending
    try:
        assert decoder.end() == []
    except SSETruncatedError:
        assert got.truncated
    else:
        assert not got.truncated
    return got


# --- line endings -------------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_line_endings(eol: bytes) -> None:
    stream = eol.join([b"event: a", b"data: 1", b"", b"data: 2", b"data: 3", b"", b""])
    assert decode_all(stream) == [ev("1", "a"), ev("2\n3")]


def test_mixed_line_endings() -> None:
    assert decode_all(b"data: 1\rdata: 2\ndata: 3\r\n\r\ndata: 4\n\r") == [ev("1\n2\n3"), ev("4")]


def test_crlf_split_across_chunks_is_one_line_ending() -> None:
    # If the CR and LF were two endings, "a" would be dispatched alone before "b".
    assert decode_all(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == [ev("a\nb")]
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == [ev("a")]  # a blank line; the next chunk may still bring its LF
    assert decoder.feed(b"\n") == []
    assert not decoder.pending
    assert decoder.end() == []


def test_cr_then_cr_is_two_line_endings() -> None:
    assert decode_all(b"data: a\r", b"\r") == [ev("a")]


def test_byte_at_a_time() -> None:
    stream = b"event: e\r\ndata: x\r\nid: 7\r\nretry: 10\r\n\r\n: c\r\n\r\ndata: y\r\n\r\n"
    assert decode_all(*(bytes([b]) for b in stream)) == [ev("x", "e", "7", 10), ev("y", id="7")]


# --- fields -------------------------------------------------------------------------------------------


def test_multi_line_and_empty_data() -> None:
    assert decode_all(b"data: a\ndata:\ndata: b\n\n") == [ev("a\n\nb")]
    assert decode_all(b"data:\n\n") == [ev("")]
    assert decode_all(b"data\n\n") == [ev("")]  # no colon: the whole line is the field name


def test_no_data_is_not_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: values\n\nid: 3\nretry: 5\n\n") == []
    # The event type was reset by the blank line; the id persists; retry is stream-wide only.
    assert decoder.feed(b"data: x\n\n") == [ev("x", id="3")]
    assert decoder.last_event_id == "3"
    assert decoder.retry == 5


def test_event_name_default_and_empty() -> None:
    assert decode_all(b"event:\ndata: x\n\n") == [ev("x")]
    assert decode_all(b"event: a\nevent: b\ndata: x\n\ndata: y\n\n") == [ev("x", "b"), ev("y")]


def test_single_space_stripped_only() -> None:
    assert decode_all(b"data:x\n\n") == [ev("x")]
    assert decode_all(b"data:  x \n\n") == [ev(" x ")]
    assert decode_all(b"event:  e\ndata: x\n\n") == [ev("x", " e")]
    assert decode_all(b"data: a:b: c\n\n") == [ev("a:b: c")]


def test_field_without_colon_has_empty_value() -> None:
    assert decode_all(b"data: x\nevent\n\n") == [ev("x")]
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\nid\ndata: b\n\n") == [ev("a", id="1"), ev("b")]
    assert decoder.last_event_id is None


def test_unknown_fields_ignored() -> None:
    assert decode_all(b"foo: bar\ndata: x\nData: y\n\n") == [ev("x")]


def test_id_persistence_and_reset() -> None:
    decoder = SSEDecoder(last_event_id="0")
    assert decoder.last_event_id == "0"
    events = decoder.feed(b"data: a\n\nid: 1\ndata: b\n\ndata: c\n\nid:\ndata: d\n\ndata: e\nid: 2\n\n")
    assert events == [ev("a", id="0"), ev("b", id="1"), ev("c", id="1"), ev("d"), ev("e", id="2")]
    assert decoder.last_event_id == "2"
    decoder.feed(b"id:\n\n")
    assert decoder.last_event_id is None


def test_id_with_nul_is_ignored() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\n\nid: 2\x003\ndata: x\n\n") == [ev("x", id="1")]
    assert decoder.last_event_id == "1"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"retry: 3000", 3000),
        (b"retry:0", 0),
        (b"retry: 12a", None),
        (b"retry: -1", None),
        (b"retry:  5", None),
        (b"retry: 1.5", None),
        (b"retry:", None),
        ("retry: \u0663".encode(), None),  # ARABIC-INDIC DIGIT THREE is not an ASCII digit
        (b"retry: " + b"9" * 5000, None),
    ],
)
def test_retry(line: bytes, expected: int | None) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(line + b"\ndata: x\n\n") == [ev("x", retry=expected)]
    assert decoder.retry == expected
    assert decoder.feed(b"data: y\n\n") == [ev("y")]  # retry belongs to one block
    assert decoder.retry == expected  # ... but the reconnection time persists


# --- comments, BOM ------------------------------------------------------------------------------------


def test_comments() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b": heartbeat\n\n:\n:x\ndata: a\n: mid-event\ndata: b\n\n") == [ev("a\nb")]
    assert decoder.comments_seen == 4
    assert decoder.feed(b": heartbeat\r\n\r\n") == []
    assert decoder.comments_seen == 5
    assert not decoder.pending
    assert decoder.end() == []


def test_comment_does_not_start_an_event() -> None:
    decoder = SSEDecoder()
    decoder.feed(b": heartbeat\n")
    assert not decoder.pending
    assert decoder.end() == []


def test_bom_skipped_once() -> None:
    stream = BOM + b"data: x\n\n" + BOM + b"data: y\n\n"
    assert decode_all(stream) == [ev("x")]  # the second BOM makes the field name unknown
    assert decode_all(b"data: x\n\n" + BOM + b"data: y\n\n") == [ev("x")]
    assert decode_all(BOM + BOM + b"data: y\n\n") == []


@pytest.mark.parametrize("split", range(1, 6))
def test_bom_split_across_chunks(split: int) -> None:
    stream = BOM + b"data: x\n\n"
    assert decode_all(stream[:split], stream[split:]) == [ev("x")]
    assert decode_all(*(bytes([b]) for b in stream)) == [ev("x")]
    assert decode_all(b"", stream[:split], b"", stream[split:]) == [ev("x")]


def test_bom_prefix_only_is_truncated() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(BOM[:2]) == []
    assert decoder.pending
    with pytest.raises(SSETruncatedError):
        decoder.end()


def test_partial_bom_lookalike_is_invalid_utf8() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"\xef")
    with pytest.raises(SSEInvalidUTF8Error):
        decoder.feed(b"data: x\n\n")


# --- UTF-8 --------------------------------------------------------------------------------------------


def test_multibyte_character_split_at_every_offset() -> None:
    text = 'event: é\r\ndata: {"t": "héllo €𝄞 世界"}\r\nid: ☃\r\n\r\n'
    stream = text.encode()
    expected = [ev('{"t": "héllo €𝄞 世界"}', "é", "☃")]
    for i in range(len(stream) + 1):
        assert decode_all(stream[:i], stream[i:]) == expected, i
    for i in range(len(stream)):
        for j in range(i, min(i + 5, len(stream)) + 1):
            assert decode_all(stream[:i], stream[i:j], stream[j:]) == expected, (i, j)


@pytest.mark.parametrize(
    "stream",
    [
        b"data: \xff\n\n",
        b"data: ok\ndata: \xe2\x82\n\n",  # truncated 3-byte sequence
        b"data: \xc0\xaf\n\n",  # overlong encoding
        b"data: \xed\xa0\x80\n\n",  # UTF-16 surrogate
        b"event: \xfe\ndata: x\n\n",
        b"id: \x80\ndata: x\n\n",
        b": \xff heartbeat\n\n",
        b"f\xf6o: bar\n\n",
        b"retry: \xff\n\n",
    ],
)
def test_invalid_utf8_raises(stream: bytes) -> None:
    decoder = SSEDecoder()
    with pytest.raises(SSEInvalidUTF8Error, match="invalid UTF-8") as info:
        decoder.feed(stream)
    assert isinstance(info.value, SSEDecodeError)
    assert isinstance(info.value, ValueError)


def test_invalid_utf8_split_character_at_line_end() -> None:
    # "\xe2\x82" + LF + "\xac": each line is invalid even though the bytes would form "€" without the LF.
    with pytest.raises(SSEInvalidUTF8Error):
        decode_all(b"data: \xe2\x82\ndata: \xac\n\n")


def test_error_keeps_earlier_events_and_is_sticky() -> None:
    decoder = SSEDecoder()
    with pytest.raises(SSEInvalidUTF8Error) as info:
        decoder.feed(b"data: a\n\ndata: b\n\ndata: \xff\n\ndata: c\n\n")
    assert info.value.events == [ev("a"), ev("b")]
    with pytest.raises(SSEInvalidUTF8Error) as again:
        decoder.feed(b"data: d\n\n")
    assert again.value is info.value
    with pytest.raises(SSEInvalidUTF8Error):
        decoder.end()


# --- size limit ---------------------------------------------------------------------------------------


def test_event_too_large_across_lines() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    assert decoder.feed(b"data: " + b"x" * 49 + b"\n") == []
    with pytest.raises(
        SSEEventTooLargeError, match=r"event .* 101 bytes buffered, limit is 100 bytes"
    ) as info:
        decoder.feed(b"data: " + b"y" * 50 + b"\n")
    assert (info.value.size, info.value.limit) == (101, 100)
    with pytest.raises(SSEEventTooLargeError):
        decoder.feed(b"\n")


def test_event_at_limit_is_fine() -> None:
    # data bytes plus one per line (the joining newlines) are counted
    assert decode_all(b"data: " + b"x" * 49 + b"\ndata: " + b"y" * 49 + b"\n\n", max_event_bytes=100) == [
        ev("x" * 49 + "\n" + "y" * 49)
    ]
    # the size is per event, and a line may be as long as the limit (here "data: " + 10 bytes)
    assert decode_all(
        b"data: " + b"x" * 10 + b"\n\n" + b"data: " + b"y" * 10 + b"\n\n", max_event_bytes=16
    ) == [
        ev("x" * 10),
        ev("y" * 10),
    ]


def test_unterminated_line_too_large() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    for _ in range(9):
        assert decoder.feed(b"x" * 100) == []
    with pytest.raises(SSEEventTooLargeError, match="line is larger than max_event_bytes: 1100 bytes"):
        decoder.feed(b"x" * 200)


def test_complete_line_too_large_in_one_chunk() -> None:
    decoder = SSEDecoder(max_event_bytes=1000)
    with pytest.raises(SSEEventTooLargeError, match="line"):
        decoder.feed(b": " + b"c" * 2000 + b"\n\n")


def test_partial_line_counts_toward_event_size() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    decoder.feed(b"data: " + b"x" * 60 + b"\n")
    with pytest.raises(SSEEventTooLargeError, match="event"):
        decoder.feed(b"data: " + b"y" * 50)


def test_invalid_limit() -> None:
    with pytest.raises(ValueError, match="max_event_bytes"):
        SSEDecoder(max_event_bytes=0)


# --- end of stream ------------------------------------------------------------------------------------


def test_end_clean() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n\n") == [ev("x")]
    assert not decoder.pending
    assert decoder.end() == []


@pytest.mark.parametrize(
    "stream",
    [
        b"data: x\n",  # data without the blank line: never dispatched (spec), reported as truncated
        b"data: x\r",
        b"data: x",  # unterminated line
        b"data: x\n\ndata: y",
        b"event: values\n",  # any field line since the last blank line starts an event
        b"id: 5\n",
        b": heartbeat",  # unterminated comment line
    ],
)
def test_end_truncated(stream: bytes) -> None:
    decoder = SSEDecoder()
    decoder.feed(stream)
    assert decoder.pending
    with pytest.raises(SSETruncatedError, match="ended inside") as info:
        decoder.end()
    assert isinstance(info.value, SSEDecodeError)


def test_end_truncated_reports_buffered_bytes() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: abc\ndata: de")
    with pytest.raises(SSETruncatedError, match="unterminated line") as info:
        decoder.end()
    assert info.value.buffered_bytes == 4 + 8  # "abc" + newline, then the partial line


def test_end_resets_for_a_reconnected_stream() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 4\nretry: 100\ndata: a\n\ndata: partial")
    with pytest.raises(SSETruncatedError):
        decoder.end()
    assert not decoder.pending
    assert decoder.last_event_id == "4"
    assert decoder.retry == 100
    assert decoder.feed(BOM + b"data: b\n\n") == [ev("b", id="4")]  # a new stream may start with a BOM
    assert decoder.end() == []


def test_pending() -> None:
    decoder = SSEDecoder()
    assert not decoder.pending
    decoder.feed(b"da")
    assert decoder.pending
    decoder.feed(b"ta: x\n")
    assert decoder.pending
    decoder.feed(b"\n")
    assert not decoder.pending


def test_accepts_bytearray_and_memoryview() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(bytearray(b"data: a\n\n")) == [ev("a")]
    assert decoder.feed(memoryview(b"data: b\n\n")) == [ev("b")]


# --- a real wire sample -------------------------------------------------------------------------------


def test_langgraph_server_wire_sample() -> None:
    run_id = "1f0b2c3d-4e5f-6789-abcd-ef0123456789"
    stream = (
        f'event: metadata\r\ndata: {{"run_id": "{run_id}", "attempt": 1}}\r\nid: 1\r\n\r\n'
        ": heartbeat\r\n\r\n"
        'event: values\r\ndata: {"messages": [{"type": "human", "content": "héllo"}]}\r\nid: 2\r\n\r\n'
        'event: updates\r\ndata: {"agent": {"messages": []}}\r\n\r\n'
        "event: end\r\ndata: null\r\n\r\n"
    ).encode()
    expected = [
        ev(f'{{"run_id": "{run_id}", "attempt": 1}}', "metadata", "1"),
        ev('{"messages": [{"type": "human", "content": "héllo"}]}', "values", "2"),
        ev('{"agent": {"messages": []}}', "updates", "2"),
        ev("null", "end", "2"),
    ]
    assert decode_all(stream) == expected
    for size in (1, 2, 3, 7, 16, 64):
        assert decode_all(*(stream[i : i + size] for i in range(0, len(stream), size))) == expected
    decoder = SSEDecoder()
    decoder.feed(stream)
    assert decoder.comments_seen == 1
    assert decoder.last_event_id == "2"


# --- property: any chunking == one piece == reference decoder -----------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_eol = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def _lines(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["event", "comment", "junk", "blank"]))
    if kind == "blank":
        return [""]
    if kind == "comment":
        return [":" + draw(_text)]
    if kind == "junk":  # odd but valid lines: no colon, extra spaces, unknown names, bad retry, NUL in id
        name = draw(st.sampled_from(["data", "event", "id", "retry", "foo", "Data", "retry:x", "id:\0", ""]))
        return [name + draw(st.sampled_from(["", ":", ": ", ":  "])) + draw(_text)]
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append("event:" + draw(st.sampled_from(["", " "])) + draw(_text))
    if draw(st.booleans()):
        lines.append("id: " + draw(_text))
    if draw(st.booleans()):
        lines.append("retry: " + str(draw(st.integers(0, 10**6))))
    for value in draw(st.lists(_text, max_size=4)):
        lines.append(draw(st.sampled_from(["data:", "data: "])) + value)
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), ": heartbeat")
    return [*lines, ""]


@st.composite
def _streams(draw: st.DrawFn) -> bytes:
    lines = [line for group in draw(st.lists(_lines(), max_size=12)) for line in group]
    fixed = draw(st.one_of(st.none(), _eol))
    text = "".join(line + (fixed or draw(_eol)) for line in lines)
    raw = (BOM if draw(st.booleans()) else b"") + text.encode()
    if draw(st.integers(0, 4)) == 0:  # sometimes cut the stream anywhere
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


def _chunk(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    return [raw[a:b] for a, b in pairwise(points)]


@settings(max_examples=200, deadline=None)
@given(raw=_streams(), cuts=st.lists(st.integers(0, 10**6), max_size=30))
def test_any_chunking_matches_reference(raw: bytes, cuts: list[int]) -> None:
    try:
        expected = reference_decode(raw)
    except UnicodeDecodeError:  # a cut inside a character: the decoder must agree at EOF
        expected = None
    pieces = _chunk(raw, cuts)
    if expected is None:
        decoder = SSEDecoder()
        with pytest.raises(SSEDecodeError):
            for piece in pieces:
                decoder.feed(piece)
            decoder.end()
        return
    assert run_decoder([raw]) == expected
    assert run_decoder(pieces) == expected
    assert run_decoder([raw[i : i + 1] for i in range(len(raw))]) == expected


@settings(max_examples=100, deadline=None)
@given(raw=_streams(), cut=st.integers(0, 10**6))
def test_split_anywhere_in_two(raw: bytes, cut: int) -> None:
    try:
        expected = reference_decode(raw)
    except UnicodeDecodeError:
        return
    cut %= len(raw) + 1
    assert run_decoder([raw[:cut], raw[cut:]]) == expected
