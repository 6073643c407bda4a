"""Writes that name a field the API does not have are refused, not ignored."""

from rest_framework import serializers
from rest_framework.settings import api_settings


class StrictKeysMixin:
    """Refuse keys the serializer does not declare: a typo must not be ignored (API.md, "Additions in v1")."""

    unknown_key_message = "Unknown field {key!r}; allowed: {allowed}."

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                allowed = ", ".join(name for name, field in self.fields.items() if not field.read_only)
                message = self.unknown_key_message.format(key=unknown[0][:80], allowed=allowed)
                raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})
        return super().to_internal_value(data)
