"""The body decoder of the direct stream reader (lmsystems/_chunked.py) against h11, the reference.

Any split of a valid chunked body into reads gives the body h11 gives; every malformed body h11 refuses
is refused too; a body cut short is a truncation, never a silent end.
"""

from __future__ import annotations

from typing import Any

import h11
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmsystems._chunked import BodyDecoder, BodyProtocolError


def encode_chunked(pieces: list[bytes], *, extensions: bool = False, trailers: bool = False) -> bytes:
    out = bytearray()
    for index, piece in enumerate(pieces):
        size = f"{len(piece):x}".encode()
        if extensions and index % 2:
            size += b";name=value"
        out += size + b"\r\n" + piece + b"\r\n"
    out += b"0\r\n"
    if trailers:
        out += b"x-trailer: 1\r\n"
    out += b"\r\n"
    return bytes(out)


def h11_body(raw: bytes) -> bytes:
    """The body h11 reads from a chunked response whose body bytes are `raw`."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + raw)
    connection.receive_data(b"")
    body = bytearray()
    while True:
        event = connection.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
            raise AssertionError("h11 needs more data")


def decode(raw: bytes, cuts: list[int]) -> tuple[bytes, bool]:
    decoder = BodyDecoder("chunked")
    body = bytearray()
    start = 0
    for cut in [*sorted({c % (len(raw) + 1) for c in cuts}), len(raw)]:
        body += decoder.feed(raw[start:cut])
        start = cut
    return bytes(body), decoder.done


pieces = st.lists(st.binary(min_size=1, max_size=300), max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    pieces=pieces, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30), ext=st.booleans()
)
def test_any_split_gives_the_body_h11_gives(pieces: list[bytes], cuts: list[int], ext: bool) -> None:
    raw = encode_chunked(pieces, extensions=ext, trailers=ext)
    body, done = decode(raw, cuts)
    assert done
    assert body == h11_body(raw) == b"".join(pieces)


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=10), data=st.data())
def test_a_body_cut_short_is_a_truncation(pieces: list[bytes], data: st.DataObject) -> None:
    raw = encode_chunked(pieces)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    decoder = BodyDecoder("chunked")
    decoder.feed(raw[:cut])
    assert not decoder.done
    with pytest.raises(BodyProtocolError) as caught:
        decoder.end()
    assert caught.value.truncated
    assert "incomplete chunked read" in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"zz\r\nab\r\n0\r\n\r\n",  # not hex
        b"-2\r\nab\r\n0\r\n\r\n",  # a sign
        b"0x2\r\nab\r\n0\r\n\r\n",  # a prefix
        b"\r\nab\r\n0\r\n\r\n",  # empty size
        b"2\r\nabc\r\n0\r\n\r\n",  # data longer than its size
        b"2\r\nab0\r\n\r\n",  # no CRLF after the data
        b"11111111111111111\r\n",  # 17 hex digits
    ],
)
def test_malformed_chunked_bodies_are_refused_like_h11_refuses_them(raw: bytes) -> None:
    with pytest.raises(BodyProtocolError):
        decoder = BodyDecoder("chunked")
        decoder.feed(raw)
        decoder.end()
    with pytest.raises(h11.RemoteProtocolError):
        h11_body(raw)


def test_bytes_after_the_end_are_not_the_body() -> None:
    decoder = BodyDecoder("chunked")
    assert decoder.feed(b"2\r\nab\r\n0\r\n\r\nextra") == b"ab"
    assert decoder.done and decoder.feed(b"more") == b""
    decoder.end()


def test_a_size_line_split_anywhere_and_a_lone_cr_at_a_read_end() -> None:
    raw = encode_chunked([b"x" * 300, b"y" * 5])
    for cut in range(len(raw) + 1):
        assert decode(raw, [cut]) == (b"x" * 300 + b"y" * 5, True)


def test_sized_and_close_delimited_bodies() -> None:
    sized = BodyDecoder("length", length=5)
    assert sized.feed(b"ab") == b"ab" and not sized.done
    assert sized.feed(b"cde") == b"cde" and sized.done
    assert sized.feed(b"f") == b""
    assert BodyDecoder("length", length=1).feed(b"ab") == b"a"
    short = BodyDecoder("length", length=5)
    short.feed(b"abc")
    with pytest.raises(BodyProtocolError) as caught:
        short.end()
    assert caught.value.truncated and "2 bytes missing" in str(caught.value)
    assert BodyDecoder("length", length=0).done
    closing = BodyDecoder("close")
    assert closing.feed(b"anything") == b"anything"
    closing.end()
    assert closing.done
    with pytest.raises(ValueError):
        BodyDecoder("gzip")


# ------------------------------------------------------------------ the direct reader on real connections


def test_streams_of_the_real_server_are_read_below_httpx(
    agent_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the installed httpx and httpcore, the SDK's streams take the direct path (an httpx upgrade
    that changes the layout makes this fail, rather than silently fall back)."""
    import lmsystems._async._events as async_events
    import lmsystems._sync._events as sync_events
    from lmsystems import SyncLmsystemsClient
    from lmsystems._body import take_over

    taken: list[bool] = []

    def spy(response: httpx.Response) -> Any:
        raw = take_over(response)
        taken.append(raw is not None)
        return raw

    monkeypatch.setattr(sync_events, "take_over", spy)
    monkeypatch.setattr(async_events, "take_over", spy)
    with SyncLmsystemsClient(
        "custom_events", deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
    ) as client:
        thread = client.create_thread()
        parts = client.stream_run(thread, {"count": 500}, stream_mode=["custom"]).collect()
    assert [p.data["index"] for p in parts if p.event == "custom"] == list(range(500))
    assert taken and all(taken)


