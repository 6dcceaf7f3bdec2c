"""The dashboard's pages: one module each, found by discovery (adding a page is adding a
module that defines `page = Page(...)`). The navigation lists them in `order`."""

from __future__ import annotations

import importlib
import pkgutil

from cloudtally.web.pages.base import Page


def _discover() -> list[Page]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        page = getattr(module, "page", None)
        if isinstance(page, Page):
            found.append(page)
    return sorted(found, key=lambda p: p.order)


PAGES = _discover()
