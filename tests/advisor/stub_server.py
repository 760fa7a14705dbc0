"""A local HTTP server speaking the two providers' APIs, for the SDK advisors' tests (no network but 127.0.0.1).

``POST /v1/messages`` answers like Anthropic's Messages API (version 2026-10-21: sampling parameters are refused
with HTTP 400, as the real API does) and ``POST /v1/chat/completions`` like OpenAI's Chat Completions. Each test
scripts what the next requests get (``script``): a reply text, an HTTP error (429 with ``retry-after: 0``, 500),
a delay longer than the client's timeout. Every request is recorded (path, headers, body) so a test can check
exactly what was sent. The SDKs' base URLs: Anthropic's client appends ``/v1/messages`` to ``url``; OpenAI's
appends ``/chat/completions`` to ``openai_base_url`` (``url`` + ``/v1``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANTHROPIC_PATH, OPENAI_PATH = "/v1/messages", "/v1/chat/completions"
SAMPLING = ("temperature", "top_p", "top_k")  # refused by Anthropic API version 2026-10-21


@dataclass(frozen=True)
class Reply:
    """A 200 answer whose assistant text is ``text`` (anything: valid JSON of the schema or not)."""

    text: str
    stop: str = ""  # the stop / finish reason; "" = the provider's normal end


@dataclass(frozen=True)
class Status:
    """An HTTP error answer (e.g. 429 with ``retry-after: 0``, or 500)."""

    code: int
    headers: dict[str, str] = field(default_factory=lambda: {"retry-after": "0"})


@dataclass(frozen=True)
class Delay:
    """Wait ``seconds`` (longer than the client's timeout), then answer ``then``."""

    seconds: float
    then: Reply | Status = Reply('{"text": "too late"}')


@dataclass(frozen=True)
class BrokenBody:
    """A 200 whose HTTP body is not JSON at all."""

    body: str = "<html>gateway hiccup</html>"


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON (None when not JSON)
    raw: str
    at: float


Behaviour = Reply | Status | Delay | BrokenBody


class StubServer:
    """A threaded HTTP server on 127.0.0.1 (port 0) with a scripted queue of behaviours and a request log."""

    def __init__(self) -> None:
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.requests: list[Recorded] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="stub-llm", daemon=True)

    @property
    def url(self) -> str:
        """The server's root (Anthropic's base URL)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        """OpenAI's base URL (the SDK appends ``/chat/completions``)."""
        return f"{self.url}/v1"

    def script(self, *behaviours: Behaviour) -> None:
        """What the next requests get, in order (after these: HTTP 500 with ``x-should-retry: false``)."""
        with self._lock:
            self._queue.extend(behaviours)

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else Status(500, {"x-should-retry": "false"})

    def record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(stub: StubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        server_stub = stub

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_stub: StubServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``requests`` instead."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode("utf-8")
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server_stub.record(Recorded(self.path, headers, body, raw, time.monotonic()))
        if self.path not in (ANTHROPIC_PATH, OPENAI_PATH):
            return self._send(404, _error(self.path, 404, f"no route {self.path}"))
        if not (headers.get("authorization") or headers.get("x-api-key")):
            return self._send(401, _error(self.path, 401, "no credentials"))
        if self.path == ANTHROPIC_PATH and isinstance(body, dict) and (sent := [p for p in SAMPLING if p in body]):
            return self._send(400, _error(self.path, 400, f"{sent[0]}: Extra inputs are not permitted"))
        self._behave(self.server_stub.next_behaviour(), body)

    def _behave(self, behaviour: Behaviour, body: Any) -> None:
        """Answer as scripted."""
        if isinstance(behaviour, Delay):
            if self.server_stub.stopping.wait(behaviour.seconds):
                return
            behaviour = behaviour.then
        if isinstance(behaviour, Status):
            return self._send(behaviour.code, _error(self.path, behaviour.code, "scripted error"), behaviour.headers)
        if isinstance(behaviour, BrokenBody):
            return self._send(200, behaviour.body)
        model = body.get("model", "stub") if isinstance(body, dict) else "stub"
        make = _anthropic_message if self.path == ANTHROPIC_PATH else _openai_completion
        self._send(200, json.dumps(make(model, behaviour)))

    def _send(self, code: int, text: str, headers: dict[str, str] | None = None) -> None:
        data = text.encode("utf-8")
        try:
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout)


def _anthropic_message(model: str, reply: Reply) -> dict[str, Any]:
    return {"id": "msg_stub", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": reply.text}], "stop_reason": reply.stop or "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": 100, "output_tokens": 20}}


def _openai_completion(model: str, reply: Reply) -> dict[str, Any]:
    return {"id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text, "refusal": None},
                         "finish_reason": reply.stop or "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}


def _error(path: str, code: int, message: str) -> str:
    """The provider's error body."""
    kind = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
            429: "rate_limit_error"}.get(code, "api_error")
    if path == ANTHROPIC_PATH:
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}})
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})
