# wheels/report.sh - summary helpers shared by build_all.sh and build_aarch64.sh (sourced).

# pytest_counts LOG: pytest's closing line as "P passed, F failed, S skipped" (zeros spelled
# out), then any errors / deselected / xfailed / xpassed, then the time.
pytest_counts() {
  local l n k out="" extra=""
  l=$(tail -1 "$1" 2>/dev/null | sed 's/=//g; s/^ *//; s/ *$//')
  if ! grep -qE '[0-9]+ (passed|failed|error)' <<<"$l"; then
    echo "no pytest result (last line: ${l:-empty}; see $1)"; return
  fi
  for k in passed failed skipped; do
    n=$(grep -oE "[0-9]+ $k" <<<"$l" | cut -d' ' -f1)
    out="$out${out:+, }${n:-0} $k"
  done
  for k in errors error deselected xfailed xpassed warnings warning; do
    n=$(grep -oE "[0-9]+ $k\b" <<<"$l" | cut -d' ' -f1)
    [ -z "$n" ] || extra="$extra, $n $k"
  done
  echo "$out$extra ($(grep -oE 'in [0-9.]+s( \([0-9:]+\))?' <<<"$l" | sed 's/^in //' || echo "time ?"))"
}