def test_a_custom_transport_falls_back_to_httpx() -> None:
    from lmsystems._body import take_over

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"data: 1\n\n")

    with (
        httpx.Client(transport=httpx.MockTransport(answer)) as client,
        client.stream("GET", "http://test/stream") as response,
    ):
        assert take_over(response) is None
        assert response.read() == b"data: 1\n\n"


def test_a_stream_read_to_its_end_leaves_its_connection_for_the_next_request(agent_server: Any) -> None:
    from lmsystems import SyncLmsystemsClient

    with SyncLmsystemsClient(
        "custom_events", deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
    ) as client:
        pool = client._core.http._client._transport._pool
        client.connect()
        seen = []
        for _ in range(3):
            parts = client.stream_run(None, {"count": 300}, stream_mode=["custom"]).collect()
            assert len(parts) == 301
            seen.append([id(connection) for connection in pool.connections])
        assert seen[0] == seen[1] == seen[2] and len(seen[0]) == 1, seen
        assert pool.connections[0].is_idle()
        assert client.threads.search(limit=1) is not None  # the kept connection answers the next request
        assert [id(connection) for connection in pool.connections] == seen[0]


def test_a_stream_left_early_closes_its_connection(agent_server: Any) -> None:
    from lmsystems import SyncLmsystemsClient

    with SyncLmsystemsClient(
        "custom_events", deployment_url=agent_server.url, deployment_key=agent_server.deployment_key
    ) as client:
        pool = client._core.http._client._transport._pool
        with client.stream_run(None, {"count": 3000}, stream_mode=["custom"]) as stream:
            for part in stream:
                if part.event == "custom":
                    break
        assert not [c for c in pool.connections if not c.is_closed()]


# ------------------------------------------------------------------ completion: h11 brought to the end


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=1, max_size=40), max_size=6),
    extensions=st.booleans(),
    trailers=st.booleans(),
    cut=st.floats(min_value=0, max_value=1),
)
def test_completion_ends_the_message_for_h11_wherever_the_body_was_cut(
    pieces: list[bytes], extensions: bool, trailers: bool, cut: float
) -> None:
    """What the connection's h11 had buffered, then `completion()`, is a whole message to h11 (through
    its public API only), ending exactly at the completion's last byte; None only inside a trailer."""
    raw = encode_chunked(pieces, extensions=extensions, trailers=trailers)
    head = raw[: int(len(raw) * cut)]
    decoder = BodyDecoder("chunked")
    decoder.feed(head)
    completion = decoder.completion()
    if completion is None:
        assert trailers and head.rfind(b"0\r\n") >= 0 and not head.endswith((b"0\r\n", b"\r\n\r"))
        return
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    connection.send(h11.EndOfMessage())
    connection.receive_data(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + head + completion)
    events = []
    while not isinstance(event := connection.next_event(), h11.EndOfMessage):
        assert event is not h11.NEED_DATA
        events.append(event)
    assert connection.their_state is h11.DONE
    assert connection.trailing_data == (b"", False)


