"""Stored answers to POSTs that carried an Idempotency-Key (kept 24 h)."""

from django.db import models


class IdempotencyKey(models.Model):
    sub = models.CharField(max_length=255)
    key = models.CharField(max_length=255)
    path = models.CharField(max_length=512)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    response_body = models.BinaryField(default=b"")
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sub", "key", "path"], name="idempotency_key_unique")]
