"""Blocking work off the reactor thread, typed."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from twisted.internet import defer, threads

P = ParamSpec("P")
T = TypeVar("T")


def in_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> defer.Deferred[T]:
    """Run ``fn`` in Twisted's thread pool; await (or yield) the returned Deferred."""
    d: defer.Deferred[T] = threads.deferToThread(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
    return d
