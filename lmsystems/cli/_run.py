"""`lmsystems run`: stream a run live, and answer its interrupts (asking the person, or from --resume)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from .. import _validation as check
from .._exceptions import InputError, LmsystemsError
from .._types import Interrupt, StreamPart
from ._events import HumanRenderer
from ._exit import EXIT_CODES_HELP, ExitCode, exit_code_for
from ._options import (
    ApiKeyOption,
    BaseUrlOption,
    Connection,
    DeploymentKeyOption,
    DeploymentUrlOption,
    JsonOption,
    read_answer,
    read_json_argument,
    thread_given,
)
from ._output import Output, compact

if TYPE_CHECKING:
    from .._arguments import StreamModeName
    from .._sync._stream import SyncRunStream
    from .._sync_client import SyncLmsystemsClient

DEFAULT_STREAM_MODES = ("messages-tuple", "updates")
#: Modes whose parts announce an interrupt (`__interrupt__`); without them, the thread is asked.
_MODES_WITH_INTERRUPTS = frozenset({"values", "updates"})
_NO_ANSWER = object()

RUN_HELP = "\n\n".join(
    [
        "Run GRAPH and stream it live: chat tokens as they arrive, a line per node as it completes.",
        "When the run stops at an interrupt, its question is shown and you are asked for the answer (JSON "
        "when it parses, else text); the run then resumes, as often as the graph asks. --resume answers "
        "without asking. Without a terminal (and without --resume) the interrupt is left pending: exit "
        "code 3, and the thread id to answer it later with `lmsystems run GRAPH --thread ID --resume VALUE`.",
        EXIT_CODES_HELP,
    ]
)


def run_command(
    graph: Annotated[
        str,
        typer.Argument(
            metavar="GRAPH",
            help="The graph: its marketplace name (with --deployment-url: a graph id or assistant id).",
            show_default=False,
        ),
    ],
    input_text: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            metavar="JSON|@FILE",
            help="The run's input as JSON, or @FILE holding JSON (@- reads standard input).",
            show_default=False,
        ),
    ] = None,
    thread: Annotated[
        str | None,
        typer.Option(
            "--thread",
            "-t",
            metavar="ID",
            help="Run on this thread (default: a new one). With --resume and no --input: answer the "
            "thread's pending interrupt.",
            show_default=False,
        ),
    ] = None,
    stream_mode: Annotated[
        list[str] | None,
        typer.Option(
            "--stream-mode",
            "-m",
            metavar="MODE",
            help="What to stream (repeat it for several): values, messages, messages-tuple, updates, "
            "custom, events, debug, tasks, checkpoints. Default: messages-tuple and updates.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        list[str] | None,
        typer.Option(
            "--resume",
            "-r",
            metavar="VALUE",
            help="Answer an interrupt with VALUE (JSON when it parses, else text) without asking. "
            "Repeat it to answer several interrupts in turn.",
            show_default=False,
        ),
    ] = None,
    no_prompt: Annotated[
        bool, typer.Option("--no-prompt", help="Never ask: leave an unanswered interrupt pending (exit 3).")
    ] = False,
    use_session: Annotated[
        bool,
        typer.Option(
            "--session",
            help="Use a thread session (the event-streaming protocol): the run and each resumed run on one "
            "connection; --json prints the protocol's events. Not with --stream-mode.",
        ),
    ] = False,
    json_output: JsonOption = False,
    api_key: ApiKeyOption = None,
    base_url: BaseUrlOption = None,
    deployment_url: DeploymentUrlOption = None,
    deployment_key: DeploymentKeyOption = None,
) -> None:
    out = Output(json_mode=json_output)
    answers = [read_answer(value) for value in resume or ()]
    payload: Any = _NO_ANSWER
    if input_text is not None:
        payload = read_json_argument(input_text, option="--input")
    elif not answers:
        raise InputError(
            "give the run's input with --input JSON (or @FILE); "
            "to answer a pending interrupt instead: --thread ID --resume VALUE"
        )
    elif thread is None:
        raise InputError(
            "--resume without --input answers a pending interrupt: name its thread with --thread"
        )
    # Everything that can be checked is checked before a thread is created.
    if use_session and stream_mode:
        raise InputError("--session streams every event of the protocol: leave out --stream-mode")
    modes = check.stream_modes(list(stream_mode or DEFAULT_STREAM_MODES), argument="--stream-mode")
    if payload is not _NO_ANSWER:
        check.json_value(payload, argument="--input")
    if thread is not None:
        check.thread_id(thread, argument="--thread")
    connection = Connection(api_key, base_url, deployment_url, deployment_key)
    session: RunSession | None = None
    try:
        with connection.client(graph) as client:
            runner: type[RunSession] = RunSession
            if use_session:
                from ._session_run import SessionRun  # it subclasses RunSession

                runner = SessionRun
            session = runner(
                client,
                graph,
                out,
                modes=modes,
                answers=answers,
                interactive=not no_prompt and typer.get_text_stream("stdin").isatty(),
            )
            code = session.run(thread, payload)
    except LmsystemsError as error:
        if json_output:
            out.json(
                {
                    "event": "lmsystems/error",
                    "data": {
                        "type": type(error).__name__,
                        "message": str(error),
                        "exit_code": int(exit_code_for(error)),
                        "request_id": error.request_id,
                        "thread_id": session.thread_id if session else thread,
                    },
                }
            )
        raise
    except KeyboardInterrupt:
        thread_id = session.thread_id if session else None
        if session is not None and session.asking:
            session.prompt_console.print()  # end the `answer>` line
            out.note(
                f"the run waits on the interrupt (thread {thread_id}); answer it later with:\n"
                f"  {session.resume_command()}",
                style="yellow",
            )
        elif thread_id:
            out.note(f"stopped following the run; it goes on on the server (thread {thread_id})")
        raise typer.Exit(ExitCode.CANCELLED) from None
    if code != ExitCode.OK:
        raise typer.Exit(code)


class RunSession:
    """One `lmsystems run`: the run, then each resumption, on one thread."""

    def __init__(
        self,
        client: SyncLmsystemsClient,
        graph: str,
        out: Output,
        *,
        modes: list[StreamModeName],
        answers: list[Any],
        interactive: bool,
    ) -> None:
        self.client = client
        self.graph = graph
        self.out = out
        self.modes = modes
        self.answers = answers
        self.interactive = interactive
        self.thread_id: str | None = None
        self.run_id: str | None = None
        #: True while the person is asked for an answer (the run waits on its interrupt meanwhile).
        self.asking = False
        self.renderer = HumanRenderer(out)

    def run(self, thread: str | None, payload: Any) -> ExitCode:
        if thread is not None:
            with thread_given(thread):  # a thread id that does not exist is bad input (exit code 2)
                self.client.get_thread(thread)
        thread_id = thread if thread is not None else str(self.client.create_thread()["thread_id"])
        self.thread_id = thread_id
        if not self.out.json_mode:
            self.out.note(f"thread {thread_id}")
        if payload is _NO_ANSWER:
            interrupts = self.client.get_interrupts(thread_id)
            if not interrupts:
                raise InputError(f"thread {thread_id} has no pending interrupt to answer")
        else:
            interrupts = self.follow(self.client.stream_run(thread_id, payload, stream_mode=self.modes))
        while interrupts:
            self.announce(interrupts)
            answer = self.answer()
            if answer is _NO_ANSWER:
                self.leave_pending()
                return ExitCode.INTERRUPT_PENDING
            interrupt_id = interrupts[0].get("id") if len(interrupts) > 1 else None
            if self.out.json_mode:
                self.out.json(
                    {
                        "event": "lmsystems/resume",
                        "data": {"thread_id": thread_id, "value": answer, "interrupt_id": interrupt_id},
                    }
                )
            stream = self.client.resume(thread_id, answer, interrupt_id=interrupt_id, stream_mode=self.modes)
            interrupts = self.follow(stream)
        if self.out.json_mode:
            self.out.json(
                {"event": "lmsystems/done", "data": {"thread_id": thread_id, "run_id": self.run_id}}
            )
        return ExitCode.OK

    def follow(self, stream: SyncRunStream) -> list[Interrupt]:
        """Show the stream's parts as they arrive; return the interrupts the run stopped at."""
        spinner = self.out.spinner("waiting for the graph…")
        try:
            with stream:
                for part in stream:
                    self.run_id = stream.run_id or self.run_id
                    if self.out.json_mode:
                        self.out.json(_part_json(part))
                    else:
                        if not HumanRenderer.silent(part):
                            spinner.stop()  # before writing: a spinner would overwrite the line
                        self.renderer.show(part)
        finally:
            spinner.stop()
            self.renderer.end_line()
        interrupts = list(stream.interrupts)
        if not interrupts and not _MODES_WITH_INTERRUPTS.intersection(self.modes):
            assert self.thread_id is not None
            interrupts = self.client.get_interrupts(self.thread_id)
        return interrupts

    def announce(self, interrupts: Sequence[Interrupt]) -> None:
        """Say that the run waits: a JSON line, and the question for the person who may answer it."""
        if self.out.json_mode:
            self.out.json(
                {
                    "event": "lmsystems/interrupt",
                    "data": {
                        "thread_id": self.thread_id,
                        "run_id": self.run_id,
                        "interrupts": list(interrupts),
                        "resume": self.resume_command(),
                    },
                }
            )
            if not self.interactive or self.answers:
                return
        consoles = [self.out.err if self.out.json_mode else self.out.out]
        if self.interactive and not self.answers and self.prompt_console is not consoles[0]:
            consoles.append(self.prompt_console)  # stdout goes elsewhere: ask where the person looks
        for console in consoles:
            self._show_question(console, interrupts)

    @property
    def prompt_console(self) -> Console:
        """Where to ask: stdout when it is the terminal (and not --json), else stderr."""
        return self.out.out if self.out.tty and not self.out.json_mode else self.out.err

    @staticmethod
    def _show_question(console: Console, interrupts: Sequence[Interrupt]) -> None:
        for interrupt in interrupts[:1]:
            question, details = split_question(interrupt.get("value"))
            console.print(Text(f"? {question}", style="bold yellow"))
            for key, value in details.items():
                console.print(Text(f"  {key}: {compact(value)}", style="dim"))
        if len(interrupts) > 1:
            console.print(Text(f"  ({len(interrupts)} interrupts wait; this answers the first)", style="dim"))

    def answer(self) -> Any:
        """The next --resume value, else the person's answer, else _NO_ANSWER."""
        if self.answers:
            answer = self.answers.pop(0)
            if not self.out.json_mode:
                self.out.note(f"answering with {compact(answer)}")
            return answer
        if not self.interactive:
            return _NO_ANSWER
        console = self.prompt_console
        self.asking = True
        while True:
            try:
                text = console.input(Text("answer> ", style="bold"))
            except EOFError:
                console.print()
                self.asking = False
                return _NO_ANSWER
            if text.strip():
                self.asking = False
                return read_answer(text.strip())

    def resume_command(self) -> str:
        return f"lmsystems run {shlex.quote(self.graph)} --thread {self.thread_id} --resume VALUE"

    def leave_pending(self) -> None:
        if not self.out.json_mode:
            self.out.note(
                f"the run waits for an answer on thread {self.thread_id}; answer it with:\n"
                f"  {self.resume_command()}",
                style="yellow",
            )


def split_question(value: Any) -> tuple[str, dict[str, Any]]:
    """An interrupt's value as a question and details: a string, a mapping's `question`, else compact."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping) and isinstance(value.get("question"), str):
        return value["question"], {k: v for k, v in value.items() if k != "question"}
    return compact(value, 200), {}


def _part_json(part: StreamPart) -> dict[str, Any]:
    line: dict[str, Any] = {"event": part.event, "data": part.data}
    if part.id is not None:
        line["id"] = part.id
    return line
