"""The markdown table of a bench run (bench/results/latest.md) and its compact JSON."""
from __future__ import annotations


def _g(d, *keys, default=None):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def compact(r: dict) -> dict:
    out = {"started": r.get("started"), "elapsed_s": r.get("elapsed_s"), "machine": r.get("machine"),
           "config": r.get("config"), "sizes": {}, "time_to_green": []}
    for n, s in r.get("sizes", {}).items():
        c = {"lab_up_s": s.get("lab_up_s"), "commands_per_run": s.get("commands_per_run"),
             "ssh_connections": s.get("ssh_connections"), "baseline_check": s.get("baseline_check"), "latency": {}}
        for lat, v in s.get("latency", {}).items():
            c["latency"][lat] = {k: ({kk: vv for kk, vv in x.items() if kk != "runs"} if isinstance(x, dict) else x)
                                 for k, x in v.items()}
        out["sizes"][n] = c
    for t in r.get("time_to_green", []):
        out["time_to_green"].append({k: v for k, v in t.items() if k != "runbook_how"})
    return out


def _ms(x):
    return "-" if x is None else f"{x:.2f}"


def render(r: dict) -> str:
    L = ["# hive-health benchmark (latest run)", "",
         f"Run {r.get('started')} on {r.get('machine', {}).get('cpus')} cores, kernel "
         f"{r.get('machine', {}).get('kernel')}; `make bench` took {r.get('elapsed_s')} s. "
         f"Raw data: `bench/results/raw/` (git-ignored); method: [bench/README.md](../README.md).", "",
         "Times in seconds: median of the measured runs (min-max); suite = `pytest --hive-root SITE -q -p no:randomly`, "
         f"{_g(r, 'config', 'runs')} runs after a warm-up. Ratio = baseline median / suite median "
         "(how many times faster the suite is).", "",
         "| servers | +RTT | suite | suite -n 2 | shell loop (a) | Ansible ad-hoc (b) | loop/suite | ansible/suite | suite CPU s | peak RSS tree MB (suite / -n 2 / ansible) | machine busy cores (suite) |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    sizes = r.get("sizes", {})
    for n in sorted(sizes, key=int):
        s = sizes[n]
        for lat in sorted(s.get("latency", {}), key=int):
            v = s["latency"][lat]
            su, sn, lo, an = (v.get(k, {}) for k in ("suite_serial", "suite_n2", "shell_loop", "ansible"))

            def cell(x):
                if not x:
                    return "-"
                text = f"{x['median']:.2f} ({x['min']:.2f}-{x['max']:.2f})" if x["n"] > 1 else f"{x['median']:.2f} (1 run)"
                # a suite run that did not exit 0 on the healthy lab did not do the whole work
                bad = [rc for rc in x.get("rcs", [0]) if rc != 0]
                return text + (f" **exit {', '.join(map(str, bad))}: not a healthy run**" if bad else "")
            ratio = lambda b: f"{b['median'] / su['median']:.1f}x" if b and su else "-"
            L.append(f"| {n} | {lat} ms | {cell(su)} | {cell(sn)} | {cell(lo)} | {cell(an)} | {ratio(lo)} | {ratio(an)} | "
                     f"{su.get('cpu_median', '-')} | {su.get('tree_rss_peak_mb', '-')} / {sn.get('tree_rss_peak_mb', '-')} / "
                     f"{an.get('tree_rss_peak_mb', '-')} | {su.get('host_busy_cores', '-')} |")
    L.append("")
    L.append("Added latency: " + "; ".join(
        f"{n} servers +{lat} ms via {v.get('method')}: SSH banner {_ms(_g(v, 'probe', 'tcp_banner_ms'))} ms"
        f" (bare {_ms(_g(s, 'latency', '0', 'probe', 'tcp_banner_ms'))} ms, after removal {_ms(_g(v, 'probe_removed', 'tcp_banner_ms'))} ms)"
        for n, s in sorted(sizes.items(), key=lambda x: int(x[0])) for lat, v in s.get("latency", {}).items() if lat != "0")
        + ". The banner arrives 1.5 RTT after connect(), so +30 ms there = +20 ms RTT.")
    L.append("")

    # ---- SSH connections
    L += ["## SSH connections opened per server during one run", "",
          "| servers | serial: per server (min-max) | -n 2: per server (min-max) |", "|---|---|---|"]
    for n in sorted(sizes, key=int):
        c = sizes[n].get("ssh_connections", {})
        f = lambda m: (f"{min(c[m]['per_server'].values())}-{max(c[m]['per_server'].values())}"
                       if c.get(m) and c[m]["per_server"] else "-")
        L.append(f"| {n} | {f('serial')} | {f('n2')} |")
    L.append("")

    # ---- did the baselines do the suite's work?
    L += ["## Baselines collected the same facts", "",
          "Each baseline frames every section with its exit code. A section that fails on the healthy "
          "lab fails in the suite's own probe too (e.g. `lvs`: the lab has no LVM).", "",
          "| servers | shell loop: sections / non-zero | Ansible: sections / non-zero | non-zero sections |",
          "|---|---|---|---|"]
    for n in sorted(sizes, key=int):
        c = sizes[n].get("baseline_check") or {}
        lo, an = c.get("loop", {}), c.get("ansible", {})
        names = sorted(set(lo.get("nonzero_sections", [])) | set(an.get("nonzero_sections", [])))
        L.append(f"| {n} | {lo.get('sections_answered', '-')}/{lo.get('expected', '-')} / {lo.get('nonzero', '-')} | "
                 f"{an.get('sections_answered', '-')}/{an.get('expected', '-')} / {an.get('nonzero', '-')} | "
                 f"{', '.join(names) or '-'} |")
    L.append("")

    # ---- targets
    L += ["## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    s4, s16 = sizes.get("4"), sizes.get("16")
    if s4 and s16:
        a, b = _g(s4, "latency", "0", "suite_serial", "median"), _g(s16, "latency", "0", "suite_serial", "median")
        if a and b:
            q = b / a
            L.append(f"| suite at 16 servers <= 1.5x its time at 4 | {b:.2f} s / {a:.2f} s = {q:.2f}x | "
                     + ("pass" if q <= 1.5 else f"**miss** by {q / 1.5:.2f}x ({b - 1.5 * a:.1f} s over)") + " |")
        an2 = _g(s4, "latency", "0", "suite_n2", "median"), _g(s16, "latency", "0", "suite_n2", "median")
        if all(an2):
            q = an2[1] / an2[0]
            L.append(f"| same with -n 2 | {an2[1]:.2f} s / {an2[0]:.2f} s = {q:.2f}x | "
                     + ("pass" if q <= 1.5 else f"**miss** by {q / 1.5:.2f}x") + " |")
        v = _g(s16, "latency", "20", default={})
        su = _g(v, "suite_serial", "median")
        for key, name, want in (("shell_loop", "shell loop", 5), ("ansible", "Ansible ad-hoc", 2)):
            bm = _g(v, key, "median")
            if su and bm:
                q = bm / su
                L.append(f"| 16 servers +20 ms: suite >= {want}x faster than {name} | {bm:.2f} s / {su:.2f} s = {q:.1f}x | "
                         + ("pass" if q >= want else f"**miss**: {q:.1f}x of {want}x ({want * su - bm:.1f} s short... "
                            f"suite would need <= {bm / want:.2f} s)") + " |")
    for n in sorted(sizes, key=int):
        c = sizes[n].get("ssh_connections", {})
        if c.get("serial"):
            vals = list(c["serial"]["per_server"].values())
            valsn = list(c.get("n2", {}).get("per_server", {}).values())
            ok = vals and max(vals) == 1 and min(vals) == 1
            okn = valsn and max(valsn) <= 2
            L.append(f"| one SSH connection per server per run (per worker with -n), {n} servers | serial {min(vals)}-{max(vals)}, "
                     f"-n 2 {min(valsn) if valsn else '-'}-{max(valsn) if valsn else '-'} | "
                     + ("pass" if ok and okn else "**miss**") + " |")
    if s16:
        pk = max(_g(s16, "latency", lat, mode, "tree_rss_peak_mb", default=0)
                 for lat in s16.get("latency", {}) for mode in ("suite_serial", "suite_n2"))
        L.append(f"| peak memory of the whole run < 300 MB at 16 servers | {pk:.0f} MB (sum of RSS over the process tree, "
                 "worst of serial and -n 2) | " + ("pass" if pk < 300 else f"**miss** by {pk - 300:.0f} MB") + " |")
    L.append("")

    # ---- time to green
    ttg = r.get("time_to_green", [])
    if ttg:
        L += ["## Time to green of the remedy scenarios (4 servers)", "",
              "After `python3 -m lab inject FAULT` and a `-k AREA` run that shows it failing: wall time of "
              "`pytest --fix FLAGS -k AREA` runs until exit 0; next to it the commands the runbook "
              "(its section 7) has an operator type for the same repair.", "",
              "| fault | suite command | time to green s | --fix runs | full suite after | runbook commands |",
              "|---|---|---|---|---|---|"]
        for t in ttg:
            L.append(f"| {t['fault']} | `--fix{t['flags'].replace('--fix', '')} -k {t['k']}` | {t.get('time_to_green_s', 'error')} | "
                     f"{len(t.get('fix_runs', []))} | {'green' if t.get('full_suite_after_rc') == 0 else t.get('full_suite_after_rc', t.get('error', '?')[:60])} | "
                     f"{t['runbook_commands']} |")
        L += ["", "Runbook counts (a `hive ssh -t` to reach a server counts as one command):", ""]
        for t in ttg:
            L.append(f"- {t['fault']}: {t.get('runbook_how', '')}")
        L.append("")
    return "\n".join(L) + "\n"
