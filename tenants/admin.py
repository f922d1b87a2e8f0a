"""Membership in the user admin: an operator puts a user in an institution there.

The Institution admin itself lives with the batches (`batches/admin/institution.py`): what
an operator looks at there is its batches and their slots.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from tenants.models import Membership


class MembershipInline(admin.StackedInline):
    """The user's one institution (none yet: the user counts as `default`)."""

    model = Membership
    fields = ("institution",)
    max_num = 1
    extra = 0
    can_delete = True
    verbose_name = "institution"
    verbose_name_plural = "institution (none: the user counts as 'default')"


class MemberInline(admin.TabularInline):
    """An institution's members, on the institution's page."""

    model = Membership
    fields = ("user", "joined_at")
    readonly_fields = ("joined_at",)
    autocomplete_fields = ("user",)
    extra = 0
    verbose_name = "member"


User = get_user_model()


class UserWithInstitutionAdmin(UserAdmin):
    inlines = (*UserAdmin.inlines, MembershipInline)
    list_display = (*UserAdmin.list_display, "institution")
    list_select_related = ("membership__institution",)
    list_filter = (*UserAdmin.list_filter, "membership__institution")

    @admin.display(description="institution", ordering="membership__institution__slug")
    def institution(self, user) -> str:
        membership = getattr(user, "membership", None)
        return membership.institution.slug if membership else "default (no membership)"


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserWithInstitutionAdmin)
