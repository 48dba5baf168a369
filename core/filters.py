"""FilterSet parts shared by every app's lists (API and dashboard tables)."""

from __future__ import annotations

from django_filters import rest_framework as filters


class StrictBooleanFilter(filters.TypedChoiceFilter):
    """``true`` / ``false`` only: a typo is a 400 naming the parameter, not "no filter"."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("choices", (("true", "true"), ("false", "false")))
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(**kwargs)


class CachedFormFilterSet(filters.FilterSet):
    """A FilterSet that builds its form class once, not on every request.

    django-filter assembles a new form class per FilterSet instance; the filters here are
    static (their querysets are lazy and copied per form), so one class per FilterSet
    serves every request and saves a few milliseconds on each list.
    """

    _form_classes: dict[type, type] = {}

    def get_form_class(self) -> type:
        cls = type(self)
        if cls not in CachedFormFilterSet._form_classes:
            CachedFormFilterSet._form_classes[cls] = super().get_form_class()
        return CachedFormFilterSet._form_classes[cls]
