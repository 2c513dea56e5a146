"""Stored answers to POSTs that carried an Idempotency-Key (kept 24 h)."""

from django.db import models


class IdempotencyKey(models.Model):
    # The caller is the full principal: two tokens that share a `sub` never share stored answers.
    sub = models.CharField(max_length=255)
    role = models.CharField(max_length=16, default="")
    tenant_id = models.CharField(max_length=64, default="")
    key = models.CharField(max_length=255)
    path = models.CharField(max_length=512)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    response_body = models.BinaryField(default=b"")
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sub", "role", "tenant_id", "key", "path"], name="idempotency_key_unique")
        ]
