"""The static scan, driven by the fixtures: every `# expect: SLxxx` marker is found, nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seedlock.doctor.output import to_sarif
from seedlock.doctor.static import RULES, iter_files, scan, scan_file, scan_source, suppressions
from seedlock.errors import SeedlockError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "doctor"
ALL = sorted(FIXTURES.glob("*.py"))
EXPECT = re.compile(r"#.*\bexpect:\s*(SL\d{3}(?:\s*,\s*SL\d{3})*)")


def expected(path: Path) -> set[tuple[str, int]]:
    """The (rule, line) pairs a fixture marks with `# expect: SL101[, SL202]`."""
    out: set[tuple[str, int]] = set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        match = EXPECT.search(line)
        if match:
            out.update((rule.strip(), n) for rule in match.group(1).split(","))
    return out


def found(path: Path) -> set[tuple[str, int]]:
    return {(f.id, f.line or 0) for f in scan_file(str(path))}


@pytest.mark.parametrize("path", ALL, ids=[p.name for p in ALL])
def test_fixture_findings_are_exactly_the_marked_lines(path: Path) -> None:
    assert found(path) == expected(path)


def test_every_rule_has_a_positive_fixture_and_a_clean_twin() -> None:
    for rule in RULES.values():
        if rule.check is None:
            continue  # SL001 is tested with a file written at test time (ruff must parse the fixtures)
        positives = [p for p in ALL if p.name.startswith(rule.id.lower()) and not p.stem.endswith("_clean")]
        assert positives, f"no fixture for {rule.id}"
        for p in positives:
            assert any(r == rule.id for r, _ in expected(p)), f"{p.name} marks no {rule.id}"
            twin = p.with_name(f"{p.stem}_clean.py")
            assert twin.exists(), f"no clean twin for {p.name}"
            assert expected(twin) == set()


def test_rules_have_stable_ids_and_complete_text() -> None:
    for rule_id, rule in RULES.items():
        assert re.fullmatch(r"SL\d{3}", rule_id) and rule.id == rule_id
        assert rule.level in ("info", "warn", "error")
        assert rule.title and rule.why and rule.fix


def test_findings_carry_location_message_and_fix() -> None:
    path = FIXTURES / "sl101_unseeded_rng.py"
    first = scan_file(str(path))[0]
    assert (first.file, first.line, first.col) == (str(path), 11, 7)
    assert "default_rng()" in first.message and first.fix and first.why
    assert first.to_dict()["line"] == 11


def test_aliases_resolve() -> None:
    src = (
        "import numpy as np\nfrom numpy.random import default_rng as drng\nfrom random import Random\n"
        "import torch.backends.cudnn as cudnn\n"
        "a = np.random.default_rng()\nb = drng()\nc = Random()\ncudnn.benchmark = True\n"
    )
    assert [(f.id, f.line) for f in scan_source(src)] == [
        ("SL101", 5),
        ("SL101", 6),
        ("SL101", 7),
        ("SL402", 8),
    ]


def test_unimported_names_are_not_resolved() -> None:
    # `default_rng` not imported from numpy: some other function, not flagged.
    assert scan_source("def default_rng():\n    return 1\n\nx = default_rng()\n") == []


def test_suppression_comments() -> None:
    assert suppressions("a = 1  # seedlock: ignore[SL101,sl202]\n") == {1: frozenset({"SL101", "SL202"})}
    assert suppressions("s = '# seedlock: ignore'\n") == {}
    src = "import random\nr = random.Random()  # seedlock: ignore\n"
    assert scan_source(src) == []


def test_syntax_error_is_a_finding_and_the_scan_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a_broken.py").write_text("import os\n\ndef f(:\n    pass\n")
    (tmp_path / "b_ok.py").write_text("import random\nrandom.seed()\n")
    got = [(Path(f.file or "").name, f.id, f.line) for f in scan([tmp_path])]
    assert got == [("a_broken.py", "SL001", 3), ("b_ok.py", "SL101", 2)]


def test_undecodable_file_in_a_directory_is_a_finding(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes(b"x = '\xff\xfe'\n")
    [finding] = scan([tmp_path])
    assert finding.id == "SL001" and "cannot read" in finding.message


def test_scanned_code_is_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    (tmp_path / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nimport random\nrandom.seed()\n")
    assert [f.id for f in scan([tmp_path])] == ["SL101"]
    assert not marker.exists()


def test_directory_walk_is_sorted_and_skips_environments(tmp_path: Path) -> None:
    for rel in (
        "b.py",
        "a.py",
        "sub/c.py",
        ".hidden/x.py",
        ".venv/lib/y.py",
        "__pycache__/z.py",
        "env2/pyvenv.cfg",
        "env2/lib/w.py",
        "notes.txt",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    files = [Path(p).relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])]
    assert files == ["a.py", "b.py", "sub/c.py"]


def test_bad_inputs_raise_seedlock_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "blob.py").write_bytes(b"\x00\x01\x02")
    for bad, words in (
        ("missing.py", "not found"),
        ("notes.txt", "not a Python file"),
        ("blob.py", "binary"),
    ):
        with pytest.raises(SeedlockError, match=words):
            scan([tmp_path / bad])


def test_script_with_python_shebang_is_python(tmp_path: Path) -> None:
    script = tmp_path / "train"
    script.write_text("#!/usr/bin/env python3\nimport random\nrandom.seed()\n")
    assert [f.id for f in scan([script])] == ["SL101"]


def test_sarif_structure() -> None:
    findings = scan([FIXTURES / "sl202_unsorted_listing.py", FIXTURES / "sl401_dataloader_workers.py"])
    log = to_sarif(findings, version="0.1.0")
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} >= set(RULES)
    assert all(r["shortDescription"]["text"] and r["help"]["text"] for r in rules)
    assert len(run["results"]) == len(findings)
    for result, finding in zip(run["results"], findings, strict=True):
        assert result["ruleId"] == finding.id
        assert rules[result["ruleIndex"]]["id"] == finding.id
        assert result["level"] == {"warn": "warning", "info": "note"}[finding.status]
        loc = result["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"].endswith(Path(finding.file or "").name)
        assert loc["region"] == {"startLine": finding.line, "startColumn": finding.col}


ROOT = FIXTURES.parent.parent.parent
# The order and cuDNN rules' findings in the repository's own scripts: each is planted on purpose.
ORDER_RULES = {"SL201", "SL202", "SL402", "SL403"}
PLANTED = {
    ("tests/scripts/tf_scenarios.py", "SL201"),
    ("tests/scripts/entropy/str_set.py", "SL201"),
    ("tests/scripts/entropy/identity_set.py", "SL201"),
    ("tests/scripts/entropy/identity_set_ints.py", "SL201"),
}


def test_no_order_finding_in_the_examples_but_the_planted_ones() -> None:
    got = {
        (Path(f.file or "").relative_to(ROOT).as_posix(), f.id)
        for f in scan([ROOT / "examples", ROOT / "tests" / "scripts"])
        if f.id in ORDER_RULES
    }
    assert got - PLANTED == set(), "a false positive, or a script planted on purpose: add it to PLANTED"


def test_a_set_of_objects_hashed_by_identity_is_told_from_one_the_hash_seed_orders() -> None:
    """Identity: instances of a class of the file with no __hash__/__eq__ (a subclass too, items
    given to .add), torch's .parameters(). Not: a class defining __eq__/__hash__, a dataclass, str."""
    path = FIXTURES / "sl201_identity.py"
    lines = path.read_text().splitlines()
    said = {f.line: f.title for f in scan_file(str(path))}
    by_identity = {n for n, title in said.items() if "hashed by identity" in title}
    assert by_identity == {
        n
        for n, line in enumerate(lines, 1)
        if any(k in line for k in ("list(params)", "in nodes", "in seen"))
    }, said
    for n in by_identity:
        assert "which no hash seed fixes" in said[n] and "with the hash seed" not in said[n], said[n]
    assert "Node objects" in said[lines.index("for n in nodes:  # expect: SL201") + 1]
    assert (
        "torch tensors or modules (.parameters())"
        in said[next(n for n in by_identity if "params" in lines[n - 1])]
    )
