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

# responder(body) -> reply text, or (status, error_message) to fail
Responder = Callable[[dict[str, Any]], "str | tuple[int, str]"]


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
                if isinstance(reply, tuple):
                    status, message = reply
                    self._send(
                        status,
                        {"error": {"message": message, "type": "test_error", "code": status}},
                    )
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

    def completion(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-rec",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": self.usage_dict(),
        }

    def start(self) -> RecordingServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
