#!/usr/bin/env bash
# Mutation testing of the core modules with mutmut 3 (`pip install -e ".[mutation]"`). Not part of CI:
# it takes minutes per module (figures: README "Mutation testing"; survivors: docs/mutation-survivors.md).
#
#   scripts/mutation.sh [MODULE...]     MODULE: roles recommend redact extract transcribe themes gaps (default: all)
#   scripts/mutation.sh --survivors MODULE...   the last run's surviving mutants with their changes
#   scripts/mutation.sh --table [MODULE...]     the kill table of the last runs, without running anything
#
# Each module runs in its own scratch copy of the working tree ($MUTATION_DIR/MODULE, default .mutation/,
# git-ignored) with its own [tool.mutmut] section, so a run never edits the project's pyproject.toml and
# other work in the tree does not change the code under test half-way. mutmut picks, per mutated function,
# the tests of the module's selection that call it (coverage), and runs them with -x until one fails.
# Killed = a test failed or timed out; survived / no tests = nothing noticed the change.
#
# Environment: MUTATION_JOBS (parallel mutants, default 2), MUTATION_NICE (default 15),
# MUTATION_DIR (scratch root), MUTATION_KEEP=1 (reuse an earlier scratch copy and its results: the
# tests are copied afresh and only the mutants that survived last time are run again).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRATCH="${MUTATION_DIR:-$ROOT/.mutation}"
JOBS="${MUTATION_JOBS:-2}"
NICE="${MUTATION_NICE:-15}"
ALL=(roles recommend redact extract transcribe themes gaps)

# MODULE -> files mutated (globs) | mutant names run (globs) | test files selected | extra pytest args (TOML)
#           | extra [tool.mutmut] settings (TOML lines joined by ';')
spec() {
  case "$1" in
    roles)     echo "nlp/roles.py|nlp.roles.*|tests/test_mut_roles.py tests/test_importers.py tests/test_import_formats.py" ;;
    # of the report tests, those about recommendations (each builds a report: 1-3 s)
    recommend) echo 'nlp/report/recommend.py|nlp.report.recommend.*|tests/test_mut_recommend.py tests/test_report_truth.py|"-k", "test_mut_recommend or recommendations or steps_rank or no_comparison or identical_labels"' ;;
    # the 50,000-character timing cases check the rules' regexes (not mutated), at seconds per mutant
    redact)    echo 'nlp/redact.py|nlp.redact.*|tests/test_mut_redact.py tests/test_redact.py|"-k", "not hostile_input_is_fast"' ;;
    # core only: cue counting, unit features, rule kinds, what is never a statement, the opening,
    # gold matching; the classifier's fit/predict (e5 + training, ~40 s a run) is left to test_extract.py
    extract)   echo "nlp/extract.py|$(printf 'nlp.extract.%s__* ' 'xǁCueRulesǁcount' 'xǁCueRulesǁ_tok_ok' \
                 x__units_of_call x_rule_scores x_rule_proba x_non_statement x_context_kind x__substantive x__flagged \
                 x_find_opening x__extend x__question x_extract_units x_spans_match x_unit_labels)|tests/test_mut_extract.py" ;;
    # test_transcribe.py decodes and echo-suppresses real audio in each test (1-2 s each, ~40 min a run):
    # the scripted-recogniser tests cover the same batch logic in a fraction of that
    transcribe) echo "nlp/transcribe.py|nlp.transcribe.*|tests/test_mut_transcribe.py" ;;
    # core: the model (fit, clusters, merge, prune, scores, predict), identical texts, build_themes with
    # kept ids and emerging themes; labels, terms and the themes file are left out (phrase_labels alone
    # has ~400 mutants and its tests run the e5 model on gold themes)
    themes)    echo "nlp/themes.py|$(printf 'nlp.themes.%s__* ' x_text_key x_unify x__centroids x__unit \
                 'xǁThemeModelǁfit' 'xǁThemeModelǁ_scores' 'xǁThemeModelǁ_cluster' 'xǁThemeModelǁ_merge' \
                 'xǁThemeModelǁ_prune' 'xǁThemeModelǁtransform' 'xǁThemeModelǁpredict' 'xǁThemeModelǁpredict_scores' \
                 x_build_themes)|tests/test_mut_themes.py tests/test_themes.py||process_isolation = \"forkserver\"" ;;
    # ^ forkserver: the e5 model's threads do not survive a plain fork (every mutant timed out)
    # core: statistics, step kinds, calibration, the adherence decision and the matching arithmetic;
    # the e5 matching itself (match_calls, coverage) takes 10-40 s a test and is left to test_gaps.py
    gaps)      echo 'nlp/gaps/stats.py nlp/gaps/kinds.py nlp/gaps/calibration.py nlp/gaps/adherence.py nlp/gaps/matching.py|nlp.gaps.stats.* nlp.gaps.kinds.* nlp.gaps.calibration.* nlp.gaps.adherence.* nlp.gaps.matching.x__per_step__* nlp.gaps.matching.x__excl__* nlp.gaps.matching.x__step_spread__*|tests/test_mut_gaps.py tests/test_gaps.py tests/test_gaps_kinds.py|"-k", "not by_meaning and not adherence_and_evidence and not tables_csvs and not coverage_with_theme and not present_paraphrased_absent and not complementary_calls"' ;;
    *) echo "unknown module '$1'; one of: ${ALL[*]}" >&2; return 2 ;;
  esac
}

toml_list() {  # words -> TOML array of strings
  local out="" w
  for w in "$@"; do out+="\"$w\", "; done
  echo "[${out%, }]"
}

