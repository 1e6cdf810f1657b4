#!/usr/bin/env python3
"""Before/after timing of two actlog builds, run alternately (docs/BENCHMARKS.md).

Usage: compare.py OLD_ACTLOG NEW_ACTLOG [ROUNDS] [STORE]. STORE comes from
`actlog --dir STORE demo --days 5` (default /tmp/abdata), and /tmp/in.jsonl, for the
append case, from `actlog --dir STORE query -n 200000 -o json`.
"""
import subprocess, time, statistics, os, sys, shutil
OLD, NEW = sys.argv[1], sys.argv[2]  # two actlog binaries: before and after
D = sys.argv[4] if len(sys.argv) > 4 else "/tmp/abdata"
cases=[
 ("query -c --user user042", ["query","-c","--user","user042"]),
 ("query -c", ["query","-c"]),
 ("query --count-by action -o json", ["query","--count-by","action","-o","json"]),
 ("query -c --since '2026-10-03 12:00' --until '2026-10-03 13:00'", ["query","-c","--since","2026-10-03 12:00","--until","2026-10-03 13:00"]),
 ("query -c --where 'details.durationMs>400'", ["query","-c","--where","details.durationMs>400"]),
 ("tail -n 20", ["tail","-n","20"]),
]
R = int(sys.argv[3]) if len(sys.argv) > 3 else 9
def run(b,args,stdin=None,d=D):
    t=time.perf_counter()
    subprocess.run([b,"--dir",d]+args,stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,stdin=stdin,check=False)
    return time.perf_counter()-t
print(f"| command | old ms (mean ± sd, min) | new ms (mean ± sd, min) | new/old |")
print("| --- | ---: | ---: | ---: |")
for name,args in cases:
    o=[];n=[]
    run(OLD,args);run(NEW,args)
    for i in range(R):
        o.append(run(OLD,args)); n.append(run(NEW,args))
    f=lambda v: f"{statistics.mean(v)*1000:.1f} ± {statistics.stdev(v)*1000:.1f}, {min(v)*1000:.1f}"
    print(f"| `{name}` | {f(o)} | {f(n)} | {statistics.mean(n)/statistics.mean(o):.2f} |",flush=True)
# append -
o=[];n=[]
for i in range(R):
    for b,acc in ((OLD,o),(NEW,n)):
        shutil.rmtree("/tmp/ap",ignore_errors=True)
        with open("/tmp/in.jsonl","rb") as fh:
            acc.append(run(b,["append","-"],stdin=fh,d="/tmp/ap"))
f=lambda v: f"{statistics.mean(v)*1000:.1f} ± {statistics.stdev(v)*1000:.1f}, {min(v)*1000:.1f}"
print(f"| `append - < 200,000 lines` | {f(o)} | {f(n)} | {statistics.mean(n)/statistics.mean(o):.2f} |")
