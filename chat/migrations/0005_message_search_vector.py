"""Full-text search over messages: a tsvector column PostgreSQL computes and stores itself
(GENERATED ALWAYS ... STORED), so every write is indexed whoever makes it, and a GIN index on
it. The SQL is written out here for PostgreSQL; other databases (SQLite in development) get
a plain NULL column, which search there does not use."""

import chat.models.message
from django.db import migrations

POSTGRES_FORWARDS = [
    "ALTER TABLE chat_message ADD COLUMN search_vector tsvector"
    " GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, COALESCE(body, ''))) STORED",
    "CREATE INDEX chat_message_search_gin ON chat_message USING gin (search_vector)",
]
POSTGRES_BACKWARDS = [
    "DROP INDEX IF EXISTS chat_message_search_gin",
    "ALTER TABLE chat_message DROP COLUMN search_vector",
]
OTHER_FORWARDS = ["ALTER TABLE chat_message ADD COLUMN search_vector text NULL"]
OTHER_BACKWARDS = ["ALTER TABLE chat_message DROP COLUMN search_vector"]


class RunSQLOn(migrations.RunSQL):
    """RunSQL for one database vendor only (`postgresql`), or for every other (`other`)."""

    def __init__(self, vendor, sql, reverse_sql):
        super().__init__(sql, reverse_sql)
        self.vendor = vendor

    def _applies(self, schema_editor):
        is_vendor = schema_editor.connection.vendor == "postgresql"
        return is_vendor if self.vendor == "postgresql" else not is_vendor

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if self._applies(schema_editor):
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if self._applies(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0004_attachments'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name='message',
                    name='search_vector',
                    field=chat.models.message.BodySearchVector(),
                ),
            ],
            database_operations=[
                RunSQLOn("postgresql", POSTGRES_FORWARDS, POSTGRES_BACKWARDS),
                RunSQLOn("other", OTHER_FORWARDS, OTHER_BACKWARDS),
            ],
        ),
    ]
