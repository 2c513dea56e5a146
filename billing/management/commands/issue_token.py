"""python manage.py issue_token --role tenant --tenant acme [--ttl 3600] [--sub NAME]: print a JWT.

Without --sub every token gets its own `sub`, so two tokens never pass for the same caller (the
Idempotency-Key store and the rate limits key on it)."""

import uuid

from django.core.management.base import BaseCommand, CommandError

from billing_project.auth import ROLES, issue_token


class Command(BaseCommand):
    help = "Print a signed access token with the contract's claims (for scripts)."

    def add_arguments(self, parser):
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--tenant", help="tenant_id (required for --role tenant)")
        parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
        parser.add_argument("--sub", help="the caller id (default: cli-<role>-<random>, distinct per token)")

    def handle(self, *args, role, tenant, ttl, sub, **options):
        if role == "tenant" and not tenant:
            raise CommandError("--tenant is required with --role tenant")
        if ttl <= 0:
            raise CommandError("--ttl must be positive")
        self.stdout.write(
            issue_token(sub=sub or f"cli-{role}-{uuid.uuid4().hex[:12]}", role=role, tenant_id=tenant, ttl_seconds=ttl)
        )
