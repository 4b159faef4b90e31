import functools

from .. import permissions, selectors


def portal(request) -> dict:
    """The signed-in user's clinics and roles for the page header, queried only if a page shows them, and the
    menu's entries their roles lead to (decided by `permissions`, as the pages behind them are)."""

    @functools.cache
    def memberships():
        return list(selectors.membership_list(user=request.user))

    @functools.cache
    def menu() -> dict[str, bool]:
        roles = {membership.role for membership in memberships()}
        # Membership only, as permissions.clinics_where answers for the governance and token pages.
        return {
            "case_review": any(permissions.role_allows(role, "governance.view") for role in roles),
            "api_tokens": any(permissions.role_allows(role, "clinic.administer") for role in roles),
        }

    return {"portal_memberships": memberships, "portal_menu": menu}
