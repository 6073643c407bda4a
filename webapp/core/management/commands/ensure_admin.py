"""Create the first administrator if the database has none, and print how to log in once."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Create an admin user when no superuser exists. Name and password come from ADMIN_USERNAME / "
        "ADMIN_PASSWORD (and ADMIN_EMAIL); without ADMIN_PASSWORD a random one is generated and printed once."
    )

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            names = ", ".join(user_model.objects.filter(is_superuser=True).values_list("username", flat=True)[:5])
            self.stdout.write(f"Admin user already exists ({names}); not creating another.")
            return
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        email = os.environ.get("ADMIN_EMAIL", "")
        user = user_model.objects.create_superuser(username=username, email=email, password=password)
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(self.style.SUCCESS("Created the first admin user. Save these; they are shown once:"))
        self.stdout.write(f"  username:  {username}")
        if os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write("  password:  (from ADMIN_PASSWORD)")
        else:
            self.stdout.write(f"  password:  {password}")
        self.stdout.write(f"  API token: {token.key}")
