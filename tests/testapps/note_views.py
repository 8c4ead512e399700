"""Views of the several-primaries and presets tests: write a note, then read it back.

``legacy_app.Note`` is on no router of the suite's own settings, so its table exists on
``default`` and on the ``master-*`` aliases; the tests route it with their own routers.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path

from tests.testapps.legacy_app.models import Note
from tests.testapps.replica_app.models import Review

READS = 5


def add_note(request: HttpRequest) -> HttpResponse:
    """Create a note from ``text`` and redirect to its page."""
    note = Note.objects.create(text=request.POST["text"])
    return HttpResponseRedirect(f"/notes/{note.pk}/")


def note_page(request: HttpRequest, pk: int) -> JsonResponse:
    """The note, read ``READS`` times; ``read_from`` lists the alias of each read."""
    notes = [Note.objects.get(pk=pk) for _ in range(READS)]
    return JsonResponse({"text": notes[0].text, "read_from": [note._state.db for note in notes]})


def edit_note(request: HttpRequest, pk: int) -> JsonResponse:
    """Change the note's text, then read it again in the same request."""
    Note.objects.filter(pk=pk).update(text=request.POST["text"])
    note = Note.objects.get(pk=pk)
    return JsonResponse({"text": note.text, "read_from": note._state.db})


def notes_after_a_review(request: HttpRequest) -> JsonResponse:
    """Write a review (another router's model), then say where the notes are read from."""
    Review.objects.create(title=request.POST["title"])
    return JsonResponse({"read_from": Note.objects.all().db})


urlpatterns = [
    path("notes/", add_note),
    path("notes/<int:pk>/", note_page),
    path("notes/<int:pk>/edit/", edit_note),
    path("notes/after-a-review/", notes_after_a_review),
]
