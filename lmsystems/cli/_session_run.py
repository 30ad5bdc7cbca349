"""`lmsystems run --session`: a run and its resumptions over one thread session (event-streaming protocol)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._exceptions import InputError
from ._exit import ExitCode
from ._options import thread_given
from ._run import _NO_ANSWER, RunSession

if TYPE_CHECKING:
    from .._session_core import SessionInterrupt
    from .._sync._session import SyncThreadStream
    from .._types import Interrupt


class SessionRun(RunSession):
    """Like RunSession, but the run, each answer and each resumed run share one session's connection.

    Human output: the root graph's message tokens as they arrive, a line per node update (when the graph
    sends updates). `--json`: one line per protocol event (`method`, `namespace`, `data`).
    """

    def run(self, thread: str | None, payload: Any) -> ExitCode:
        if thread is not None:
            with thread_given(thread):
                self.client.get_thread(thread)
        with self.client.thread_stream(thread) as session:
            self.thread_id = session.thread_id
            if not self.out.json_mode:
                self.out.note(f"thread {self.thread_id} (session, {session.transport})")
            if payload is _NO_ANSWER:
                assert self.thread_id is not None
                pending = self.client.get_interrupts(self.thread_id)
                if not pending:
                    raise InputError(f"thread {self.thread_id} has no pending interrupt to answer")
                interrupts: list[Interrupt] = list(pending)
            else:
                self.run_id = session.start(payload)
                interrupts = self.follow_session(session)
            while interrupts:
                self.announce(interrupts)
                answer = self.answer()
                if answer is _NO_ANSWER:
                    self.leave_pending()
                    return ExitCode.INTERRUPT_PENDING
                interrupt_id = interrupts[0].get("id")
                if self.out.json_mode:
                    self.out.json(
                        {
                            "event": "lmsystems/resume",
                            "data": {
                                "thread_id": self.thread_id,
                                "value": answer,
                                "interrupt_id": interrupt_id,
                            },
                        }
                    )
                session.respond(answer, interrupt_id=interrupt_id)
                interrupts = self.follow_session(session)
        if self.out.json_mode:
            self.out.json(
                {"event": "lmsystems/done", "data": {"thread_id": self.thread_id, "run_id": self.run_id}}
            )
        return ExitCode.OK

    def follow_session(self, session: SyncThreadStream) -> list[Interrupt]:
        """Show the run's events as they arrive; raise RunError if it failed; return its interrupts."""
        spinner = self.out.spinner("waiting for the graph…")
        in_message = False
        try:
            for event in session:
                params = event["params"]
                data: Any = params.get("data")
                if self.out.json_mode:
                    self.out.json({"event": event["method"], "namespace": params["namespace"], "data": data})
                    continue
                if params["namespace"] or not isinstance(data, dict):
                    continue
                method, kind = event["method"], data.get("event")
                if method == "messages" and kind == "content-block-delta":
                    delta = data.get("delta")
                    if isinstance(delta, dict) and delta.get("type") == "text-delta":
                        spinner.stop()
                        self.out.out.print(str(delta.get("text", "")), end="", markup=False, highlight=False)
                        in_message = True
                elif method == "messages" and kind == "message-finish" and in_message:
                    self.out.out.print()
                    in_message = False
                elif method == "updates":
                    spinner.stop()
                    for node in data:
                        self.out.note(f"• {node}")
        finally:
            spinner.stop()
            if in_message:
                self.out.out.print()
        session.output()  # a failed run raises RunError here
        return [_as_interrupt(interrupt) for interrupt in session.interrupts]


def _as_interrupt(interrupt: SessionInterrupt) -> Interrupt:
    return {"id": interrupt.id, "value": interrupt.payload}
