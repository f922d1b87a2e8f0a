from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("sources", "0002_passage_search")]

    operations = [
        migrations.AddField(
            model_name="passage",
            name="page_starts",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
