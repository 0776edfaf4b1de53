"""The shared-token check: with ``API_TOKEN`` set, every request needs ``Bearer <token>``.

This is for local runs and simple deployments; in production the function is private and
Cloud Run's IAM checks the caller's identity token before the request reaches this code.
"""

from __future__ import annotations

import hmac

from werkzeug.wrappers import Request

from shared.errors import Unauthenticated


def authenticate(request: Request, token: str | None) -> None:
    """Raise :class:`Unauthenticated` unless no token is configured or the request bears it."""
    if token is None:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Unauthenticated("this API needs 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise Unauthenticated("the bearer token is not valid")
