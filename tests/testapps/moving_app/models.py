"""Models of the move_rows and reshard tests: every kind of value a checksum must encode."""

from __future__ import annotations

from django.db import models


class Label(models.Model):
    """A label; reference data, present with the same ids on every database."""

    name = models.CharField(max_length=50)

    def __str__(self) -> str:
        return self.name


class Parcel(models.Model):
    """A parcel moved by ``move_rows``: decimals, datetimes, bytes, booleans, nulls, labels."""

    name = models.CharField(max_length=100)
    weight = models.DecimalField(max_digits=8, decimal_places=3)
    sent_at = models.DateTimeField(null=True)
    payload = models.BinaryField(null=True)
    fragile = models.BooleanField(default=False)
    pieces = models.IntegerField(null=True)
    labels = models.ManyToManyField(Label, blank=True, related_name="parcels")

    def __str__(self) -> str:
        return self.name


class Receipt(models.Model):
    """A receipt referencing a parcel: deleting the parcel's source row would orphan it."""

    parcel = models.ForeignKey(Parcel, on_delete=models.CASCADE, related_name="receipts")

    def __str__(self) -> str:
        return f"receipt of {self.parcel_id}"


class Order(models.Model):
    """A sharded order: its id is given, its shard key is ``customer_id``."""

    id = models.BigIntegerField(primary_key=True)
    customer_id = models.IntegerField()
    total = models.DecimalField(max_digits=10, decimal_places=2)
    placed_at = models.DateTimeField()
    labels = models.ManyToManyField(Label, blank=True, related_name="orders")

    def __str__(self) -> str:
        return f"order {self.id}"


class ExpressParcel(Parcel):
    """A proxy of :class:`Parcel`: moving it moves parcel rows."""

    class Meta:
        proxy = True


class Box(models.Model):
    """A box inside another box and stacked with others: relations to its own model."""

    name = models.CharField(max_length=50)
    inside = models.ForeignKey("self", null=True, on_delete=models.CASCADE, related_name="contents")
    stacked_with = models.ManyToManyField("self", blank=True)

    def __str__(self) -> str:
        return self.name


class Crate(Box):
    """A box with a table of its own (multi-table inheritance), which cannot be moved."""

    slats = models.IntegerField(default=0)


class Reading(models.Model):
    """A sensor reading: the kinds of value :class:`Parcel` lacks."""

    value = models.FloatField()
    day = models.DateField()
    at = models.TimeField()
    lasted = models.DurationField()
    sensor = models.UUIDField()
    extra = models.JSONField(null=True)

    def __str__(self) -> str:
        return f"{self.sensor} at {self.day} {self.at}"


class Invoice(models.Model):
    """An invoice of an order, not sharded with it: moving the order would orphan it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="invoices")

    def __str__(self) -> str:
        return f"invoice of {self.order_id}"
