"""Problems found in a module definition, reported as ``FILE:LINE: severity: message (hint)``."""

from __future__ import annotations

from dataclasses import dataclass


class ModuleError(Exception):
    """An error a user can act on: it names where, what is wrong and what to do."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.hint = hint

    def as_problem(self) -> Problem:
        return Problem(self.source, self.line, self.message, self.hint)

    def __str__(self) -> str:
        return self.as_problem().format()


@dataclass(frozen=True, order=True)
class Problem:
    """One finding. ``line`` is 1-based; when unknown, ``field`` names the place instead."""

    source: str
    line: int | None
    message: str
    hint: str = ""
    field: str = ""
    severity: str = "error"

    def format(self) -> str:
        where = self.source or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: {self.severity}: "
        if self.field and self.line is None:
            text += f"{self.field}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    @property
    def is_error(self) -> bool:
        return self.severity == "error"
