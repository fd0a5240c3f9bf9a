"""The operator's view. Messages added here go through the same service as the browser's,
so they are broadcast to open sockets like any other (after the admin's transaction commits)."""

from functools import partial

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db import transaction
from django.db.models import Count
from django.template.response import TemplateResponse
from django.utils import timezone

from chat import tokens
from chat.models import ApiToken, Membership, Message, MessageEdit, Reaction, Room
from chat.services.errors import ServiceError
from chat.services.membership import (
    user_sockets_close,
    user_sockets_join_room,
    user_sockets_leave_room,
)
from chat.services.messages import message_create, message_delete
from chat.services.room_events import room_updated_broadcast
from chat.services.validation import clean_body


class MembershipInline(admin.TabularInline):
    """The room's members and their roles: a row added here is a `member` unless its role is
    set; a room made here may have no owner until one is set."""

    model = Membership
    extra = 1
    raw_id_fields = ["user"]
    fields = ["user", "role"]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "is_public", "member_count", "message_count", "created"]
    list_filter = ["is_public", "kind"]
    search_fields = ["name", "users__username"]
    readonly_fields = ["kind"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Count("users", distinct=True),
                message_total=Count("messages", distinct=True),
            )
        )

    @admin.display(description="members", ordering="member_total")
    def member_count(self, room: Room) -> int:
        return room.member_total

    @admin.display(description="messages", ordering="message_total")
    def message_count(self, room: Room) -> int:
        return room.message_total

    def save_related(self, request, form, formsets, change) -> None:
        before = self._roles(form.instance) if change else {}
        super().save_related(request, form, formsets, change)
        roles = self._roles(form.instance)
        if change and roles != before:
            # Open room pages and sidebars show the room's roles and member count.
            updated = async_to_sync(room_updated_broadcast)
            transaction.on_commit(partial(updated, room=form.instance))
        before, after = set(before), set(roles)
        room_id = form.instance.pk
        # After the admin's transaction commits, so that a socket reconnecting at once (or a
        # room list recounting) sees the new membership.
        for user_id in before - after:
            # A member removed here is cut off from the room at once.
            leave = async_to_sync(user_sockets_leave_room)
            transaction.on_commit(partial(leave, user_id=user_id, room_id=room_id))
        for user_id in after - before:
            # A member added here sees the room's alerts in an already open alert feed and its
            # unread count on open room lists.
            join = async_to_sync(user_sockets_join_room)
            transaction.on_commit(partial(join, user_id=user_id, room_id=room_id))

    @staticmethod
    def _roles(room: Room) -> dict[int, str]:
        return dict(Membership.objects.filter(room=room).values_list("user_id", "role"))


class RoomPostAdminForm(forms.ModelForm):
    """Something an operator posts in a room on a member's behalf: the text goes through its
    service's own cleaner, and the author must be a member, as on every other entry point."""

    text_field = "body"
    author_field = "author"

    def clean_text(self, text: str) -> str:
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        try:
            data[self.text_field] = self.clean_text(data.get(self.text_field, ""))
        except ServiceError as error:
            self.add_error(self.text_field, error.detail)
        room, author = data.get("room"), data.get(self.author_field)
        if room and author and not room.users.filter(pk=author.pk).exists():
            self.add_error(self.author_field, "The author must be a member of the room.")
        return data


class MessageAdminForm(RoomPostAdminForm):
    class Meta:
        model = Message
        fields = ["room", "author", "body", "client_id"]

    def clean_text(self, text: str) -> str:
        return clean_body(text)


