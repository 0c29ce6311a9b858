"""Real multi-domain text from Debian packages, cut into byte-level train/validation shards.

``python -m bench.lm.corpus [--out bench/lm/data]`` downloads the packages below with ``apt-get download``
(Debian's archive only: nothing comes from a model or data hub), unpacks them with ``dpkg -x`` into a scratch
folder, gathers each domain's files, and writes ``<out>/<domain>.train.bin`` and ``<domain>.val.bin`` (raw bytes:
the trainer's tokens are bytes, vocabulary 256) plus ``manifest.json`` with each shard's size and sha256 and each
package's version and licence. The shards are git-ignored; this script rebuilds them (deterministically, for the
same package versions: the manifest records them).

Splitting: a domain's files (or fixed-size pieces of one large file) are shuffled with a fixed seed; validation
takes pieces until ``val_bytes``, training takes the rest up to ``train_bytes``. Pieces never straddle the split.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "data"
PIECE_BYTES = 16_384  # a large single file (the dictionary) is cut into pieces of this size before splitting


@dataclass(frozen=True)
class DomainSource:
    """One domain: the Debian packages it comes from, their licence, and how to read its text from them."""

    name: str
    packages: tuple[str, ...]
    licence: str
    read: Callable[[Path], Iterator[bytes]]  # unpacked root -> documents


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink())


def _python(root: Path) -> Iterator[bytes]:
    for p in _files(root, "usr/lib/python3.11/**/*.py"):
        yield p.read_bytes()


def _headers(root: Path) -> Iterator[bytes]:
    for p in _files(root, "usr/include/**/*.h"):
        yield p.read_bytes()


def _man(root: Path) -> Iterator[bytes]:
    for p in _files(root, "usr/share/man/man*/*.gz"):
        yield gzip.decompress(p.read_bytes())


def _kernel_docs(root: Path) -> Iterator[bytes]:
    for p in _files(root, "usr/share/doc/linux-doc-6.1/Documentation/**/*.rst.gz"):
        yield gzip.decompress(p.read_bytes())


def _perl_pod(root: Path) -> Iterator[bytes]:
    # Perl's own documentation in POD (perlfunc, perlre, the delta files...): a held-out target, never trained on.
    for p in _files(root, "usr/share/perl/*/pod/*.pod"):
        yield p.read_bytes()


def _dictionary(root: Path) -> Iterator[bytes]:
    # dictzip (.dz) is gzip with a random-access index in an extra header field: gzip reads it whole.
    text = gzip.decompress((root / "usr/share/dictd/gcide.dict.dz").read_bytes())
    for i in range(0, len(text), PIECE_BYTES):
        yield text[i : i + PIECE_BYTES]


def _fortunes(root: Path) -> Iterator[bytes]:
    # One document per fortune file (43 files): validation holds out whole files, as for the other domains.
    for p in _files(root, "usr/share/games/fortunes/*"):
        if p.suffix not in {".dat", ".u8"}:
            yield p.read_bytes()


SOURCES: tuple[DomainSource, ...] = (
    DomainSource("python", ("libpython3.11-stdlib",), "PSF-2.0 (Python Software Foundation License)", _python),
    DomainSource(
        "c_headers",
        ("linux-libc-dev", "libc6-dev"),
        "GPL-2 with the Linux syscall note (kernel UAPI headers); LGPL-2.1+ (glibc headers)",
        _headers,
    ),
    DomainSource("man", ("manpages", "manpages-dev"), "GPL-2+ and the Linux man-pages verbatim licences", _man),
    DomainSource(
        "kernel_docs", ("linux-doc-6.1",), "GPL-2 (Linux kernel documentation; some files GPL-2+/BSD)", _kernel_docs
    ),
    DomainSource("dictionary", ("dict-gcide",), "GPL-3+ (GCIDE, from Webster's 1913 and WordNet)", _dictionary),
    DomainSource("fortunes", ("fortunes", "fortunes-min"), "BSD-4-clause (fortune-mod data; quotations)", _fortunes),
    DomainSource("perl_pod", ("perl-doc",), "Artistic-1.0 or GPL-1+ (Perl 5 documentation)", _perl_pod),
)

#: Text sets the target benchmark scores but never trains on (``bench.lm.scale``): kernel documentation
#: (reStructuredText prose about C code) and Perl's POD manuals (prose about a programming language).
TARGETS = ("kernel_docs", "perl_pod")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def split_documents(docs: Sequence[bytes], train_bytes: int, val_bytes: int, seed: int = 0) -> tuple[bytes, bytes]:
    """Shuffle ``docs`` with ``seed``; validation takes whole documents until ``val_bytes``, training the rest
    until ``train_bytes`` (the last document may be cut). Documents are joined with a blank line."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    val: list[bytes] = []
    train: list[bytes] = []
    n_val = n_train = 0
    for i in order:
        doc = docs[i] + b"\n\n"
        if n_val < val_bytes:
            val.append(doc)
            n_val += len(doc)
        elif n_train < train_bytes:
            train.append(doc[: train_bytes - n_train])
            n_train += len(train[-1])
    return b"".join(train), b"".join(val)


