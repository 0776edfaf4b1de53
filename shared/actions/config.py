"""Checking an action's config against its type: a 400 names each bad ``config.<field>``.

Shape first (the type's pydantic model); then what the shape cannot say: a webhook URL must pass
the webhook rules (https, an allowed host, no private address literal; see ``webhooks``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError

from shared.actions import webhooks
from shared.actions.models import CONFIG_MODELS, ActionConfig, WebhookConfig
from shared.models import ActionType
from shared.services.problems import invalid, invalid_fields


def parse_config(kind: ActionType, raw: Mapping[str, Any]) -> ActionConfig:
    """The typed config of an action of this type, or a 400 naming the bad fields."""
    try:
        return CONFIG_MODELS[kind].model_validate(dict(raw))
    except ValidationError as bad:
        raise invalid_fields(
            [
                {
                    "field": ".".join(["config", *(str(p) for p in e["loc"])]),
                    "description": str(e["msg"]).removeprefix("Value error, "),
                }
                for e in bad.errors()
            ]
        ) from None


def check_config(
    kind: ActionType, raw: Mapping[str, Any], *, allowed_hosts: Collection[str]
) -> ActionConfig:
    """:func:`parse_config`, and for a webhook the URL rules that need no DNS."""
    config = parse_config(kind, raw)
    if isinstance(config, WebhookConfig):
        try:
            webhooks.parse_target(config.url, allowed_hosts)
        except webhooks.WebhookRefused as refused:
            raise invalid("config.url", refused.message) from None
    return config
