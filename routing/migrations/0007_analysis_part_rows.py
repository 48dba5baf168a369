"""Each analysis shard's rows in its part (``AnalysisPart.rows``, JSON text), kept with the
analysis: the merge no longer reads and rewrites ~13 MB of rows in its serial end.
Compressed with lz4 on a PostgreSQL server that has it, as ``ClusterAnalysis.rows``."""

from django.db import DatabaseError, migrations, models, transaction


def lz4_where_available(apps, schema_editor) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                'ALTER TABLE "routing_analysispart" ALTER COLUMN "rows" SET COMPRESSION lz4'
            )
    except DatabaseError:  # a server built without lz4 keeps its default
        return


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0006_analysis_text_columns"),
    ]

    operations = [
        migrations.AddField(
            model_name="analysispart",
            name="rows",
            field=models.TextField(blank=True, default="[]", help_text="JSON text (a list)."),
        ),
        migrations.RunPython(lz4_where_available, migrations.RunPython.noop),
    ]