def write_shards(
    texts: Mapping[str, Sequence[bytes]],
    out: Path,
    train_bytes: int,
    val_bytes: int,
    extra: dict[str, dict] | None = None,
) -> dict:
    """Write ``<domain>.train.bin``/``.val.bin`` for each domain's documents and ``manifest.json``; returns it."""
    out.mkdir(parents=True, exist_ok=True)
    domains: dict[str, dict] = {}
    for name, docs in texts.items():
        train, val = split_documents(docs, train_bytes, val_bytes)
        if not train or not val:
            raise ValueError(f"domain {name!r} has too little text for a train and a validation shard")
        entry: dict = {"documents": len(docs), "source_bytes": sum(len(d) for d in docs)}
        for split, data in (("train", train), ("val", val)):
            path = out / f"{name}.{split}.bin"
            path.write_bytes(data)
            entry[split] = {"file": path.name, "bytes": len(data), "sha256": sha256(path)}
        entry.update((extra or {}).get(name, {}))
        domains[name] = entry
    manifest = {"tokenizer": "bytes (vocabulary 256)", "train_bytes_cap": train_bytes, "domains": domains}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _package_version(deb: Path) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def build(out: Path, train_bytes: int, val_bytes: int, domains: Sequence[str] | None = None) -> dict:
    """Download, unpack and shard the chosen domains (all by default)."""
    chosen = [s for s in SOURCES if domains is None or s.name in domains]
    texts: dict[str, list[bytes]] = {}
    extra: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mixopt-corpus-") as tmp:
        debs, root = Path(tmp) / "debs", Path(tmp) / "root"
        debs.mkdir()
        packages = sorted({p for s in chosen for p in s.packages})
        subprocess.run(["apt-get", "download", *packages], cwd=debs, check=True, capture_output=True)
        versions: dict[str, str] = {}
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
            versions[deb.name.split("_")[0]] = _package_version(deb)
        for s in chosen:
            texts[s.name] = list(s.read(root))
            extra[s.name] = {"packages": {p: versions[p] for p in s.packages}, "licence": s.licence}
    return write_shards(texts, out, train_bytes, val_bytes, extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train-bytes", type=int, default=6_000_000, help="cap of each domain's train shard")
    parser.add_argument("--val-bytes", type=int, default=262_144, help="size of each domain's validation shard")
    parser.add_argument("--domains", nargs="*", choices=[s.name for s in SOURCES])
    args = parser.parse_args(argv)
    manifest = build(args.out, args.train_bytes, args.val_bytes, args.domains)
    for name, d in manifest["domains"].items():
        print(f"{name:12s} train {d['train']['bytes']:>10,d}  val {d['val']['bytes']:>8,d}  {d['licence']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
