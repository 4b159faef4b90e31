"""drf-spectacular hooks: what every operation of the API shares, written once."""

COMMON_ERRORS = {
    "401": "No credentials, or a token that is unknown, expired or revoked.",
    "429": "Too many requests for this token; the Retry-After header says when to retry.",
}


def add_common_error_responses(result, generator, request, public):
    """Every API operation can answer 401 and 429 in the one error shape."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for status, description in COMMON_ERRORS.items():
                operation["responses"].setdefault(status, {"description": description, "content": error})
    return result
