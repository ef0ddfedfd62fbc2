"""The least a Python proxy can do, for bench_proxy.py: read the body, POST it upstream, return the answer.

Raw ASGI and one shared httpx client: no framework, no litellm, no preprocessing,
no accounting. Its added latency is the floor for any Python proxy on this machine.

UPSTREAM=http://127.0.0.1:18001/v1/chat/completions uvicorn benchmarks.floor_forwarder:app
"""

import os

import httpx

UPSTREAM = os.environ["UPSTREAM"]
_client: httpx.AsyncClient | None = None


async def app(scope, receive, send):
    global _client
    if scope["type"] != "http":
        return
    if _client is None:
        _client = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=100))
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    r = await _client.post(UPSTREAM, content=body, headers={"content-type": "application/json"})
    await send(
        {
            "type": "http.response.start",
            "status": r.status_code,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": r.content})
