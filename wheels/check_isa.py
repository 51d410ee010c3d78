#!/usr/bin/env python3
"""Check that dlcore's machine code runs on any x86-64: instructions beyond the baseline
(SSE2) may appear only in the run-time dispatched kernel variants.

    python wheels/check_isa.py dist/dlcore-*.whl             # a wheel: its dlcore/*.so
    python wheels/check_isa.py build/c/libdlcore.a libdlcore.so [--json out.json]

Every function of the disassembly (objdump -d, GNU binutils) is given a path:
  avx512    its name (before any ".cold", "._omp_fn.N", ".part.N" ... suffix) ends in
            `_avx512`, or it is a local helper lying inside the address range of those
            functions (one object file, isa_avx512.c); in a static archive, every function
            of the member isa_avx512.c.o
  avx2      the same for `_avx2` / isa_avx2.c.o
  baseline  everything else: the baseline kernels, dispatch, the BLAS binding, the Cython
            module, libgcc's CPU detection, PLT stubs
and each instruction is classified by its encoding (the prefix bytes: VEX C4/C5, EVEX 62,
XOP 8F) and its operands (zmm/ymm, mask registers k1-k7, xmm16-31). The rules:
  avx512    anything
  avx2      VEX (AVX, AVX2, FMA, BMI) but no EVEX, zmm, mask or xmm16-31 operands
  baseline  no VEX/EVEX/XOP at all, and no legacy-encoded instruction newer than SSE2
            (SSE3/SSSE3/SSE4.x, POPCNT, LZCNT, MOVBE, ...). Allowed with a note: `tzcnt`
            (GCC's `rep bsf`, which runs as bsf before BMI) and `xgetbv` inside libgcc's
            CPU detection (guarded by the OSXSAVE bit there).
It also fails if a GNU property note demands an ISA level above the baseline (glibc would
refuse to load such a library on an older CPU). Vendored libraries in a wheel (dlcore.libs/,
e.g. libgomp) are summarised but not judged. Exit status 0 when every rule holds.
A stripped library cannot be attributed (only exported names remain): it is an error, and
pyproject.toml keeps the symbol table in wheels for this check.
"""
import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

LEGACY_PREFIXES = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3}
# Mnemonics newer than x86-64 baseline (SSE2) that are not VEX-encoded; by extension.
POST_SSE2 = {
    "sse3": "addsubpd addsubps haddpd haddps hsubpd hsubps lddqu movddup movshdup movsldup "
            "fisttp fisttps fisttpl fisttpll monitor mwait",
    "ssse3": "pabsb pabsw pabsd palignr phaddw phaddd phaddsw phsubw phsubd phsubsw "
             "pmaddubsw pmulhrsw pshufb psignb psignw psignd",
    "sse4.1": "blendpd blendps blendvpd blendvps dppd dpps extractps insertps movntdqa "
              "mpsadbw packusdw pblendvb pblendw pcmpeqq pextrb pextrd pextrq pinsrb pinsrd "
              "pinsrq pmaxsb pmaxsd pmaxud pmaxuw pminsb pminsd pminud pminuw pmovsxbw "
              "pmovsxbd pmovsxbq pmovsxwd pmovsxwq pmovsxdq pmovzxbw pmovzxbd pmovzxbq "
              "pmovzxwd pmovzxwq pmovzxdq pmuldq pmulld ptest roundpd roundps roundsd "
              "roundss phminposuw",
    "sse4.2": "crc32 crc32b crc32w crc32l crc32q pcmpestri pcmpestrm pcmpistri pcmpistrm "
              "pcmpgtq",
    "popcnt": "popcnt", "lzcnt": "lzcnt", "movbe": "movbe", "adx": "adcx adox",
    "cx16": "cmpxchg16b", "rdrand": "rdrand rdseed", "aes": "aesenc aesenclast aesdec "
            "aesdeclast aesimc aeskeygenassist", "pclmul": "pclmulqdq", "xsave": "xgetbv",
    "sha": "sha1rnds4 sha1nexte sha1msg1 sha1msg2 sha256rnds2 sha256msg1 sha256msg2",
}
POST_SSE2 = {m: ext for ext, ms in POST_SSE2.items() for m in ms.split()}
# objdump tokens that prefix a mnemonic
TEXT_PREFIXES = {"rep", "repz", "repe", "repnz", "repne", "lock", "notrack", "bnd", "data16",
                 "addr32", "cs", "ds", "es", "ss", "fs", "gs", "rex", "rex.w", "{vex}",
                 "{evex}", "{vex3}"}
FUNC_RE = re.compile(r"^([0-9a-f]+) <(.+)>:$")
INSN_RE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f ]+)\t?(.*)$")
PATH_OF_MEMBER = {"isa_avx512": "avx512", "isa_avx2": "avx2"}
XGETBV_OK = re.compile(r"^(dl_xcr0|dl_x86_level|dl_isa_supported|dl_init|__cpu_indicator_init|get_available_features|__get_cpuid|"
                       r"get_zhaoxin_cpu|get_intel_cpu|get_amd_cpu)")


