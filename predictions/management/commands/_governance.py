"""Shared by the governance commands: who the command acts as."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError


def add_actor_argument(parser) -> None:
    parser.add_argument(
        "--by", metavar="USERNAME", help="record the action as this operator (a superuser); default: the system"
    )


def actor_from(options):
    username = options.get("by")
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None or not user.is_superuser:
        raise CommandError(f"--by {username}: no such superuser")
    return user
