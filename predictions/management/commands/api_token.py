"""Make, list and revoke API tokens: `manage.py api_token create|list|revoke`."""

import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from predictions.models import ApiToken
from predictions.services.api_tokens import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Make an API token for a user (the key is printed once), list tokens, or revoke one."

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        create = commands.add_parser("create", help="make a token and print its key")
        create.add_argument("username")
        create.add_argument("--name", required=True, help="what the token is for, e.g. 'EHR integration'")
        create.add_argument("--expires-in-days", type=int, help="let the token lapse after this many days")
        listing = commands.add_parser("list", help="list tokens (never their keys)")
        listing.add_argument("--user", help="only this user's tokens")
        revoke = commands.add_parser("revoke", help="revoke a token by its id or key prefix")
        revoke.add_argument("token", help="the token's id, or the start of its key as listed")

    def handle(self, *args, action, **options):
        return getattr(self, f"_{action}")(**options)

    def _create(self, username, name, expires_in_days=None, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        expires_at = timezone.now() + datetime.timedelta(days=expires_in_days) if expires_in_days else None
        token, key = api_token_create(user=user, name=name, expires_at=expires_at)
        self.stderr.write(f"Token {token.pk} “{token.name}” for {user}: the key below is shown only now.")
        self.stdout.write(key)

    def _list(self, user=None, **options):
        tokens = ApiToken.objects.select_related("user").order_by("id")
        if user:
            tokens = tokens.filter(user__username=user)
        for token in tokens:
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            self.stdout.write(f"{token.pk}\t{token.prefix}…\t{token.user}\t{token.name}\t{state}\tlast used {used}")

    def _revoke(self, token, **options):
        matches = (
            ApiToken.objects.filter(pk=int(token))
            if token.isdigit()
            else ApiToken.objects.filter(prefix__startswith=token.rstrip("…"))
        )
        if matches.count() != 1:
            raise CommandError(f"{matches.count()} tokens match {token!r}; give the id.")
        revoked = api_token_revoke(token=matches.get())
        self.stdout.write(f"Revoked token {revoked.pk} “{revoked.name}” of {revoked.user}.")
