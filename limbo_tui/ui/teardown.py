"""Callbacks that may still run while the app tears its widgets down.

When the app shuts down, Textual removes the screen's widgets first and stops the app's
own timers and message queue last, so the age tick, a worker poll or a feed state can
still arrive and find no StatusHeader or tree: query_one raises NoMatches, and anything
that reads the current screen (refresh_bindings, notify) raises ScreenStackError once the
screen stack is empty; either would escape to whoever runs the app. There is nothing
left to show then, so such a callback just stops. While the app runs, a missing widget
is a real bug and still raises.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from textual.app import App, ScreenStackError
from textual.css.query import NoMatches

P = ParamSpec("P")
R = TypeVar("R")
Owner = TypeVar("Owner", bound=App[Any])


def quiet_in_teardown(
    method: Callable[Concatenate[Owner, P], R],
) -> Callable[Concatenate[Owner, P], R | None]:
    """Decorate an App method that touches widgets from a timer, a message or a feed."""

    def guarded(self: Owner, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
        try:
            return method(self, *args, **kwargs)
        except (NoMatches, ScreenStackError):
            if self.is_running:
                raise
            return None

    # Not @functools.wraps: its typed result would hide the signature kept here.
    functools.update_wrapper(guarded, method)
    return guarded
