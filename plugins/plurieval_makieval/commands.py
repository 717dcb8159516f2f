"""``plurieval makieval coverage`` (what the knowledge base covers, per language and topic) and
``plurieval makieval link`` (link one text and show what was found: the way to check the linker
on your own examples)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from .config import CultureKBConfig, LinkerConfig
from .plugin import LANGUAGES


def coverage(kb: Any, languages: list[str]) -> list[dict[str, Any]]:
    """Per prompt language: entities and category words of each offline topic that have a name
    the linker would look for in that language (its own labels, before the English fallback)."""
    from .kb import label_languages

    rows = []
    for lang in languages:
        own = set(label_languages(lang))
        row: dict[str, Any] = {"language": lang}
        for topic in kb.topics:
            ents = [e for e in kb.entities_in(topic) if e.kind == "entity"]
            cats = [e for e in kb.entities_in(topic) if e.kind == "category"]
            row[f"{topic}_entities"] = sum(any(e.labels.get(x) for x in own) for e in ents)
            row[f"{topic}_total"] = len(ents)
            row[f"{topic}_categories"] = sum(any(e.labels.get(x) for x in own) for e in cats)
        rows.append(row)
    return rows


def by_country(kb: Any, codes: list[str]) -> list[dict[str, Any]]:
    """Per country: dishes whose origin is the country (or an equivalent: the UK counts its
    nations), and holidays observed there, of which how many only there (the ones cultural
    specificity can count with ``holiday_origin: unique``)."""
    rows = []
    for code in codes:
        country = kb.countries.get(code.upper())
        if country is None:
            raise typer.BadParameter(f"country {code!r} is not in {kb.root / 'countries.jsonl'}")
        target = set(country.equivalents)
        food = [e for e in kb.entities_in("food") if e.kind == "entity" and target & set(e.origin)]
        fest = [e for e in kb.entities_in("festivals") if e.kind == "entity" and target & set(e.observed)]
        rows.append({"country": country.iso2, "name": country.name_en, "dishes": len(food),
                     "holidays": len(fest), "holidays_only_here": sum(len(e.observed) == 1 for e in fest)})
    return rows


def markdown(rows: list[dict[str, Any]], topics: tuple[str, ...]) -> str:
    head = "| language | " + " | ".join(f"{t}: entities with a name (of {rows[0][f'{t}_total']}) | {t}: category words"
                                         for t in topics) + " |"
    sep = "|---|" + "---:|---:|" * len(topics)
    lines = [head, sep]
    for r in rows:
        cells = []
        for t in topics:
            n, total = r[f"{t}_entities"], r[f"{t}_total"]
            cells += [f"{n} ({100 * n / total:.0f} %)" if total else "0", str(r[f"{t}_categories"])]
        lines.append(f"| {r['language']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def register(cli: typer.Typer) -> None:
    app = typer.Typer(help="MAKIEval tools: knowledge-base coverage and the entity linker.", no_args_is_help=True)
    cli.add_typer(app, name="makieval")

    @app.command("coverage")
    def coverage_cmd(
        data_dir: Annotated[str | None, typer.Option(help="culture-kb folder (default: $PLURIEVAL_DATA_DIR)")] = None,
        languages: Annotated[str, typer.Option(help="comma-separated prompt languages")] = ",".join(LANGUAGES),
        countries: Annotated[str | None, typer.Option(help="also per country (ISO codes): dishes from it, holidays in it")] = None,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """How many entities of each offline topic have a name in each prompt language (the
        linker also looks for English names in every language).

        Example: plurieval makieval coverage --languages en,de,ja --countries JP,DE,NG
        """
        from .kb import CultureKB

        kb = CultureKB(CultureKBConfig(data_dir=data_dir))
        rows = coverage(kb, [x.strip() for x in languages.split(",") if x.strip()])
        per_country = by_country(kb, [x.strip() for x in countries.split(",") if x.strip()]) if countries else []
        if as_json:
            print(json.dumps({"knowledge_base": kb.describe(), "coverage": rows, "by_country": per_country}, indent=2))
            return
        typer.echo(f"knowledge base: {kb.root} ({'sample' if kb.is_sample else 'culture-kb'}), records "
                   f"{kb.record_counts}")
        typer.echo(markdown(rows, kb.topics))
        if per_country:
            typer.echo("\n| country | dishes from it | holidays observed there | of which only there |\n|---|---:|---:|---:|")
            for r in per_country:
                typer.echo(f"| {r['country']} ({r['name']}) | {r['dishes']} | {r['holidays']} | {r['holidays_only_here']} |")

    @app.command("link")
    def link_cmd(
        text: Annotated[str, typer.Argument(help="the text to link")],
        language: Annotated[str, typer.Option(help="language of the text (its prompt language)")] = "en",
        topic: Annotated[str, typer.Option(help="food or festivals (offline); any topic with --knowledge-base wikidata")] = "food",
        country: Annotated[str | None, typer.Option(help="ISO code of the prompt's country (resolves ambiguous names)")] = None,
        knowledge_base: Annotated[str | None, typer.Option(help="culture-kb (default) or wikidata")] = None,
        data_dir: Annotated[str | None, typer.Option(help="culture-kb folder (default: $PLURIEVAL_DATA_DIR)")] = None,
    ) -> None:
        """Link one text and print every link as JSON (surface, span, id, kind, origin).

        Example: plurieval makieval link "Try sushi, ramen and a bowl of noodle soup." --country JP
        """
        from plurieval.api import Resources, get_host

        from .kb import CultureKB, load_countries
        from .linking import Linker

        resources = Resources(get_host())
        params = {"data_dir": data_dir} if data_dir and knowledge_base in (None, "culture-kb") else {}
        kb = resources.get("knowledge_base", knowledge_base, params)
        target: list[str] = []
        if country:
            root = kb.root if isinstance(kb, CultureKB) else CultureKB(CultureKBConfig(data_dir=data_dir)).root
            countries = load_countries(root / "countries.jsonl")
            found = countries.get(country.upper())
            if found is None:
                raise typer.BadParameter(f"country {country!r} is not in {root / 'countries.jsonl'}")
            target = [found.qid, *found.equivalents]
        links = Linker(kb, LinkerConfig()).link(text, language=language, topic=topic, target=target)
        print(json.dumps(links, indent=2, ensure_ascii=False))
