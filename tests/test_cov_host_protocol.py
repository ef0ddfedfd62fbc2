"""The host's wire format and socket paths: framing limits, broken frames, typed errors.

Frames cross real socket pairs; nothing of preLLM is faked.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from pathlib import Path

import pytest

from prellm.errors import (
    ConfigError,
    PreLLMError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
)
from prellm.host import protocol
from prellm.host.paths import host_dir, secure_dir
from prellm.host.protocol import (
    MAX_FRAME,
    HostError,
    HostMismatch,
    error_frame,
    raise_error,
    recv,
    send,
)


@pytest.fixture
def pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    yield a, b
    a.close()
    b.close()


def _header(size: int) -> bytes:
    return struct.pack(">I", size)


# --- framing ---------------------------------------------------------------------------


def test_a_frame_round_trips_with_unicode(pair):
    a, b = pair
    send(a, {"op": "status", "text": "zażółć gęślą jaźń"})
    assert recv(b) == {"op": "status", "text": "zażółć gęślą jaźń"}


def test_a_clean_close_between_frames_reads_as_none(pair):
    a, b = pair
    a.close()
    assert recv(b) is None


def test_a_message_over_the_frame_limit_is_refused_before_sending(pair, monkeypatch):
    a, b = pair
    monkeypatch.setattr(protocol, "MAX_FRAME", 64)  # the limit, not the behaviour
    with pytest.raises(HostError, match="too large"):
        send(a, {"messages": "x" * 100})
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(1)  # nothing at all went out


def test_an_announced_frame_over_the_limit_is_refused_unread(pair):
    a, b = pair
    a.sendall(_header(MAX_FRAME + 1))
    with pytest.raises(HostError, match=f"too large \\({MAX_FRAME + 1} bytes\\)"):
        recv(b)


def test_a_connection_closed_inside_the_header_is_an_error(pair):
    a, b = pair
    a.sendall(b"\x00\x00")
    a.close()
    with pytest.raises(HostError, match="in the middle of a message"):
        recv(b)


def test_a_connection_closed_before_the_body_is_an_error(pair):
    a, b = pair
    a.sendall(_header(10))
    a.close()
    with pytest.raises(HostError, match="in the middle of a message"):
        recv(b)


def test_a_connection_closed_inside_the_body_is_an_error(pair):
    a, b = pair
    a.sendall(_header(10) + b'{"op"')
    a.close()
    with pytest.raises(HostError, match="in the middle of a message"):
        recv(b)


def test_a_frame_that_is_not_json_raises_a_value_error(pair):
    a, b = pair
    a.sendall(_header(9) + b"{not json")
    with pytest.raises(ValueError):
        recv(b)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null"])
def test_a_frame_that_is_not_an_object_is_malformed(pair, body):
    a, b = pair
    a.sendall(_header(len(body)) + body)
    with pytest.raises(HostError, match="malformed host message"):
        recv(b)


def test_peer_uid_is_this_user(pair):
    a, _ = pair
    assert protocol.peer_uid(a) == os.getuid()


# --- errors across the socket ------------------------------------------------------------


def _across(exc: BaseException, model: str = "test/echo") -> PreLLMError:
    """``exc`` as the client sees it: through a JSON error frame."""
    frame = json.loads(json.dumps(error_frame(exc)))
    with pytest.raises(PreLLMError) as info:
        raise_error(frame, model)
    return info.value


def test_a_provider_error_keeps_its_model_cause_and_status():
    err = _across(ProviderError("local/m", "out of memory", status_code=503))
    assert type(err) is ProviderError
    assert (err.model, err.cause, err.status_code) == ("local/m", "out of memory", 503)


def test_a_timeout_stays_a_timeout():
    err = _across(ProviderTimeoutError("local/m", "timed out", status_code=504))
    assert isinstance(err, ProviderTimeoutError) and err.status_code == 504


def test_other_provider_errors_arrive_as_provider_errors():
    err = _across(RateLimitError("local/m", "slow down", status_code=429))
    assert type(err) is ProviderError and err.cause == "slow down" and err.status_code == 429


def test_a_config_error_and_its_subclasses_stay_config_errors():
    class BadModelPath(ConfigError):
        pass

    frame = error_frame(BadModelPath("GGUF file not found: /x.gguf"))
    assert frame["error"]["type"] == "ConfigError"
    err = _across(BadModelPath("GGUF file not found: /x.gguf"))
    assert type(err) is ConfigError and err.exit_code == 2 and "not found" in str(err)


def test_a_host_mismatch_stays_a_mismatch():
    err = _across(HostMismatch("host 1.0+abc is another preLLM build"))
    assert isinstance(err, HostMismatch) and "another preLLM build" in str(err)


def test_an_unexpected_exception_is_internal_and_reaches_the_client_as_a_provider_error():
    frame = error_frame(KeyError("choices"))
    assert frame == {"error": {"type": "internal", "message": "'choices'"}}
    err = _across(KeyError("choices"), model="local/m")
    assert type(err) is ProviderError and err.model == "local/m" and "choices" in err.cause


def test_other_prellm_errors_keep_their_name_in_the_frame():
    frame = error_frame(HostError("unknown host operation 'x'"))
    assert frame["error"]["type"] == "HostError"
    err = _across(HostError("unknown host operation 'x'"))
    assert type(err) is ProviderError and "unknown host operation" in str(err)


def test_a_long_message_is_cut_to_one_bounded_frame():
    frame = error_frame(RuntimeError("x" * 10_000))
    assert len(frame["error"]["message"]) == 2000


def test_an_empty_error_frame_still_raises_a_provider_error():
    with pytest.raises(ProviderError, match="the host failed"):
        raise_error({"error": None}, "test/echo")


def test_identity_follows_the_runtime_settings(monkeypatch):
    monkeypatch.delenv("PRELLM_LOCAL_CTX", raising=False)
    plain = protocol.identity()
    assert plain == protocol.identity()  # stable
    monkeypatch.setenv("PRELLM_LOCAL_CTX", "4096")
    assert protocol.identity() != plain
    from prellm import __version__

    assert plain.startswith(f"{__version__}+")


# --- where the socket lives ---------------------------------------------------------------


def test_host_dir_prefers_the_data_dir_then_the_runtime_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PRELLM_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert host_dir() == tmp_path / "d" / "host"
    monkeypatch.delenv("PRELLM_DATA_DIR")
    assert host_dir() == tmp_path / "run" / "prellm"


def test_host_dir_falls_back_to_the_data_home_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("PRELLM_DATA_DIR")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert host_dir() == tmp_path / "share" / "prellm" / "host"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert host_dir() == Path(tmp_path / "home" / ".local" / "share" / "prellm" / "host")


def test_a_symlinked_host_dir_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(ConfigError, match="is not a directory") as info:
        secure_dir(link)
    assert info.value.exit_code == 2
