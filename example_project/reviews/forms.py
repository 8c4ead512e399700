"""The add-review form."""

from __future__ import annotations

from django import forms

from .models import Review


class ReviewForm(forms.ModelForm):
    """What a visitor writes; the product comes from the URL."""

    class Meta:
        model = Review
        fields = ["rating", "title", "body", "author_name"]
        widgets = {"rating": forms.RadioSelect}
        labels = {"author_name": "Your name"}
