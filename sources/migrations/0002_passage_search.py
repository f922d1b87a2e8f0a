"""Full-text search over passages, per database: what sources/retrieval.py queries.

PostgreSQL: a stored generated tsvector column with a GIN index (computing to_tsvector on
the fly cost far more per query at 10,000 passages; docs/sources.md). SQLite: an FTS5 table
over the passages' text, kept in step by triggers. Other databases: nothing (retrieval
falls back to term counting in Python).

Careful: on SQLite, a later migration that alters sources_passage rebuilds the table and
drops these triggers with it; such a migration must run SQLITE_FORWARD's triggers again.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    "ALTER TABLE sources_passage ADD COLUMN search tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX sources_passage_search_gin ON sources_passage USING GIN (search)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS sources_passage_search_gin",
    "ALTER TABLE sources_passage DROP COLUMN IF EXISTS search",
]
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE sources_passage_fts USING fts5(text, content='sources_passage', "
    "content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER sources_passage_fts_insert AFTER INSERT ON sources_passage BEGIN "
    "INSERT INTO sources_passage_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER sources_passage_fts_delete AFTER DELETE ON sources_passage BEGIN "
    "INSERT INTO sources_passage_fts(sources_passage_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER sources_passage_fts_update AFTER UPDATE ON sources_passage BEGIN "
    "INSERT INTO sources_passage_fts(sources_passage_fts, rowid, text) "
    "VALUES ('delete', old.id, old.text); "
    "INSERT INTO sources_passage_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO sources_passage_fts(sources_passage_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS sources_passage_fts_insert",
    "DROP TRIGGER IF EXISTS sources_passage_fts_delete",
    "DROP TRIGGER IF EXISTS sources_passage_fts_update",
    "DROP TABLE IF EXISTS sources_passage_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("sources", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