def path_of_name(name):
    if "@" in name:
        return None  # a PLT stub (an indirect jump), wherever its target lives
    base = name.split(".")[0]
    for p in ("avx512", "avx2"):
        if base.endswith("_" + p):
            return p
    return None


def encoding(hexbytes):
    """'legacy', 'vex', 'evex' or 'xop' from the instruction bytes."""
    bs = [int(b, 16) for b in hexbytes.split()]
    i = 0
    while i < len(bs) and bs[i] in LEGACY_PREFIXES:
        i += 1
    if i >= len(bs):
        return "legacy"
    b = bs[i]
    if b in (0xC4, 0xC5):
        return "vex"  # LES/LDS do not exist in 64-bit mode
    if b == 0x62:
        return "evex"  # BOUND does not exist in 64-bit mode
    if b == 0x8F and i + 1 < len(bs) and (bs[i + 1] & 0x1F) >= 8:
        return "xop"  # AMD XOP (POP r/m has map_select 0 here)
    return "legacy"


def mnemonic_of(text):
    toks = text.split()
    while toks and toks[0] in TEXT_PREFIXES:
        toks = toks[1:]
    return toks[0] if toks else "", " ".join(toks[1:])


def disassemble(path):
    """Yields (member, function, address, hexbytes, insn_text) for every instruction;
    member is the archive member (or the file) plus the section, e.g. 'x.so .text'."""
    cmd = ["objdump", "-d", "-w", "--insn-width=15", path]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    obj, section, member, func = os.path.basename(path), "", "", None
    for line in proc.stdout.splitlines():
        m = re.match(r"^(.+?):\s+file format ", line)
        if m:
            obj = os.path.basename(m.group(1).split("(")[-1].rstrip(")"))
            func = None
            continue
        m = re.match(r"^Disassembly of section (\S+):", line)
        if m:
            section, func = m.group(1), None
            member = f"{obj} {section}"
            continue
        m = FUNC_RE.match(line)
        if m:
            func = (m.group(2), int(m.group(1), 16))
            continue
        m = INSN_RE.match(line)
        if m and func is not None:
            yield member, func, int(m.group(1), 16), m.group(2).strip(), m.group(3).strip()


def isa_notes(path):
    """x86 ISA levels a GNU property note says the file needs (empty when none)."""
    proc = subprocess.run(["readelf", "-n", "-W", path], capture_output=True, text=True)
    return sorted(set(re.findall(r"x86 ISA needed: ([^\n]+)", proc.stdout)))


def has_symtab(path):
    proc = subprocess.run(["readelf", "-S", "-W", path], capture_output=True, text=True)
    return " .symtab " in proc.stdout


