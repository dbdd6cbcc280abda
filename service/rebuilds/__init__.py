"""Rebuild jobs: one at a time, in a child process, switched in atomically when they succeed.

- :mod:`~service.rebuilds.model` — the job and its progress (also the HTTP response schema).
- :mod:`~service.rebuilds.store` — job files in ``<index>/.jobs/``, recovery after a crash.
- :mod:`~service.rebuilds.supervisor` — the queue, the runner thread and the standby child.
- :mod:`~service.rebuilds.protocol` — the typed line messages between server and child.
- :mod:`~service.rebuilds.child` — a child process as the supervisor sees it; the real spawn.
- :mod:`~service.rebuilds.worker` — the child itself: ``python -m service.rebuilds.worker``.
- :mod:`~service.rebuilds.watch` — switching to a build published by anyone.
"""
