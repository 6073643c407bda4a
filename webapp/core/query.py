"""Strict query strings and ids: an unknown key or a bad value is 400 naming it (API.md, "Additions in v1").

A typo in a filter must never widen what a request reads or changes (`?lable=good` listing, or a bulk
action touching, every image), and a number no database column can hold is a 400 or 404, never a 500.
"""

from collections.abc import Iterable

from webapp.core.exceptions import InvalidInput

# Ids are 64-bit signed integers (BigAutoField); anything larger cannot name a row.
MAX_ID = 2**63 - 1
PAGE_PARAMS = ("page", "page_size")


def check_query_params(request, allowed: Iterable[str]) -> None:
    """400 for the first query parameter not in `allowed`, or given more than once (`?label=good&label=defective`
    would otherwise be read as its last value alone, silently dropping the first)."""
    allowed = set(allowed)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        known = f"this endpoint accepts: {', '.join(sorted(allowed))}" if allowed else "this endpoint takes none"
        raise InvalidInput(f"Unknown query parameter {unknown[0][:80]!r}; {known}.")
    for key, values in sorted(request.query_params.lists()):
        if len(values) > 1:
            raise InvalidInput(
                f"Query parameter {key!r} is given {len(values)} times; give it once (several values of a list "
                "filter such as defect_type or ids are comma-separated)."
            )


def parse_id(value, name: str = "id") -> int:
    """An id from a string or a JSON number: a whole number 1..2**63-1, else 400 naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{name}: {str(value)[:40]!r} is not an id (a whole number).")
    text = value.strip() if isinstance(value, str) else str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= MAX_ID:
        raise InvalidInput(f"{name}: {text[:40]!r} is not an id (a whole number from 1 to {MAX_ID}).")
    return int(text)


class StrictQueryMixin:
    """For API views: refuse query parameters the view does not know (checked after authentication).

    `query_params_allowed` names the view's own parameters; a `filterset_class` adds its filters and a
    paginated GET adds `page` and `page_size`."""

    query_params_allowed: tuple[str, ...] = ()
    paginated = False

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        allowed = set(self.query_params_allowed)
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None and request.method == "GET":
            allowed.update(filterset_class.base_filters)
        if self.paginated and request.method == "GET":
            allowed.update(PAGE_PARAMS)
        check_query_params(request, allowed)
