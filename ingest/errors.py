"""The one error family of clausewise.

Every error the project raises on purpose is a :class:`ClausewiseError`. Each class carries
what its two translators need — ``status`` for the HTTP layer (``service.http.errors``) and
``exit_code`` for the command line (``ingest.console``) — and its message names the fix.
Nothing else is caught by name outside the module that raised it: the HTTP handler and the CLI
wrapper translate the whole family in one place.

Families (after Haystack 2's document-store errors: one base, specific subclasses):

- :class:`StoreError` — the index: missing, unreadable or built by another model, busy.
- :class:`IngestError` — a run or a file that cannot be ingested (:class:`LoadError` per file).
- :class:`ModelError` — the embedding model cannot be loaded.
- :class:`SettingsError` — a setting the service cannot start with.
- :class:`UploadRejected` — an upload the service refuses (a 4xx naming the file and why).
- :class:`RequestRejected` — any other request the service refuses.
- :class:`EvaluationError` — a question set or an evaluation that cannot run.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ingest.changes import IngestReport


class ExitCode(IntEnum):
    """Exit codes of every clausewise command and of the rebuild worker process."""

    OK = 0
    FAILED = 1  # the command ran, and what it was asked to do failed (e.g. a file with --strict)
    USAGE = 2  # bad input: no index, wrong model, a missing or empty file, a bad option
    BUSY = 3  # another process holds the index's write lock
    NOTHING_TO_DO = 4  # nothing to ingest in the folders given
    DIED = 5  # a worker process died without saying why (killed, out of memory)


class ClausewiseError(Exception):
    """Base of every error clausewise raises on purpose.

    ``status`` is the HTTP status it maps to, ``code`` the machine-readable ``error`` field of
    the JSON error body, ``exit_code`` what a command exits with. Subclasses set the defaults;
    a raise site may override ``status`` where the same failure means another status.
    """

    status: int = 500
    code: str = "error"
    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


# -- the index -------------------------------------------------------------------------


class StoreError(ClausewiseError):
    """Something is wrong with the index as a whole."""

    status = 503
    code = "index_unavailable"
    exit_code = ExitCode.USAGE


class IndexMissingError(StoreError):
    """No index where one was expected."""

    code = "index_missing"


class IndexIncompatibleError(StoreError):
    """An index this code cannot read, or one built with another model."""

    code = "index_incompatible"


class IndexBusyError(StoreError):
    """Another process is writing this index."""

    status = 409
    code = "index_busy"
    exit_code = ExitCode.BUSY


# -- ingestion -------------------------------------------------------------------------


class IngestError(ClausewiseError):
    """A run of ingestion that cannot proceed."""

    status = 400
    code = "ingest_failed"
    exit_code = ExitCode.USAGE


class NothingToIngest(IngestError):
    """No document could be ingested from the folders given; the current index (if any) is
    left as it was. ``report`` says, file by file, why."""

    code = "nothing_to_ingest"
    exit_code = ExitCode.NOTHING_TO_DO

    def __init__(self, message: str, *, report: IngestReport, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.report = report


class SourceNotFound(IngestError, FileNotFoundError):
    """A file or folder given to ingest does not exist (a ``FileNotFoundError`` too)."""

    code = "source_not_found"


class LoadError(IngestError):
    """One file cannot be read; the message says why in words a user can act on."""

    code = "unreadable_file"
    exit_code = ExitCode.FAILED


class ClusterError(ClausewiseError):
    """The Dask cluster of a distributed ingest cannot be reached or cannot do the work;
    nothing is published and no file is remembered as failed."""

    status = 503
    code = "cluster_unavailable"
    exit_code = ExitCode.FAILED


class ModelError(ClausewiseError):
    """The embedding model cannot be loaded (not installed, not found offline, not a model)."""

    status = 503
    code = "model_unavailable"
    exit_code = ExitCode.USAGE


class SettingsError(ClausewiseError):
    """A setting (``CLAUSEWISE_*`` variable or ``.env``) the service cannot start with, e.g. a
    key in both the read and the write list."""

    code = "invalid_settings"
    exit_code = ExitCode.USAGE


# -- requests --------------------------------------------------------------------------


class RequestRejected(ClausewiseError):
    """A request the service refuses: a 4xx with a message naming the fix."""

    status = 400
    code = "bad_request"
    exit_code = ExitCode.USAGE


class InvalidRequest(RequestRejected):
    """A request whose content breaks the contract (a blank or over-long question, a bad
    option). ``param`` names the field at fault and a raise site may narrow ``code``: they are
    the ``param`` and ``code`` of the OpenAI-shaped error body under ``/v1/``."""

    status = 422
    code = "invalid_request"

    def __init__(
        self, message: str, *, status: int | None = None, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.param = param
        if code is not None:
            self.code = code


class Conflict(RequestRejected):
    """A request that conflicts with the state of the corpus or the index (409)."""

    status = 409
    code = "conflict"


class UploadRejected(RequestRejected):
    """An upload the service refuses (too large, unsupported type, unsafe name, bad content).
    Its ``code`` follows the status a raise site gives, as the API has always named them."""

    _CODES: ClassVar[dict[int, str]] = {409: "conflict", 413: "too_large", 415: "unsupported_media_type"}

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.code = self._CODES.get(self.status, "bad_request")


class NotFound(RequestRejected):
    """A document, passage or job that does not exist."""

    status = 404
    code = "not_found"


class NotReady(RequestRejected):
    """The service cannot answer yet (index loading, or shutting down)."""

    status = 503
    code = "not_ready"


# -- evaluation ------------------------------------------------------------------------


class EvaluationError(ClausewiseError):
    """A question set or an evaluation run that cannot proceed."""

    status = 400
    code = "evaluation_failed"
    exit_code = ExitCode.USAGE


class QuestionSetError(EvaluationError):
    """A question file that cannot be read at all (missing, not UTF-8)."""


class EmptyQuestionSet(QuestionSetError):
    """A question file with no usable question."""
