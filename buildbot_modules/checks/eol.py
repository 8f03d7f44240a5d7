"""``modules.eol``: a stream past its end of life is not promoted."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from ._tools import BuiltinCheck, Log, ToolError, composed_stream
from .base import FAILED, PASSED, CheckContext, CheckResult

WARN_DAYS = 30
"""How many days before its end of life a stream's result carries a warning."""


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def servicelevel_eol(stream: Any) -> tuple[datetime.date, str] | None:
    """The end of life the modulemd's servicelevels give, and where it came from: the
    ``rawhide`` servicelevel's EOL when it has one, else the earliest EOL of any."""
    found: dict[str, datetime.date] = {}
    for name in stream.get_servicelevel_names():
        text = stream.get_servicelevel(name).get_eol_as_string()
        if text:
            try:
                found[name] = datetime.date.fromisoformat(text)
            except ValueError:
                raise ToolError(f"servicelevels.{name}.eol: {text!r} is not a date") from None
    if "rawhide" in found:
        return found["rawhide"], "servicelevel rawhide"
    if found:
        name = min(found, key=lambda n: (found[n], n))
        return found[name], f"servicelevel {name} (the earliest)"
    return None


class EolCheck(BuiltinCheck):
    """The stream's end of life: ``ctx.eol`` (the registry's value) when set, else the
    composed modulemd's servicelevels (``rawhide``, else the earliest EOL given).

    On or after the EOL date the stream is at its end of life: FAILED, so it is not
    promoted. No EOL anywhere: PASSED, "no end of life set". An EOL less than
    ``warn_days`` days away (default 30): PASSED, the note warning of it. Dates are UTC.

    Settings: ``warn_days``.
    """

    name = "modules.eol"
    summary = "the stream is not past its end of life"

    def __init__(self, today: Callable[[], datetime.date] = _today) -> None:
        self._today = today

    def check(self, ctx: CheckContext, log: Log) -> CheckResult:
        warn_days = ctx.config.get("warn_days", WARN_DAYS)
        if isinstance(warn_days, bool) or not isinstance(warn_days, int) or warn_days < 0:
            raise ToolError(f"warn_days: {warn_days!r} is not a number of days")
        try:
            levels = servicelevel_eol(composed_stream(ctx))
        except ToolError as e:
            if ctx.eol is None:
                raise
            log.add(f"modulemd: {e} (the registry's end of life decides)")
            levels = None
        if levels is not None:
            log.add(f"modulemd: end of life {levels[0].isoformat()} from {levels[1]}")
        if ctx.eol is not None:
            log.add(f"registry: end of life {ctx.eol.isoformat()}")
            eol, source = ctx.eol, "registry"
        elif levels is not None:
            eol, source = levels[0], f"modulemd {levels[1]}"
        else:
            return CheckResult(PASSED, "no end of life set", log.text)
        today = self._today()
        days = (eol - today).days
        log.add(f"today {today.isoformat()}: {days} days to the end of life ({source})")
        stream = f"{ctx.name}:{ctx.stream}"
        if days <= 0:
            note = f"{stream} reached its end of life on {eol.isoformat()} ({source})"
            return CheckResult(FAILED, note, log.text)
        if days <= warn_days:
            note = f"warning: {stream} reaches its end of life in {days} days, on {eol.isoformat()}"
            return CheckResult(PASSED, f"{note} ({source})", log.text)
        return CheckResult(PASSED, f"end of life {eol.isoformat()} ({source})", log.text)
