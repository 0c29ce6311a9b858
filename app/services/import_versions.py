"""The domain set's versions in an import: the change log of a JSON-lines export's settings line
(``project.domain_versions``) checked before a project is re-created from it, and the runs' ``domain_version``
checked against the versions of the project they go into (a file's run at a version the project lacks, or at a
version whose domains differ from the project's, is a 422 naming the field; nothing is written).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from app.services.domains import check_domains
from app.services.inputs import DomainChangeIn, DomainIn
from app.services.table_import import ParsedRuns, exported_time
from app.services.tabular import SETTINGS_KEY, VERSIONS_KEY
from mixers.domain_sets import domains_after
from store.errors import FieldError, InvalidInput, loc_text
from store.records import NewDomainVersion
from store.repository import Store

WHERE = f"{SETTINGS_KEY}.{VERSIONS_KEY}"
_DOMAINS = TypeAdapter(list[DomainIn])


def _bad(loc: str, msg: str, code: str = "invalid_project") -> InvalidInput:
    return InvalidInput(f"{loc}: {msg}", code=code, errors=[FieldError(loc, msg)])


def history(exported: Any, current: Sequence[str]) -> list[NewDomainVersion] | None:
    """The versions of an export's settings line (``None`` when it has none), checked: numbered 1, 2, ... in order,
    each one's domains valid, each change valid and leading from the version before to this one's domain names,
    and the last one's names ``current`` (the project's domains). A problem is a 422 naming
    ``project.domain_versions[i].<field>``."""
    if exported is None:
        return None
    if not isinstance(exported, list) or not exported:
        raise _bad(WHERE, "expected the list of the domain set's versions, oldest first")
    out: list[NewDomainVersion] = []
    for i, v in enumerate(exported):
        here = f"{WHERE}[{i}]"
        if not isinstance(v, dict):
            raise _bad(here, "expected an object {version, domains, change, note, created_at}")
        if v.get("version") != i + 1:
            raise _bad(f"{here}.version", f"expected version {i + 1} (versions are numbered 1, 2, ... in order)")
        try:
            domains = check_domains(_DOMAINS.validate_python(v.get("domains")), f"{here}.domains")
        except ValidationError as exc:
            e = exc.errors()[0]
            raise _bad(loc_text((f"{here}.domains", *e["loc"])), e["msg"]) from None
        except InvalidInput as exc:
            first = exc.errors[0]
            raise _bad(first.loc, first.msg) from None
        change = v.get("change")
        if i == 0:
            if change is not None:
                raise _bad(f"{here}.change", "version 1 has no change (null)")
        else:
            try:
                change = DomainChangeIn.model_validate(change).root.model_dump(exclude={"note"})
            except ValidationError as exc:
                e = exc.errors()[0]
                raise _bad(loc_text((f"{here}.change", *e["loc"][1:])), e["msg"]) from None
            try:
                names = [d["name"] for d in domains_after(out[-1].domains, change)]
            except ValueError as exc:
                raise _bad(f"{here}.change", f"does not apply to version {i}: {exc}") from None
            if names != [d["name"] for d in domains]:
                raise _bad(f"{here}.domains", f"the change makes the domains {names}, not these")
        note = v.get("note")
        out.append(
            NewDomainVersion(
                i + 1, domains, change, note if isinstance(note, str) else "", exported_time(v.get("created_at"))
            )
        )
    last = [d["name"] for d in out[-1].domains]
    if last != list(current):
        raise _bad(WHERE, f"the last version's domains {last} are not the project's domains {list(current)}")
    return out


def check_run_versions(parsed: ParsedRuns, versions: int) -> None:
    """Every run of the file is at a version ``1..versions`` (the versions the project will have), else a 422 on
    ``runs[i].domain_version`` with its line, before anything is written."""
    for i, run in enumerate(parsed.runs):
        if run.domain_version is not None and run.domain_version > versions:
            where = "the file has no change log (import a JSON-lines export to re-create the versions)"
            msg = f"the project has no domain version {run.domain_version} (current: {versions}); " + (
                where if versions == 1 else "the file's change log ends before it"
            )
            line = parsed.lines[i]
            raise InvalidInput(
                f"runs[{i}].domain_version{'' if line is None else f' (line {line})'}: {msg}",
                code="invalid_runs",
                errors=[FieldError(f"runs[{i}].domain_version", msg, line)],
            )


def check_against(store: Store, project_id: int, current: int, parsed: ParsedRuns) -> None:
    """A file going into an existing project: the versions its runs name, where its settings line lists them,
    must have the project's domain names at those versions (else 422 on ``project.domain_versions[i].domains``).
    Runs at versions the project lacks are refused by the runs' own check (``runs[i].domain_version``)."""
    used = {r.domain_version for r in parsed.runs if r.domain_version is not None and r.domain_version <= current}
    exported = (parsed.settings or {}).get(SETTINGS_KEY, {}).get(VERSIONS_KEY)
    if not used or not isinstance(exported, list):
        return
    here = {v.version: [d["name"] for d in v.domains] for v in store.domain_versions(project_id)}
    for i, v in enumerate(exported):
        if not isinstance(v, dict) or v.get("version") not in used or not isinstance(v.get("domains"), list):
            continue
        names = [d.get("name") for d in v["domains"] if isinstance(d, dict)]
        if names != here.get(v["version"]):
            raise _bad(
                f"{WHERE}[{i}].domains",
                f"version {v['version']} of the file has the domains {names}; the project's version {v['version']} "
                f"has {here.get(v['version'])}",
                code="domain_version_conflict",
            )
