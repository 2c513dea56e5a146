"""The event log, which is also the outbox of webhooks and e-mail.

An Event row is written in the same transaction as the change it describes (services call
`notifications.services.events.event_record`). `processed_at` is null until the dispatcher has
fanned it out into webhook deliveries and e-mails, so an event whose after-commit enqueue was lost
is still picked up by the periodic dispatcher.
"""

import uuid

from django.db import models
from django.db.models import Q


class Event(models.Model):
    # `seq` orders events (oldest first) and is the cursor behind `?after=`; `id` is the public id.
    seq = models.BigAutoField(primary_key=True)
    id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64, db_index=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - null: no tenant (test events)
    data = models.JSONField()
    created_at = models.DateTimeField(db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["tenant_id", "seq"], name="event_tenant_seq"),
            models.Index(fields=["seq"], condition=Q(processed_at__isnull=True), name="event_unprocessed"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