run_module() {
  local m="$1" s files names tests extra conf dir
  s="$(spec "$m")" || return 2
  IFS='|' read -r files names tests extra conf <<<"$s"
  local glob="$names"
  dir="$SCRATCH/$m"
  if [[ "${MUTATION_KEEP:-0}" != 1 || ! -d "$dir" ]]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$ROOT" && tar -cf - --exclude=__pycache__ --exclude=.pytest_cache --exclude=.hypothesis \
        nlp cli.py tests models data scripts README.md pyproject.toml) | (cd "$dir" && tar -xf -)
  else
    # new or changed tests against the same mutants: only last time's survivors run again
    (cd "$ROOT" && tar -cf - --exclude=__pycache__ tests) | (cd "$dir" && tar -xf -)
    rm -rf "$dir/mutants/tests"
    cp "$ROOT/pyproject.toml" "$dir/pyproject.toml"
    local again
    again="$(set -f; survivors "$dir" $glob)"
    [[ -n "$again" ]] && names="$again"
  fi
  local existing=() t
  for t in $(cd "$dir" && echo $tests); do [[ -e "$dir/$t" ]] && existing+=("$t"); done
  local conf_lines="${conf//;/$'\n'}"
  # shellcheck disable=SC2046
  cat >>"$dir/pyproject.toml" <<EOF

[tool.mutmut]
source_paths = ["nlp"]
only_mutate = $(set -f; toml_list $files)
also_copy = ["cli.py", "models", "data", "scripts", "README.md"]
pytest_add_cli_args = ["-m", "not slow", "-x", "-q", "-p", "no:cacheprovider"${extra:+, $extra}]
pytest_add_cli_args_test_selection = $(toml_list "${existing[@]}")
use_git_change_detection = false
# a mutant that loops is stopped after 10x its tests' measured time (CPU seconds), not mutmut's 30x
timeout_multiplier = 5.0
$conf_lines
EOF
  echo "$glob" >"$dir/names"
  echo "== $m: mutating $files, tests: $tests"
  local t0=$SECONDS
  # shellcheck disable=SC2086  # $names: globs for mutmut, not for the shell (set -f)
  (set -f; cd "$dir" && nice -n "$NICE" python3 -m mutmut run --max-children "$JOBS" $names >"$dir/run.log" 2>&1) \
    || { echo "mutmut failed for $m, see $dir/run.log" >&2; tail -20 "$dir/run.log" >&2; return 1; }
  echo "$m $((SECONDS - t0))" >>"$SCRATCH/times"
}

survivors() {  # DIR GLOB...: names of the mutants that survived (or had no test) in DIR's last run
  python3 - "$@" <<'EOF'
import fnmatch, json, sys
from pathlib import Path
from mutmut.stats import status_by_exit_code

d, globs = Path(sys.argv[1]), sys.argv[2:]
for meta in sorted((d / "mutants").rglob("*.meta")):
    for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
        if status_by_exit_code[code] in ("survived", "no tests") and any(fnmatch.fnmatchcase(name, g) for g in globs):
            print(name)
EOF
}

summary() {  # per-module table from the scratch copies' mutmut results
  python3 - "$SCRATCH" "$@" <<'EOF'
import fnmatch, json, sys
from collections import Counter
from pathlib import Path
from mutmut.stats import status_by_exit_code

scratch, modules = Path(sys.argv[1]), sys.argv[2:]
print(f"| module | killed | total | % | survived | no tests | timeout |")
print(f"| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for m in modules:
    c = Counter()
    names = (scratch / m / "names").read_text().split() if (scratch / m / "names").exists() else ["*"]
    for meta in (scratch / m / "mutants").rglob("*.meta"):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if not any(fnmatch.fnmatchcase(name, n) for n in names):
                continue
            c[status_by_exit_code[code]] += 1
    total = sum(c.values())
    killed = c["killed"] + c["timeout"] + c["caught by type check"]
    pct = f"{100 * killed / total:.1f}" if total else "-"
    print(f"| {m} | {killed} | {total} | {pct} | {c['survived']} | {c['no tests']} | {c['timeout']} |")
EOF
}

show_survivors() {  # MODULE...: each surviving mutant of the last run with its change
  local - m
  set -f  # the names file holds globs for mutmut's names, not for the shell
  for m in "$@"; do
    echo "== $m"
    (cd "$SCRATCH/$m" && python3 - $(cat names) <<'EOF'
import fnmatch, sys
from mutmut.__main__ import SourceFileMutationData, get_diff_for_mutant, walk_mutatable_files
from mutmut.stats import status_by_exit_code

for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for name, code in data.exit_code_by_key.items():
        status = status_by_exit_code[code]
        if status not in ("survived", "no tests") or not any(fnmatch.fnmatchcase(name, g) for g in sys.argv[1:]):
            continue
        print(f"{name} [{status}]")
        for line in get_diff_for_mutant(name, path=data.path).splitlines():
            if line[:1] in "+-" and line[:3] not in ("---", "+++"):
                print("    " + line.strip()[:160])
EOF
    )
  done
}

main() {
  if [[ "${1:-}" == --survivors ]]; then shift; show_survivors "$@"; return; fi
  if [[ "${1:-}" == --table ]]; then shift; summary "${@:-${ALL[@]}}"; return; fi
  local mods=("$@") m
  [[ ${#mods[@]} -eq 0 ]] && mods=("${ALL[@]}")
  for m in "${mods[@]}"; do spec "$m" >/dev/null || exit 2; done
  mkdir -p "$SCRATCH"
  for m in "${mods[@]}"; do run_module "$m" || true; done
  summary "${mods[@]}"
  echo "survivors of a module: (cd $SCRATCH/MODULE && python3 -m mutmut results); one: python3 -m mutmut show NAME"
}

main "$@"
