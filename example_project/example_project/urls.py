"""URLs of the example site."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import path
from products import views as product_views
from reviews import views as review_views

urlpatterns = [
    path("", product_views.product_list, name="product_list"),
    path("products/<slug:slug>/", product_views.product_detail, name="product_detail"),
    path("products/<slug:slug>/review/", review_views.review_create, name="review_create"),
    path(
        "products/<slug:slug>/reviews/<int:pk>/",
        review_views.review_detail,
        name="review_detail",
    ),
    path("reviews/latest/", review_views.latest_reviews, name="latest_reviews"),
    path("admin/", admin.site.urls),
]

if getattr(settings, "TOOLBAR", False):  # make serve, with DEBUG (settings/base.py)
    from debug_toolbar.toolbar import debug_toolbar_urls

    urlpatterns += debug_toolbar_urls()
