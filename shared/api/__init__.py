"""The HTTP API of the slices function: routing, request parsing, auth, errors, OpenAPI.

:func:`shared.api.app.handle` takes the request functions-framework hands over and answers it;
everything it does per resource lives in :mod:`shared.services`.
"""
