"""Notification models: the event log (outbox), webhook endpoints and deliveries, the e-mail log."""

from .email import EmailMessage
from .event import Event
from .webhook import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = ["EmailMessage", "Event", "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint"]