class MessageEditInline(admin.TabularInline):
    """The bodies a message had before each edit (and before its deletion), oldest first."""

    model = MessageEdit
    fields = ["version", "body", "replaced"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# Shown, never changed here: an edit is its author's (through the socket or the API), and
# what changes a posted message goes through a service that versions and broadcasts it.
POSTED_MESSAGE_FIELDS = [
    "room", "author", "body", "html", "client_id", "created", "edited", "deleted", "version",
    "reply_to", "reactions", "mentions",
]  # fmt: skip


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    form = MessageAdminForm
    inlines = [MessageEditInline]
    list_display = ["id", "room", "author", "short_body", "created", "edited", "deleted"]
    list_filter = ["room", "deleted"]
    search_fields = ["body", "author__username", "room__name"]
    list_select_related = ["room", "author"]
    raw_id_fields = ["author"]
    date_hierarchy = "created"

    @admin.display(description="body")
    def short_body(self, message: Message) -> str:
        return message.body[:80]

    def get_inline_instances(self, request, obj=None):
        return super().get_inline_instances(request, obj) if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        return POSTED_MESSAGE_FIELDS if obj is not None else []

    def get_fields(self, request, obj=None):
        return POSTED_MESSAGE_FIELDS if obj is not None else MessageAdminForm.Meta.fields

    def save_model(self, request, obj: Message, form, change: bool) -> None:
        if change:
            return  # every field of a posted message is read-only here
        result = async_to_sync(message_create)(
            room=obj.room, author=obj.author, body=obj.body, client_id=obj.client_id or None
        )
        obj.pk, obj.created = result.message.pk, result.message.created

    def delete_model(self, request, obj: Message) -> None:
        """A tombstone, broadcast to the room (after the admin's transaction commits), as a
        deletion from the room page would be: the row stays in its place in the history."""
        if obj.deleted:
            return
        async_to_sync(message_delete)(room=obj.room, user=request.user, message_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for message in queryset.filter(deleted=False).select_related("room"):
            self.delete_model(request, message)


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff create tokens for a user (shown once, on the page right after) and revoke them."""

    list_display = ["prefix", "name", "user", "created", "last_used", "revoked"]
    list_filter = ["revoked"]
    search_fields = ["user__username", "name", "prefix"]
    readonly_fields = ["prefix", "created", "last_used", "revoked"]
    raw_id_fields = ["user"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["user", "name"] if obj is None else ["user", "name", *self.readonly_fields]

    def save_model(self, request, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        row, token = async_to_sync(tokens.token_create)(user=obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.created = row.pk, row.prefix, row.created
        request._new_api_token = token  # shown by response_add, stored nowhere

    def response_add(self, request, obj: ApiToken, post_url_continue=None):
        token = getattr(request, "_new_api_token", None)
        if token is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "token_row": obj,
            "token": token,
            "title": "API token created",
        }
        response = TemplateResponse(request, "admin/chat/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected tokens (requests with them get 401)")
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked=None).update(revoked=timezone.now())
        messages.success(request, f"Revoked {count} token(s).")


class SocketClosingPasswordChangeForm(AdminPasswordChangeForm):
    """A password set by an operator ends the user's sessions, so it closes their sockets
    too (allauth's own password pages do this through chat.receivers)."""

    def save(self, commit: bool = True):
        user = super().save(commit)
        close_sockets_after_commit(user.pk)
        return user


def close_sockets_after_commit(user_id: int) -> None:
    transaction.on_commit(lambda: async_to_sync(user_sockets_close)(user_id=user_id))


admin.site.unregister(get_user_model())


def _count_by_user(model, field: str, user_ids: list[int]) -> dict[int, int]:
    rows = model.objects.filter(**{f"{field}__in": user_ids}).order_by().values_list(field)
    return dict(rows.annotate(count=Count("pk")))


def part_taken(users) -> list[str]:
    """What each of these users has done in rooms, one line per user who did anything: such a
    user is deactivated, never deleted (Message.author, Reaction.user and Membership.user are
    PROTECT), as in Zulip and Mattermost. Counted, not listed: a prolific author has more
    messages than a confirmation page can show."""
    names = dict(users.values_list("pk", get_user_model().USERNAME_FIELD))
    ids = list(names)
    written = _count_by_user(Message, "author", ids)
    reacted = _count_by_user(Reaction, "user", ids)
    joined = _count_by_user(Membership, "user", ids)
    return [
        f"{names[pk]}: {written.get(pk, 0)} message(s), {reacted.get(pk, 0)} reaction(s), "
        f"{joined.get(pk, 0)} room(s). Deactivate instead (untick Active on the user's page): "
        "they can no longer log in, their sockets close, and what they wrote stays as others "
        "saw it."
        for pk in sorted(ids, key=names.get)
        if pk in written or pk in reacted or pk in joined
    ]


@admin.register(get_user_model())
class ChatUserAdmin(UserAdmin):
    change_password_form = SocketClosingPasswordChangeForm

    def get_deleted_objects(self, objs, request):
        """Refused, with the reason, before Django collects every related row: deleting a
        user who took part would change rooms behind every open socket's back."""
        users = (
            objs
            if hasattr(objs, "annotate")
            else self.model.objects.filter(pk__in=[user.pk for user in objs])
        )
        protected = part_taken(users)
        if protected:
            return [], {}, set(), protected
        return super().get_deleted_objects(objs, request)

    def get_readonly_fields(self, request, obj=None):
        """A username that others have seen stays: messages' reactions and mentions store it
        (denormalized for speed), and open sockets would keep the old one."""
        fields = super().get_readonly_fields(request, obj)
        if obj is not None and part_taken(self.model.objects.filter(pk=obj.pk)):
            return [*fields, "username"]
        return fields

    def save_model(self, request, obj, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            close_sockets_after_commit(obj.pk)  # a deactivated user is cut off at once
