import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("exchange", "0007_stagedrow_search_key_fill"),
    ]

    operations = [
        migrations.AlterField(
            model_name="stagedrow",
            name="batch",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                to="exchange.importbatch",
            ),
        ),
    ]
