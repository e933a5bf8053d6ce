"""`IndexedRouter`: exact paths found by one dict lookup instead of a scan.

Starlette's router tries every route's regular expression in turn; with two dozen routes
that scan was a measurable part of each request (py-spy on the live server). Most of the
Stytch paths have no parameters, so those are looked up by the exact path; a path with
parameters, a wrong method (405) or an unknown path (404) goes through Starlette's own
router, so every answer stays the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

__all__ = ["IndexedRouter"]


class IndexedRouter(Router):
    """A Starlette `Router` with a dict of the routes whose path has no parameters."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=list(routes), redirect_slashes=False)
        self.exact = {r.path: r for r in routes if isinstance(r, Route) and "{" not in r.path}

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.exact.get(scope["path"]) if scope["type"] == "http" else None
        if route is not None:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)
