"""Run HolisticTraceAnalysis 0.5.0 get_cuda_kernel_launch_stats on each trace.

Usage: python3 run_hta.py DIRS_ROOT OUT_DIR, where DIRS_ROOT holds one directory per trace
(named after the trace, holding only that trace file). Writes OUT_DIR/<name>_hta_rows.csv.
"""
import sys, os, json, glob, traceback, csv, logging
import numpy as np
from hta.trace_analysis import TraceAnalysis
from hta.common.trace_file import create_rank_to_trace_dict
out = {}
for d in sorted(glob.glob(sys.argv[1] + '/*')):
    name = os.path.basename(d)
    files = glob.glob(d + '/*')
    ok, m = create_rank_to_trace_dict(files)
    rank = list(m.keys())[0]
    res = {'rank': rank}
    try:
        ta = TraceAnalysis(trace_dir=d)
        df = ta.get_cuda_kernel_launch_stats(ranks=[rank], runtime_cutoff=0, launch_delay_cutoff=0, visualize=False)[rank]
        ld = df['launch_delay']
        res.update(rows=len(df), dtype=str(ld.dtype),
                   sum=float(ld.sum()) if len(df) else 0, min=float(ld.min()) if len(df) else None,
                   max=float(ld.max()) if len(df) else None, p50=float(ld.median()) if len(df) else None,
                   p50_nearest_lower=float(np.percentile(ld, 50, method='lower')) if len(df) else None,
                   dup_corr=int(df['correlation'].duplicated().sum()))
        with open(f'{sys.argv[2]}/{name}_hta_rows.csv', 'w', newline='') as fh:
            w = csv.writer(fh); w.writerow(['correlation', 'cpu_duration', 'gpu_duration', 'launch_delay'])
            for r in df.itertuples(index=False):
                w.writerow([r.correlation, r.cpu_duration, r.gpu_duration, r.launch_delay])
    except Exception as e:
        res['error'] = repr(e); res['tb'] = traceback.format_exc()
    out[name] = res
    print(name, {k: v for k, v in res.items() if k != 'tb'}, flush=True)
json.dump(out, open(sys.argv[2] + '/hta_results.json', 'w'), indent=1)