def check_file(path, judge=True):
    """Returns a report dict for one ELF file (or archive)."""
    is_archive = path.endswith(".a")
    rep = {"file": path, "judged": judge, "violations": [], "notes": [],
           "paths": {}, "functions": 0}
    if not is_archive and not has_symtab(path):
        if judge:
            rep["violations"].append("stripped (no .symtab): cannot attribute code to paths")
        rep["stripped"] = True
    needed = isa_notes(path)
    if needed:
        rep["isa_notes"] = needed
        bad = [n for n in needed if re.search(r"x86-64-v[234]|AVX|SSE3|SSE4", n)]
        if bad and judge:
            rep["violations"].append(f"GNU property note requires {bad}: glibc would refuse "
                                     "to load it on older CPUs")

    insns = list(disassemble(path))
    # function -> (member, start, end) ; end = last instruction address + 1
    funcs = collections.OrderedDict()
    for member, (name, start), addr, _, _ in insns:
        key = (member, name, start)
        funcs[key] = max(funcs.get(key, addr), addr) + 0
    # address ranges of the named variants, per member (one object file per path in a .so)
    ranges = collections.defaultdict(lambda: [None, None])
    for (member, name, start), last in funcs.items():
        p = path_of_name(name)
        if p and ".cold" not in name:
            r = ranges[(member, p)]
            r[0] = start if r[0] is None else min(r[0], start)
            r[1] = last if r[1] is None else max(r[1], last)

    def path_of(member, name, start):
        if is_archive:
            stem = member.split()[0].split(".")[0]
            return PATH_OF_MEMBER.get(stem, "baseline"), False
        p = path_of_name(name)
        if p:
            return p, False
        for (m, q), (lo, hi) in ranges.items():
            if m == member and lo is not None and lo <= start <= hi:
                return q, True  # a local helper compiled in that variant's object
        return "baseline", False

    stats = collections.defaultdict(collections.Counter)
    helpers = collections.defaultdict(set)
    func_path = {}
    for key in funcs:
        p, helper = path_of(*key)
        func_path[key] = p
        if helper:
            helpers[p].add(key[1])
    offenders = collections.defaultdict(collections.Counter)
    for member, (name, start), addr, hexb, text in insns:
        p = func_path[(member, name, start)]
        mnem, ops = mnemonic_of(text)
        enc = encoding(hexb)
        st = stats[p]
        st["insns"] += 1
        st[enc] += 1
        width = "zmm" if "%zmm" in ops else "ymm" if "%ymm" in ops else None
        if width:
            st[width] += 1
        masks = bool(re.search(r"%k[1-7]\b", ops))
        hi_xmm = bool(re.search(r"%[xyz]mm(1[6-9]|2[0-9]|3[01])\b", ops))
        problem = None
        if p == "avx2":
            if enc in ("evex", "xop") or width == "zmm" or masks or hi_xmm:
                problem = f"{enc} {mnem} {ops}".strip()
        elif p == "baseline":
            if enc != "legacy":
                problem = f"{enc} {mnem}"
            elif width or masks or hi_xmm:
                problem = f"{mnem} {ops}"
            elif mnem in POST_SSE2:
                ext = POST_SSE2[mnem]
                if mnem == "tzcnt":
                    pass
                elif mnem == "xgetbv" and XGETBV_OK.match(name):
                    st["xgetbv (cpu detection)"] += 1
                else:
                    problem = f"{ext} {mnem}"
            if mnem == "tzcnt":
                st["tzcnt (rep bsf)"] += 1
        if problem:
            offenders[(p, name)][problem] += 1
    rep["functions"] = len(funcs)
    for p, st in sorted(stats.items()):
        rep["paths"][p] = {
            "functions": sum(1 for k, q in func_path.items() if q == p),
            "local_helpers_by_address": sorted(helpers.get(p, ())),
            **dict(sorted(st.items())),
        }
    if judge:
        for (p, name), probs in sorted(offenders.items()):
            rep["violations"].append(f"[{p}] {name}: " + ", ".join(
                f"{k} x{v}" for k, v in probs.most_common(5)))
    # the variants should exist (a build without dispatch passes every rule trivially)
    if judge:
        for p in ("avx2", "avx512"):
            if p not in rep["paths"]:
                rep["notes"].append(f"no {p} functions found (a build without dispatch?)")
    return rep


def files_of(arg, tmp):
    """(path, judge) pairs: a wheel gives its dlcore/*.so (judged) and vendored libs (not)."""
    if not arg.endswith(".whl"):
        return [(arg, True)]
    out = []
    with zipfile.ZipFile(arg) as z:
        for n in z.namelist():
            base = os.path.basename(n)
            if ".so" not in base:
                continue
            dest = os.path.join(tmp, n)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(n) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
            out.append((dest, not n.split("/")[0].endswith(".libs")))
    return out


def summary_line(rep):
    parts = []
    for p in ("baseline", "avx2", "avx512"):
        s = rep["paths"].get(p)
        if not s:
            continue
        parts.append(f"{p}: {s['functions']} fn, {s['insns']} insn, vex {s.get('vex', 0)}, "
                     f"evex {s.get('evex', 0)}, ymm {s.get('ymm', 0)}, zmm {s.get('zmm', 0)}")
    return "; ".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="wheel, shared library or static archive")
    ap.add_argument("--json", help="write the full report here")
    args = ap.parse_args(argv)
    if not shutil.which("objdump") or not shutil.which("readelf"):
        print("check_isa: needs objdump and readelf (GNU binutils)", file=sys.stderr)
        return 2
    reports, failed = [], False
    with tempfile.TemporaryDirectory() as tmp:
        for arg in args.files:
            for path, judge in files_of(arg, tmp):
                rep = check_file(path, judge)
                shown = os.path.relpath(path, tmp) if path.startswith(tmp) else path
                rep["file"] = shown
                reports.append(rep)
                status = ("FAIL" if rep["violations"] else "ok") if judge else "vendored"
                print(f"check_isa: {status:8s} {shown}")
                print(f"    {summary_line(rep)}")
                for p, s in rep["paths"].items():
                    if s["local_helpers_by_address"]:
                        print(f"    {p}: local helpers placed by address: "
                              + ", ".join(s["local_helpers_by_address"][:8]))
                    for k in ("tzcnt (rep bsf)", "xgetbv (cpu detection)"):
                        if s.get(k):
                            print(f"    {p}: allowed {k} x{s[k]}")
                for n in rep["notes"]:
                    print(f"    note: {n}")
                for v in rep["violations"][:40]:
                    print(f"    VIOLATION {v}")
                if len(rep["violations"]) > 40:
                    print(f"    ... {len(rep['violations']) - 40} more")
                failed |= bool(rep["violations"]) and judge
    if args.json:
        with open(args.json, "w") as f:
            json.dump(reports, f, indent=1)
    print("check_isa: " + ("FAILED" if failed else "passed: beyond-baseline instructions only "
                           "in the dispatched avx2/avx512 variants"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
