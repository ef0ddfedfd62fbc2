"""``prellm host status|stop``: the background model host (see ``prellm.host``)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from .main import cli


@cli.group()
def host() -> None:
    """The background model host: keeps the embedded model loaded between prellm calls.

    \b
    The first call that needs the embedded model starts it; it exits after
    PRELLM_HOST_IDLE_S seconds (default 600) without a request. PRELLM_NO_HOST=1
    turns it off.
    """


def _describe(st: dict[str, Any], current: str) -> list[str]:
    rss = st.get("rss_bytes")
    lines = [
        f"host pid {st.get('pid')} · preLLM {st.get('identity')}"
        + ("" if st.get("identity") == current else " (another build: the next call replaces it)"),
        f"up {st.get('uptime_s', 0):.0f} s · idle {st.get('idle_s', 0):.0f} s of "
        f"{st.get('idle_timeout_s', 0):.0f} s · {st.get('requests', 0)} requests"
        + (f" · RSS {rss / 2**20:.0f} MiB" if rss else ""),
    ]
    lines += [f"model {m}" for m in st.get("models") or []] or ["no model loaded yet"]
    return lines


@host.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def host_status(as_json: bool) -> None:
    """Is a host running, what does it hold (exit 1 when none runs)."""
    from ..host.client import HostClient

    client = HostClient()
    st = client.status()
    if as_json:
        click.echo(
            json.dumps(
                {"running": st is not None, "socket_dir": str(client.directory), **(st or {})},
                indent=2,
            )
        )
    elif st is None:
        click.echo(f"no model host running ({client.directory})")
    else:
        for line in _describe(st, client.identity):
            click.echo(line)
    if st is None:
        raise SystemExit(1)


@host.command("stop")
def host_stop() -> None:
    """Stop the running host (the next call that needs it starts a new one)."""
    from ..host.client import HostClient

    t0 = time.monotonic()
    pid = HostClient().stop()
    if pid is None:
        click.echo("no model host running")
    else:
        click.echo(f"stopped model host pid {pid} ({(time.monotonic() - t0) * 1000:.0f} ms)")
