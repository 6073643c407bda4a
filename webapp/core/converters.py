"""URL converters: `<id:pk>` is a positive 64-bit integer; a longer number matches no URL (404, not 500)."""

from .query import MAX_ID


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError("not an id")  # Django treats it as no match: 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))
