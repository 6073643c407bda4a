"""Writes that name a field the API does not have are refused, not ignored."""

from rest_framework import serializers


class StrictKeysMixin:
    """Refuse keys the serializer does not declare: a typo must not be ignored (API.md, "Additions in v1")."""

    unknown_key_message = "Unknown field {key!r}; allowed: {allowed}."

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(key)[:80] for key in data if key not in self.fields)
            if unknown:
                # Each unknown key is filed under its own name in `errors`, as a field error is, so a client
                # can point at it; `detail` names the first (webapp.core.exceptions.api_exception_handler).
                allowed = ", ".join(name for name, field in self.fields.items() if not field.read_only)
                raise serializers.ValidationError(
                    {key: [self.unknown_key_message.format(key=key, allowed=allowed)] for key in unknown}
                )
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """Text that must arrive as text: DRF's CharField turns `123` or `true` into "123"/"True" silently, so a client
    that sent the wrong field (a number where a name belongs) would never hear of it."""

    default_error_messages = {"not_text": "Must be text (a JSON string), not {kind}."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            kind = {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}
            self.fail("not_text", kind=kind.get(type(data), type(data).__name__))
        return super().to_internal_value(data)
