"""The request boundary: every request is one transaction, committed after its view returns and rolled back on any
exception (as Indico's request handler does). Views and the domain never commit; a view that shows a refusal
itself calls `models.transaction.abandon()` (forms.attempt and errors.json_errors do).

Adding a write endpoint then takes no more than the view: load what it acts on (access.get_visible), call the
domain function, return the answer. Its writes are committed with the answer, or not at all.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request

from models import transaction

#: A function the boundary calls with the view's response just before committing (once.settle_submission).
BeforeCommit = Callable[[Response], Response]


class App(Flask):
    """Flask with the request boundary. `before_commit(f)` adds a hook run in the view's transaction."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.before_commit_funcs: list[BeforeCommit] = []
        self.before_request(lambda: transaction.begin_request(request.method))
        self.teardown_request(lambda _exc: transaction.end_request())

    def before_commit(self, hook: BeforeCommit) -> BeforeCommit:
        self.before_commit_funcs.append(hook)
        return hook

    def dispatch_request(self) -> Response:
        with transaction.unit():
            response = self.make_response(super().dispatch_request())
            for hook in self.before_commit_funcs:
                response = hook(response)
        return response

    def handle_user_exception(self, e: Exception):
        """An exception from a hook before the view, the view or the commit: nothing it wrote is kept. The
        handlers (blueprints/errors.py) then answer from a clean session."""
        transaction.abandon()
        return super().handle_user_exception(e)

    def handle_exception(self, e: Exception) -> Response:
        transaction.abandon()
        return super().handle_exception(e)
