from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("exchange", "0005_staged_rows_unlogged"),
    ]

    operations = [
        migrations.AddField(
            model_name="stagedrow",
            name="search_key",
            field=models.TextField(blank=True, default=""),
        ),
    ]
