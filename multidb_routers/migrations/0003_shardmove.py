from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("multidb_routers", "0002_placement")]

    operations = [
        migrations.CreateModel(
            name="ShardMove",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("directory", models.CharField(max_length=100)),
                ("key", models.CharField(max_length=255)),
                ("model", models.CharField(max_length=255)),
                ("source", models.CharField(max_length=100)),
                ("target", models.CharField(max_length=100)),
                ("method", models.CharField(max_length=10)),
                ("phase", models.CharField(default="copying", max_length=12)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("switched_at", models.DateTimeField(blank=True, null=True)),
                ("blocked_ms", models.FloatField(blank=True, null=True)),
                ("verified", models.BooleanField(default=False)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("phase__in", ["copying", "switched"])),
                        fields=("directory", "key"),
                        name="multidb_shardmove_active",
                    )
                ]
            },
        ),
    ]
