from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("multidb_routers", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="Placement",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("directory", models.CharField(max_length=100)),
                ("key", models.CharField(max_length=255)),
                ("alias", models.CharField(max_length=100)),
                ("version", models.PositiveBigIntegerField(default=1)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("directory", "key"), name="multidb_placement_unique"
                    )
                ]
            },
        ),
    ]
