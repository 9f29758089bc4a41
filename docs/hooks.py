"""mkdocs hook: tidy the Sphinx-isms left in docstrings rendered by mkdocstrings.

The source docstrings use roles such as ``:class:`SkBuff``` and
``:func:`~netdrv_core.ether.eth_mac_addr```, which Markdown renders as
``:class:<code>SkBuff</code>``.  This hook turns each into a cross-reference
(an optional autoref: a link when the target is documented, plain code
otherwise).  A bare name is looked up in the module the page documents; ``~``
shows only the last component, as in Sphinx.  A reST ``::`` at the end of a
paragraph becomes ``:``.  Nothing else is changed.
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const):<code>(~?)([^<]*)</code>"
)
_LITERAL = re.compile(r"::</p>")
_DIRECTIVE = re.compile(r"^:::\s+([\w.]+)", re.MULTILINE)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """Rewrite leftover roles in a page rendered from docstrings."""
    if ":<code>" not in html and "::</p>" not in html:
        return html
    m = _DIRECTIVE.search(page.markdown or "")
    scope = m.group(1) if m else ""

    def role(match: re.Match[str]) -> str:
        target = _html.unescape(match.group(2)).strip("()")
        shown = target.rsplit(".", 1)[-1] if match.group(1) else target
        ident = target if target.startswith("netdrv_core.") or not scope else f"{scope}.{target}"
        return (
            f'<autoref identifier="{_html.escape(ident)}" optional>'
            f"<code>{_html.escape(shown)}</code></autoref>"
        )

    return _LITERAL.sub(":</p>", _ROLE.sub(role, html))
