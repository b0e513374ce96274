"""Fault injection: make the emulator misbehave on chosen routes, on purpose.

A :class:`FaultRegistry` holds *faults* (rules) and pending *job failures*. Every request of the
emulated API passes through :meth:`EmulatorApp.intercept <..app.EmulatorApp.intercept>`, which
asks :meth:`FaultRegistry.match <.registry.FaultRegistry.match>` for the faults to apply (the
single matching point; matching and count-down happen atomically under one lock) and acts on
them (:class:`.injection.FaultInjector`). Kinds (:mod:`.kinds`):

``error``
    answer an HTTP error (``status``, default 500) with the documented JSON shape
    ``{"code", "error", "message"}`` and an undocumented message (default ``Injected fault``);
    429 and 503 carry a ``Retry-After`` header (``retry_after``, default 1 second).
``html``
    answer a non-JSON ``text/html`` error page (``status``, default 502 ``Bad Gateway``).
``latency``
    wait ``latency`` seconds, then behave normally (latency faults add up with each other and
    with the one other fault that may fire on the same request).
``drop``
    close the connection before answering; the real handler does not run.
``drop-mid-response``
    run the real handler, then send the headers (with the full ``Content-Length``) and half of
    the body and close the connection; a response without a body is cut inside its status line.
``drop-mid-upload``
    read part of the request body (half of its ``Content-Length``, at most 1 MiB), then close the
    connection without an answer; the real handler does not run, so nothing is stored.
``expire-keys``
    expire every API key issued so far and answer ``Inactive_credential.``; only management
    routes other than ``/api-key`` are affected. ``key_lifetime`` optionally makes keys issued
    afterwards short-lived.
``corrupt-upload``
    ``PUT`` to an upload URL only: the real handler runs and answers normally, but the bytes it
    stores are altered (:func:`.injection.alter_stored_file`), so the ``ETag`` (the MD5 of what is stored)
    does not match what the client sent.
``fail-classifier``
    ``POST /classifiers`` only: the prediction API is created as usual but its build ends in
    ``failed`` instead of ``running``.

The last two are *handler faults*: :meth:`EmulatorApp.intercept` marks the request
(``request.handler_fault``) and lets the real handler apply them.

Control endpoints (``/_emulator/...``, :mod:`.control`) expose the same operations over HTTP when
the emulator was started with control enabled; :mod:`.validation` checks every fault and job
failure (for the Python API, the control endpoint and the CLI), :mod:`.specs` parses the CLI's.

Standard library only.
"""
