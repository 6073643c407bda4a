from rest_framework.pagination import PageNumberPagination

from webapp.core.exceptions import InvalidInput


def _positive(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise InvalidInput(f"{name}: {raw[:40]!r} is not a positive whole number.")
    return int(raw)


class StandardPagination(PageNumberPagination):
    """`{count, next, previous, results}` with `?page_size=` up to 500 (larger values are capped).

    `page` and `page_size` must be positive whole numbers (400 otherwise); a page past the end is 404."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        size = _positive(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        _positive(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)
