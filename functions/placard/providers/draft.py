"""The offline provider: a layout proof of the copy, rendered with Pillow, free of charge."""

from __future__ import annotations

from placard.domain.jobs import Mode
from placard.providers.base import DRAFT, ImageRequest, ImageResult


class DraftProvider:
    name = DRAFT
    model = "draft-proof"

    def create(self, request: ImageRequest) -> ImageResult:
        from placard.providers import draft_render  # lazy: Pillow only where images are made

        if request.mode is Mode.EDIT:
            if request.source is None or request.box is None:
                raise ValueError("a draft edit needs the normalised source and its mask box")
            edited = draft_render.render_edit(request.source, request.box, request.texts)
            return ImageResult(images=(edited,) * request.n, model=self.model)
        images = tuple(
            draft_render.render_generate(
                request.size.width,
                request.size.height,
                request.template,
                request.texts,
                seed=f"{request.seed}#{index}",
            )
            for index in range(request.n)
        )
        return ImageResult(images=images, model=self.model)
