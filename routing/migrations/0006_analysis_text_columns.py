"""The stored analysis' two large columns as JSON text instead of ``jsonb`` (only ever read
whole: PostgreSQL no longer parses ~17 MB of JSON in the merge's serial end), compressed
with lz4 on a PostgreSQL server that has it (pglz, the default, costs ~0.2 s for them)."""

from django.db import DatabaseError, migrations, models, transaction


def lz4_where_available(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                'ALTER TABLE "routing_clusteranalysis"'
                ' ALTER COLUMN "findings" SET COMPRESSION lz4,'
                ' ALTER COLUMN "rows" SET COMPRESSION lz4'
            )
    except DatabaseError:  # a server built without lz4 keeps its default
        return


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0005_cost_settings"),
    ]

    operations = [
        migrations.AlterField(
            model_name="clusteranalysis",
            name="findings",
            field=models.TextField(blank=True, default="[]", help_text="JSON text (a list)."),
        ),
        migrations.AlterField(
            model_name="clusteranalysis",
            name="rows",
            field=models.TextField(blank=True, default="[]", help_text="JSON text (a list)."),
        ),
        migrations.RunPython(lz4_where_available, migrations.RunPython.noop),
    ]