def test_completion_refuses_a_huge_open_chunk_and_other_framings() -> None:
    decoder = BodyDecoder("chunked")
    decoder.feed(b"ffffff\r\nabc")
    assert decoder.completion() is None  # 16 MiB of filler: the connection is closed instead
    assert decoder.completion(max_filler=1 << 30) is not None
    assert BodyDecoder("length", length=3).completion() is None
    assert BodyDecoder("close").completion() is None


# ------------------------------------------------------------------ the switch and the fallback


def _stream_twice(url: str, key: str, sync: bool) -> list[tuple[str, Any]]:
    from lmsystems import LmsystemsClient, SyncLmsystemsClient

    if sync:
        with SyncLmsystemsClient("custom_events", deployment_url=url, deployment_key=key) as client:
            thread = client.create_thread()
            parts = client.stream_run(thread, {"count": 400}, stream_mode=["custom", "values"]).collect()
            parts += client.stream_run(None, {"count": 50}, stream_mode=["custom"]).collect()
    else:
        import asyncio

        async def main() -> list[Any]:
            async with LmsystemsClient("custom_events", deployment_url=url, deployment_key=key) as client:
                thread = await client.create_thread()
                parts = await client.stream_run(
                    thread, {"count": 400}, stream_mode=["custom", "values"]
                ).collect()
                return parts + await client.stream_run(None, {"count": 50}, stream_mode=["custom"]).collect()

        parts = asyncio.run(main())
    return [(part.event, part.data) for part in parts if part.event != "metadata"]


@pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])
def test_the_fallback_delivers_what_the_fast_path_delivers(
    agent_server: Any, monkeypatch: pytest.MonkeyPatch, sync: bool
) -> None:
    """LMSYSTEMS_FAST_STREAMS=0 reads every stream through httpx, with the very same parts."""
    import lmsystems._async._events as async_events
    import lmsystems._sync._events as sync_events
    from lmsystems._body import take_over

    taken: list[bool] = []

    def spy(response: httpx.Response) -> Any:
        raw = take_over(response)
        taken.append(raw is not None)
        return raw

    monkeypatch.setattr(sync_events, "take_over", spy)
    monkeypatch.setattr(async_events, "take_over", spy)
    fast = _stream_twice(agent_server.url, agent_server.deployment_key, sync)
    assert taken and all(taken)
    taken.clear()
    monkeypatch.setenv("LMSYSTEMS_FAST_STREAMS", "0")
    slow = _stream_twice(agent_server.url, agent_server.deployment_key, sync)
    assert taken and not any(taken)
    assert slow == fast
    assert [data["index"] for event, data in fast if event == "custom"] == [*range(400), *range(50)]


@pytest.mark.parametrize("value", ["0", "false", "No", " off "])
def test_the_switch_turns_the_fast_path_off(value: str) -> None:
    from lmsystems._body import fast_streams

    assert fast_streams({}) and fast_streams({"LMSYSTEMS_FAST_STREAMS": "1"})
    assert not fast_streams({"LMSYSTEMS_FAST_STREAMS": value})


def test_hand_back_of_a_body_h11_had_buffered_whole_keeps_the_connection_open() -> None:
    """A short stream arrives with its headers: h11 reaches the end from what it holds, and is not told
    the connection closed (an empty receive_data() would), so the next request can use it."""
    from lmsystems._body import RawBody, hand_back

    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
    connection.send(h11.EndOfMessage())
    body = encode_chunked([b"data: 1\r\n\r\n"])
    connection.receive_data(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + body)
    assert isinstance(connection.next_event(), h11.Response)
    decoder = BodyDecoder("chunked")
    first = decoder.feed(connection.trailing_data[0])
    raw = RawBody(None, decoder, first, False, None, connection, decoder.completion())
    assert raw.completion == b"" and hand_back(raw)
    assert connection.their_state is h11.DONE
    connection.start_next_cycle()
    assert connection.their_state is h11.IDLE and connection.trailing_data == (b"", False)
