"""Why a sales command is refused, in domain terms; the HTTP shell maps each kind to a status once.

A refused command appends nothing: deciders raise before any event exists, and the shell's
transaction rolls back on any of these.
"""

from __future__ import annotations


class CommandRefused(Exception):
    """Base of refusals; ``code`` is machine-readable, the message says what is wrong."""

    status = 400
    code = "refused"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidCommand(CommandRefused):
    """The command can never succeed as written (unknown stage, loss reason or staff member): 422."""

    status = 422
    code = "invalid_command"


class WrongVersion(CommandRefused):
    """The caller decided against a version of the stream that is no longer current: 409."""

    status = 409
    code = "wrong_expected_version"


class IllegalTransition(CommandRefused):
    """The command does not apply to the current state (moving a lost deal, completing a done task): 409."""

    status = 409
    code = "illegal_transition"


class NotFound(CommandRefused):
    """No such deal or task, or one outside the caller's rows (the same answer for both): 404."""

    status = 404
    code = "not_found"


class OutOfScope(CommandRefused):
    """The caller may not give work to that staff member (outside their own rows): 403."""

    status = 403
    code = "out_of_scope"
