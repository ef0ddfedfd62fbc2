"""A tiny OpenAI-compatible server on 127.0.0.1 that records what it receives.

It stands in for a remote provider: tests point litellm (``openai/<name>`` with
``api_base``) at it and assert on the exact request bodies. Threaded, so
concurrent calls really run concurrently; speaks SSE when ``stream`` is set.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# responder(body) -> reply text, {"content": ..., "tool_calls": [{"name", "arguments"}]} to
# call tools, or (status, error_message) to fail
Responder = Callable[[dict[str, Any]], "str | dict[str, Any] | tuple[int, str]"]


def tool_agent(body: dict[str, Any]) -> str | dict[str, Any]:
    """A responder that behaves like a tool-calling model: offered tools and given a user
    turn, it calls the first tool; given tool results, it answers with them."""
    last = body["messages"][-1]
    if last["role"] == "tool":
        return f"The tool said: {last['content']}"
    tools = body.get("tools") or []
    if not tools:
        return "no tools offered"
    calls = [{"name": t["function"]["name"], "arguments": {"city": "Paris"}} for t in tools]
    return {"content": None, "tool_calls": calls if body.get("parallel_tool_calls") else calls[:1]}


def _calls(reply: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
        }
        for i, c in enumerate(reply.get("tool_calls") or [])
    ]


class RecordingServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.responder: Responder = lambda body: "recorded answer"
        self.usage = {"prompt_tokens": 11, "completion_tokens": 7}
        self.chunk_delay = 0.0
        # When set, a stream pauses after its first chunk until the client calls release():
        # a client that buffered the whole stream would never see that chunk in time.
        self.hold_after_first_chunk = False
        self.released = threading.Event()
        self.hold_timed_out = False
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}"
                )
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                try:
                    reply = server.responder(body)
                except Exception as exc:  # surfaced to the client as a 500, and to the test
                    reply = (500, f"responder failed: {exc}")
                if isinstance(reply, dict) and body.get("stream"):
                    self._stream_calls(body, reply)
                elif isinstance(reply, tuple):
                    status, message = reply
                    self._send(
                        status,
                        {"error": {"message": message, "type": "test_error", "code": status}},
                    )
                elif self.path.endswith("/embeddings"):
                    self._send(200, server.embeddings(body))
                elif self.path.endswith("/completions") and "/chat/" not in self.path:
                    self._send(200, server.text_completion(body, reply))
                elif body.get("stream"):
                    self._stream(body, reply)
                else:
                    self._send(200, server.completion(body, reply))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {
                    "id": "chatcmpl-rec",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model"),
                }
                words = text.split(" ")
                for i, w in enumerate(words):
                    delta = {"content": w if i == 0 else " " + w}
                    if i == 0:
                        delta["role"] = "assistant"
                    self._event(
                        {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                    )
                    if i == 0 and server.hold_after_first_chunk and not server.released.wait(10):
                        server.hold_timed_out = True
                    time.sleep(server.chunk_delay)
                self._event(
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                )
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event({**base, "choices": [], "usage": server.usage_dict()})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _stream_calls(self, body: dict[str, Any], reply: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {
                    "id": "chatcmpl-rec",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": body.get("model"),
                }
                for i, call in enumerate(_calls(reply)):
                    args = call["function"]["arguments"]
                    head = {
                        "index": i,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["function"]["name"], "arguments": ""},
                    }
                    for piece in (
                        head,
                        {"index": i, "function": {"arguments": args[: len(args) // 2]}},
                        {"index": i, "function": {"arguments": args[len(args) // 2 :]}},
                    ):
                        delta = {"tool_calls": [piece]}
                        self._event(
                            {
                                **base,
                                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                            }
                        )
                self._event(
                    {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
                )
                if (body.get("stream_options") or {}).get("include_usage"):
                    self._event({**base, "choices": [], "usage": server.usage_dict()})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def usage_dict(self) -> dict[str, int]:
        return {
            **self.usage,
            "total_tokens": self.usage["prompt_tokens"] + self.usage["completion_tokens"],
        }

    def completion(self, body: dict[str, Any], text: str | dict[str, Any]) -> dict[str, Any]:
        n = int(body.get("n") or 1)
        if isinstance(text, dict):
            message = {
                "role": "assistant",
                "content": text.get("content"),
                "tool_calls": _calls(text),
            }
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": text}, "stop"
        choices = []
        for i in range(n):
            choice: dict[str, Any] = {
                "index": i,
                "message": message
                if i == 0
                else {**message, "content": f"{message['content']} ({i + 1})"},
                "finish_reason": finish,
            }
            if body.get("logprobs"):
                choice["logprobs"] = {
                    "content": [
                        {"token": "recorded", "logprob": -0.25, "bytes": None, "top_logprobs": []}
                    ]
                }
            choices.append(choice)
        return {
            "id": "chatcmpl-rec",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": choices,
            "usage": self.usage_dict(),
        }

    def embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return {
            "object": "list",
            "model": body.get("model"),
            "data": [
                {"object": "embedding", "index": i, "embedding": [float(len(str(t))), 0.5, -0.25]}
                for i, t in enumerate(inputs)
            ],
            "usage": {
                "prompt_tokens": self.usage["prompt_tokens"],
                "total_tokens": self.usage["prompt_tokens"],
            },
        }

    def text_completion(self, body: dict[str, Any], text: Any) -> dict[str, Any]:
        return {
            "id": "cmpl-rec",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "text": str(text), "finish_reason": "stop", "logprobs": None}],
            "usage": self.usage_dict(),
        }

    def start(self) -> RecordingServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
