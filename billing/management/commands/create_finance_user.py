"""python manage.py create_finance_user USERNAME [--password P] [--email E]: a staff (finance) account."""

import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create or update a finance staff user who can log in to the admin and get finance tokens."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password")
        parser.add_argument("--email", default="")
        parser.add_argument("--superuser", action="store_true")

    def handle(self, *args, username, password, email, superuser, **options):
        password = password or getpass.getpass("Password: ")
        if len(password) < 8:
            raise CommandError("The password must have at least 8 characters.")
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"email": email})
        user.is_staff = True
        user.is_superuser = superuser or user.is_superuser
        if email:
            user.email = email
        user.set_password(password)
        user.save()
        if not user.is_superuser:
            from django.contrib.auth.models import Group, Permission

            group, _ = Group.objects.get_or_create(name="Finance")
            group.permissions.set(
                Permission.objects.filter(
                    content_type__app_label__in=["billing", "coupons", "quotas", "costcenters", "realtime"]
                )
            )
            user.groups.add(group)
        self.stdout.write(self.style.SUCCESS(f"{'Created' if created else 'Updated'} finance user '{username}'."))
