"""Unlock an account or an address locked out after too many failed sign-ins; the unlock is audited."""

from django.core.management.base import BaseCommand, CommandError

from predictions.services.sign_in import sign_in_unlock

from ._governance import actor_from, add_actor_argument


class Command(BaseCommand):
    help = "Lift a sign-in lockout (by account, by address, or both) before its cool-off ends."

    def add_arguments(self, parser):
        parser.add_argument("--username", help="the account to unlock")
        parser.add_argument("--ip", dest="ip_address", help="the client address to unlock")
        add_actor_argument(parser)

    def handle(self, *args, username=None, ip_address=None, **options):
        if not username and not ip_address:
            raise CommandError("Give --username, --ip or both.")
        cleared = sign_in_unlock(actor=actor_from(options), username=username, ip_address=ip_address)
        parts = (username and f"account {username}", ip_address and f"address {ip_address}")
        what = " and ".join(part for part in parts if part)
        if cleared:
            self.stdout.write(self.style.SUCCESS(f"Unlocked {what} ({cleared} failure record(s) cleared)."))
        else:
            self.stdout.write(f"Nothing was locked for {what}; recorded anyway.")
