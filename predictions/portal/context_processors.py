import functools

from .. import selectors


def portal(request) -> dict:
    """The signed-in user's clinics and roles for the page header, queried only if a page shows them."""

    @functools.cache
    def memberships():
        return list(selectors.membership_list(user=request.user))

    return {"portal_memberships": memberships}
