"""Sphinx extension of the ntklab course (registered in _config.yml, local_extensions).

* Each chapter page offers its executed notebook: the .ipynb that myst-nb wrote under
  ``jupyter_execute`` is copied next to the page's source in ``_sources`` and listed in the
  theme's download button (sphinx-book-theme shows an ``.ipynb`` entry when the page context
  has ``ipynb_source``; for text notebooks it lists only the ``.md``).
* An author-year bibliography style (``authoryear``) with arXiv and DOI links, matching the
  author-year citations.
* The ``results-index`` directive: every numbered box of sphinx-proof (theorems, lemmas,
  propositions, corollaries, definitions, remarks) with its number and title, by chapter, each
  a link (sphinx-proof's own index lists bare labels).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting import toplevel
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.formatting.unsrt import pages
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.template import field, join, names, optional, optional_field, sentence, tag
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import make_refnode


class AuthorYearLabelStyle(BaseLabelStyle):
    """Labels "Jacot et al. 2018", "Bietti & Mairal 2019" (a, b, ... when two would clash)."""

    def format_labels(self, sorted_entries):
        labels = [self._label(entry) for entry in sorted_entries]
        for label in set(labels):
            if labels.count(label) > 1:
                suffixes = iter("abcdefghijklmnopqrstuvwxyz")
                labels = [lab + next(suffixes) if lab == label else lab for lab in labels]
        yield from labels

    @staticmethod
    def _label(entry):
        persons = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [Text.from_latex(" ".join(p.last_names)).render_as("text") for p in persons]
        who = f"{names[0]} et al." if len(names) > 2 else " & ".join(names) or entry.key
        return f"{who} {entry.fields.get('year', '')}".strip()


class AuthorYearStyle(UnsrtStyle):
    """ "Jacot, A., Gabriel, F., and Hongler, C. (2018). Title. In *Venue*. arXiv:1806.07572."""

    default_sorting_style = "author_year_title"
    default_label_style = "authoryear"
    default_name_style = "lastfirst"

    def __init__(self, **kwargs):
        kwargs.setdefault("abbreviate_names", True)
        super().__init__(**kwargs)

    def _head(self):
        authors = names("author", sep=", ", sep2=" and ", last_sep=", and ")
        return sentence[join[authors, " (", field("year"), ")"]]

    def _entry(self, e, title, where):
        note = sentence[optional_field("note")]
        return toplevel[self._head(), title, where, note, self.format_web_refs(e)]

    def get_article_template(self, e):
        where = sentence[
            tag("em")[field("journal")],
            optional[join[field("volume"), optional["(", field("number"), ")"], ":", pages]],
        ]
        return self._entry(e, self.format_title(e, "title"), where)

    def get_inproceedings_template(self, e):
        where = join(sep=" ")[
            "In",
            sentence[
                self.format_btitle(e, "booktitle", as_sentence=False),
                self.format_volume_and_series(e, as_sentence=False),
                optional[pages],
            ],
        ]
        return self._entry(e, self.format_title(e, "title"), where)

    def get_incollection_template(self, e):
        where = join(sep=" ")[
            "In",
            sentence[
                self.format_btitle(e, "booktitle", as_sentence=False),
                self.format_volume_and_series(e, as_sentence=False),
                optional[pages],
                optional_field("publisher"),
            ],
        ]
        return self._entry(e, self.format_title(e, "title"), where)

    def get_book_template(self, e):
        where = sentence(capfirst=True)[
            self.format_volume_and_series(e, as_sentence=False),
            optional_field("publisher"),
        ]
        return self._entry(e, self.format_btitle(e, "title"), where)

    def get_misc_template(self, e):
        where = sentence[optional_field("howpublished")]
        return self._entry(e, self.format_title(e, "title"), where)


register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabelStyle)
register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


def _offer_executed_notebook(app, pagename, templatename, context, doctree):
    """Copy the executed notebook of a chapter into _sources and list it for download."""
    if app.builder.format != "html" or doctree is None:
        return
    executed = Path(app.env.mystnb_config.output_folder) / f"{pagename}.ipynb"
    if not executed.exists():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


class results_index(nodes.General, nodes.Element):
    """Placeholder, replaced once every box has its number (doctree-resolved)."""


class ResultsIndexDirective(SphinxDirective):
    """``{results-index}``: the list of the book's numbered boxes, by chapter."""

    def run(self):
        return [results_index()]


def _collect_box_titles(app, doctree):
    """Remember each box's title (sphinx-proof keeps the label, type and number only)."""
    titles = getattr(app.env, "ntklab_box_titles", {})
    titles = {k: v for k, v in titles.items() if v[0] != app.env.docname}
    # the node keeps the title as formatted by proof_title_format (" (%t)"): take %t back out
    before, _, after = app.config.proof_title_format.partition("%t")
    boxes = [
        node
        for node in doctree.findall(nodes.Element)
        if "realtype" in node.attributes and "label" in node.attributes
    ]
    for position, node in enumerate(boxes):
        title = node.get("title", "")
        if before and title.startswith(before):
            title = title[len(before) :]
        if after and title.endswith(after):
            title = title[: -len(after)]
        titles[node["label"]] = (app.env.docname, title.strip(), position)
    app.env.ntklab_box_titles = titles


def _merge_box_titles(app, env, docnames, other):
    env.ntklab_box_titles = {
        **getattr(env, "ntklab_box_titles", {}),
        **getattr(other, "ntklab_box_titles", {}),
    }


def _number(env, entry, label):
    if entry["nonumber"]:
        return None
    numbers = env.toc_fignumbers.get(entry["docname"], {}).get(entry["countertype"], {})
    return tuple(numbers.get(label, ()))


def _fill_results_index(app, doctree, fromdocname):
    env = app.env
    proofs = getattr(env, "proof_list", {})
    titles = getattr(env, "ntklab_box_titles", {})
    for placeholder in list(doctree.findall(results_index)):
        by_doc = {}
        for label, entry in proofs.items():
            number = _number(env, entry, label)
            if number is None:
                continue
            position = titles.get(label, (None, "", 0))[2]
            by_doc.setdefault(entry["docname"], []).append((position, number, label, entry))
        outer = nodes.bullet_list()
        for docname in sorted(by_doc):
            chapter = nodes.list_item()
            head = nodes.paragraph()
            chapter_title = nodes.strong(text=env.titles[docname].astext())
            head += make_refnode(app.builder, fromdocname, docname, "", chapter_title)
            chapter += head
            inner = nodes.bullet_list()
            for _, number, label, entry in sorted(by_doc[docname], key=lambda t: t[:2]):
                name = f"{entry['realtype'].title()} {'.'.join(map(str, number))}"
                title = titles.get(label, (None, "", 0))[1]
                item = nodes.list_item()
                para = nodes.paragraph()
                para += make_refnode(
                    app.builder, fromdocname, docname, entry["ids"][0], nodes.Text(name)
                )
                if title:
                    para += nodes.Text(f": {title}")
                item += para
                inner += item
            chapter += inner
            outer += chapter
        placeholder.replace_self(outer)


def setup(app):
    # after myst-nb and the theme's own handlers (priority 500), before the header is drawn
    app.connect("html-page-context", _offer_executed_notebook, priority=400)
    app.add_node(results_index)
    app.add_directive("results-index", ResultsIndexDirective)
    app.connect("doctree-read", _collect_box_titles)
    app.connect("env-merge-info", _merge_box_titles)
    app.connect("doctree-resolved", _fill_results_index)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
