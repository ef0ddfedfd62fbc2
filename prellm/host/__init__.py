"""The background model host: the embedded model loaded once, served to CLI calls.

The first ``prellm`` CLI call that needs a ``local/`` model starts a host process
(detached, like Ollama's keep-alive) that loads the GGUF once and answers chat
completions over a Unix socket in a directory only this user can open
(``$XDG_RUNTIME_DIR/prellm``, or ``<data dir>/host`` when ``PRELLM_DATA_DIR`` is
set or there is no runtime dir). Later calls reach it; it exits after
``PRELLM_HOST_IDLE_S`` seconds (default 600) without a request. A host of another
preLLM build, or holding another file under the same model path, is replaced;
a socket nobody listens on (the host died) is removed and a new host started.
``PRELLM_NO_HOST=1`` turns it off: the CLI loads the model in its own process.

The library and ``prellm serve`` never use it: they are long-lived processes that
keep the model loaded themselves.

    client.HostClient     the CLI side: start, reuse, replace, call
    server.HostServer     the host process (python -m prellm.host)
    protocol              length-prefixed JSON frames, the errors that cross them
    paths                 where the socket lives, and its permission checks
"""
