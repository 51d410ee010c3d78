"""One-line auditwheel verdict for the build summary (wheels/build_all.sh, build_aarch64.sh):

    auditwheel show --json WHEEL | python wheels/audit_verdict.py

Prints the tag the wheel's symbol versions allow, the libraries outside the manylinux policy
(only libscipy_openblas.so is allowed: it comes from the scipy-openblas32 dependency and is
excluded from repair on purpose) and whether auditwheel found unsupported ISA extensions.
Exits 1 on any other external library, unsupported ISA, or symbol versions that fit no
manylinux tag."""
import json
import sys

ALLOWED = {"libscipy_openblas.so"}
d = json.load(sys.stdin)
ext = sorted(d.get("external_libs") or {})
bad = [e for e in ext if e not in ALLOWED]
sym = str(d.get("sym_tag", ""))
line = f"symbol versions fit {sym}; outside the policy: {', '.join(ext) or 'nothing'}"
if ext and not bad:
    line += " (from the scipy-openblas32 dependency, excluded)"
line += f"; unsupported ISA: {'yes' if d.get('unsupported_isa') else 'no'}"
if bad:
    line += f"; PROBLEM: not allowed: {', '.join(bad)}"
print(line)
sys.exit(1 if bad or d.get("unsupported_isa") or not sym.startswith("manylinux_") else 0)
