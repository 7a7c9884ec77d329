"""Build ``cleanapp_geo/datasets/synthetic_words.tsv``: the synthetic generator's real words.

The generator (:mod:`cleanapp_geo._synthetic_words`) has a fixed 5,000-word vocabulary
sampled by a Zipf–Mandelbrot law: about 240 hand-picked litter and hazard words first,
then the words of this file in rank order, each with its role in a report's sentence
(``state``, ``thing``, ``problem``, ``place``, ``time``). The words come from WordNet 3.0
(Debian's ``wordnet-base``, Princeton's WordNet licence: free use with its notice kept):

* states: adjectives; things: nouns whose commonest sense is an artifact, substance,
  natural object, plant, food or animal; problems: states and phenomena (``leak``,
  ``rot``); places: locations; times: time nouns;
* states and problems that WordNet's sense-tagged corpus has seen a few times
  (``tagsense_cnt`` >= 3 and 2: common adjectives), things, places and times it has seen,
  then untagged short artifacts, foods and substances to complete the 5,000; lowercase in
  WordNet (no proper names), 3–10 letters, none a stop word of either model, none of the
  hand-picked words, none of a short list of words a demo city should not show;
* the plurals of the seen artifacts, animals and plants ("benches", "weeds") as things too;
* ordered by how often the corpus tagged them, the roles interleaved in fixed shares.

Run once by hand (``apt-get install wordnet-base``), never at run time::

    .venv/bin/python scripts/make_synthetic_words.py > cleanapp_geo/datasets/synthetic_words.tsv
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cleanapp_geo._synthetic_words import _REAL_WORDS, _VOCABULARY_SIZE  # noqa: E402
from cleanapp_geo.text import DEFAULT_STOP_WORDS, UPSTREAM_STOP_WORDS  # noqa: E402

WORDNET = Path("/usr/share/wordnet")
# WordNet lexicographer files of each role.
ROLES = {
    "state": ("adj", {0}),
    "thing": ("noun", {5, 6, 13, 17, 20, 27}),
    "problem": ("noun", {19, 26}),
    "place": ("noun", {15}),
    "time": ("noun", {28}),
}
SHARES = {"state": 0.16, "thing": 0.68, "problem": 0.08, "place": 0.045, "time": 0.035}
# Fewest times a role's words were tagged in WordNet's corpus: common adjectives and problems
# only; things also untagged (concrete but rarer words, commonest senses first) to fill up.
MIN_TAGGED = {"state": 3, "thing": 0, "problem": 2, "place": 1, "time": 1}
AVOID = set(
    """erotic goddam goddamn queer sexy nude naked gay lesbian retarded crippled fat ugly
    stupid idiotic damned bloody sexual obscene lewd horny kinky drunk drunken insane crazy
    dumb lunatic moronic jewish muslim christian catholic black white negro colored oriental
    bombing genocide massacre murder suicide slaughter torture killing crapper crixivan cro
    creese cristal shit piss fuck bitch bastard nigger whore slut rape rapist porn porno cunt
    dick cock prick pussy tits wank dildo condom viagra heroin cocaine bomb gun rifle pistol
    grenade explosive weapon shotgun revolver dynamite missile torpedo cannon bullet
    ammunition napalm noose gallows coffin corpse cadaver harem harems brothel brothels
    etcetera etceteras""".split()
)
WORD = re.compile(r"^[a-z]{3,10}$")


def load(pos: str, lowercase: set[str]) -> dict[str, tuple[int, int, int]]:
    """Map each lemma to (tagged count, lexicographer file of the first sense, sense count)."""
    lexfile = {}
    for line in (WORDNET / f"data.{pos}").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        parts = line.split()
        lexfile[parts[0]] = int(parts[1])
        for k in range(int(parts[3], 16)):
            form = parts[4 + 2 * k]
            if form == form.lower():
                lowercase.add(form)
    index = {}
    for line in (WORDNET / f"index.{pos}").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        p = line.split()
        rest = p[4 + int(p[3]) :]
        index[p[0]] = (int(rest[1]), lexfile[rest[2]], int(rest[0]))
    return index


def plural(word: str, irregular: dict[str, str]) -> str:
    """Return the plural of a countable noun (WordNet exceptions, else English rules)."""
    if word in irregular:
        return irregular[word]
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def main() -> None:
    """Print the words in rank order with their roles."""
    lowercase: set[str] = set()
    tables = {pos: load(pos, lowercase) for pos in ("noun", "adj")}
    taken = set(_REAL_WORDS) | DEFAULT_STOP_WORDS | UPSTREAM_STOP_WORDS | AVOID
    irregular = {}
    for line in (WORDNET / "noun.exc").read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if len(parts) == 2:
            irregular.setdefault(parts[1], parts[0])
    candidates: dict[str, list[str]] = {}
    for role, (pos, files) in ROLES.items():
        rows = [
            (-tag, -senses, len(word), word)
            for word, (tag, first, senses) in tables[pos].items()
            if WORD.match(word) and word in lowercase and word not in taken
            and tag >= MIN_TAGGED[role] and first in files
            and (tag >= 1 or (first in (6, 13, 27) and len(word) <= 8))
        ]  # fmt: skip
        if role == "thing":  # plurals of countable things (artifacts, animals, plants)
            nouns = tables["noun"]
            rows += [
                (r[0], r[1], r[2] + 0.5, plural(r[3], irregular))
                for r in list(rows)
                if r[0] < 0 and nouns[r[3]][1] in (5, 6, 20) and not r[3].endswith("s")
            ]
            rows = [r for r in rows if WORD.match(r[3]) and r[3] not in taken]
        candidates[role] = [row[-1] for row in sorted(rows)]
    seen: set[str] = set()
    for role in candidates:
        candidates[role] = [w for w in candidates[role] if not (w in seen or seen.add(w))]
    need = _VOCABULARY_SIZE - len(dict.fromkeys(_REAL_WORDS))
    used = dict.fromkeys(ROLES, 0)
    for _ in range(need):  # the role furthest behind its share goes next
        role = min(
            (r for r in ROLES if used[r] < len(candidates[r])),
            key=lambda r: (used[r] + 1) / SHARES[r],
        )
        print(f"{candidates[role][used[role]]}\t{role}")
        used[role] += 1


if __name__ == "__main__":
    main()
