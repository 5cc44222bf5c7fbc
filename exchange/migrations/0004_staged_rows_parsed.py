from django.db import migrations, models


def forget_parked_rows(apps, schema_editor):
    # Parked rows are a batch's working copy; one parked in the old shape is
    # uploaded again (the page says so).
    apps.get_model("exchange", "StagedRow").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("exchange", "0003_bundle"),
    ]

    operations = [
        migrations.RunPython(forget_parked_rows, migrations.RunPython.noop),
        migrations.RemoveField(model_name="stagedrow", name="values"),
        migrations.AddField(model_name="stagedrow", name="issues", field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="stagedrow", name="problem", field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="stagedrow", name="problem_column",
                            field=models.CharField(blank=True, default="", max_length=100)),
        migrations.AddField(model_name="stagedrow", name="problem_value",
                            field=models.CharField(blank=True, default="", max_length=255)),
        migrations.AddField(model_name="stagedrow", name="existing", field=models.BooleanField(default=False)),
        migrations.AddField(model_name="stagedrow", name="commune_id", field=models.IntegerField(null=True)),
        migrations.AddField(model_name="stagedrow", name="code", field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="stagedrow", name="name", field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="stagedrow", name="name_key", field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="stagedrow", name="village", field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="stagedrow", name="village_key",
                            field=models.TextField(blank=True, default="")),
        migrations.AddField(model_name="stagedrow", name="area",
                            field=models.CharField(blank=True, default="", max_length=5)),
        migrations.AddField(model_name="stagedrow", name="is_farm", field=models.BooleanField(null=True)),
        migrations.AddField(model_name="stagedrow", name="phone",
                            field=models.CharField(blank=True, default="", max_length=40)),
        migrations.AddField(model_name="stagedrow", name="merit", field=models.BooleanField(null=True)),
        migrations.AddField(model_name="stagedrow", name="social", field=models.BooleanField(null=True)),
        migrations.AddField(model_name="stagedrow", name="classification",
                            field=models.CharField(blank=True, default="", max_length=10)),
        migrations.AddField(model_name="stagedrow", name="classification_year",
                            field=models.SmallIntegerField(null=True)),
        migrations.AddField(model_name="stagedrow", name="sex",
                            field=models.CharField(blank=True, default="", max_length=6)),
        migrations.AddField(model_name="stagedrow", name="birth_date", field=models.DateField(null=True)),
        migrations.AddField(model_name="stagedrow", name="birth_year", field=models.SmallIntegerField(null=True)),
        migrations.AddField(model_name="stagedrow", name="pid",
                            field=models.CharField(blank=True, default="", max_length=12)),
        migrations.AddField(model_name="stagedrow", name="pid_legacy", field=models.BooleanField(null=True)),
        migrations.AddField(model_name="stagedrow", name="masked_id",
                            field=models.CharField(blank=True, default="", max_length=40)),
        migrations.AddField(model_name="stagedrow", name="ethnicity_id", field=models.IntegerField(null=True)),
        migrations.AddField(model_name="stagedrow", name="relation",
                            field=models.CharField(blank=True, default="", max_length=12)),
        migrations.AddField(model_name="stagedrow", name="insured", field=models.BooleanField(null=True)),
    ]
