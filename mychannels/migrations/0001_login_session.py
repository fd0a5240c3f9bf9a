"""Login sessions with their user's id; the sessions Django's table holds are carried over, so
that nobody is logged out by the move."""

from django.db import migrations, models
from django.utils import timezone


def carry_over_sessions(apps, schema_editor) -> None:
    """Every unexpired row of Django's session table, with the user id its data logs in
    (decoded with the current secret key; a row that does not decode gets none: a socket
    then reads its user apart, as before)."""
    from mychannels.runtime.sessions import SessionStore, logged_in_user_id

    old = apps.get_model("sessions", "Session")
    new = apps.get_model("mychannels", "LoginSession")
    store = SessionStore()
    rows = [
        new(
            session_key=row.session_key,
            session_data=row.session_data,
            expire_date=row.expire_date,
            user_id=logged_in_user_id(store.decode(row.session_data)),
        )
        for row in old.objects.filter(expire_date__gt=timezone.now()).iterator()
    ]
    new.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("sessions", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="LoginSession",
            fields=[
                (
                    "session_key",
                    models.CharField(
                        max_length=40, primary_key=True, serialize=False, verbose_name="session key"
                    ),
                ),
                ("session_data", models.TextField(verbose_name="session data")),
                ("expire_date", models.DateTimeField(db_index=True, verbose_name="expire date")),
                ("user_id", models.IntegerField(blank=True, db_index=True, null=True)),
            ],
            options={
                "verbose_name": "session",
                "verbose_name_plural": "sessions",
                "db_table": "mychannels_login_session",
                "abstract": False,
            },
        ),
        migrations.RunPython(carry_over_sessions, migrations.RunPython.noop),
    ]
