"""Fixtures of the notifications tests: private URLs allowed, sends inline, real receivers."""

from __future__ import annotations

import pytest

from tests.notifications.receiver import Receiver


@pytest.fixture(autouse=True)
def _notifications_settings(settings):
    settings.NOTIFICATIONS_EAGER_IN_THREAD = False  # run the after-commit work inline and in order
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0


@pytest.fixture
def receiver_factory():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        receiver = Receiver(**kwargs)
        made.append(receiver)
        return receiver

    yield make
    for receiver in made:
        receiver.close()


def endpoint_for(receiver: Receiver, *, tenant_id: str | None, event_types=("*",)):
    """Return an endpoint pointing at `receiver`, whose secret the receiver learns."""
    from notifications.services.endpoints import webhook_endpoint_create

    endpoint = webhook_endpoint_create(url=receiver.url, tenant_id=tenant_id, event_types=list(event_types))
    receiver.secret = endpoint.secret
    return endpoint
