#!/usr/bin/env python3
"""tracesegs.py: where each change of `latency -R` spends its time.

    tracesegs.py TRACE

Reads an ftrace text trace (raw_syscalls:sys_enter and sys_exit,
sched:sched_switch and sched_wakeup, all CPUs) taken over `latency -R`,
and prints, per chain, the medians of five instants after the rename
that finishes a module (us): the rename returning, the first hop waking
(reloaderd, or the floor's inotify thread), it writing to the second
hop, the second hop (libreloader's thread, or the floor's loader)
waking, it writing the main thread's eventfd, and the main thread
waking; then the medians of each hop's work and of each wake-up.  A
change is the reloader's when reloaderd runs between its rename and the
main thread waking.
"""
import re
import statistics
import sys

LINE = re.compile(r'^\s*(.+?)-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+):\s+(\w+):\s+(.*)$')
RENAME = 'NR 82 ('          # x86-64 rename(2)
WRITE8 = re.compile(r'NR 1 \(\w+, \w+, 8,')        # an eventfd write
SEND = re.compile(r'NR (1|44|46) \((?!1,|2,)')     # not to stdout/stderr


def events(path):
    out = []
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                out.append((float(m.group(3)), m.group(1), int(m.group(2)),
                            m.group(4), m.group(5)))
    return out


def change(win, t0, main):
    """Returns (chain, [instants]) for one change's events, or None."""
    ret = wake = None
    for e in win:
        if e[2] == main and e[3] == 'sys_exit' and e[4].startswith('NR 82 '):
            ret = e[0]
        elif ret and e[2] == main and e[3] == 'sys_exit' and \
                e[4] == 'NR 7 = 1':
            wake = e[0]
            break
    if wake is None:
        return None
    before = [e for e in win if e[0] < wake]
    rl = any(e[1] == 'reloaderd' for e in before)
    ev = loader = None
    for e in before:
        if e[1] == 'latency' and e[2] != main and e[3] == 'sys_enter' and \
                WRITE8.match(e[4]):
            ev, loader = e[0], e[2]
    if ev is None:
        return None
    woke2 = next((e[0] for e in before
                  if e[2] == loader and e[3] == 'sys_exit'), None)
    woke1 = sent = None
    for e in before:
        first = e[1] == 'reloaderd' if rl else \
            (e[1] == 'latency' and e[2] not in (main, loader))
        if not first:
            continue
        if woke1 is None and e[3] == 'sys_exit':
            woke1 = e[0]
        if e[3] == 'sys_enter' and (SEND.match(e[4]) if rl else
                                    e[4].startswith('NR 1 (')):
            sent = e[0]
            break
    if None in (woke1, sent, woke2):
        return None
    return ('reloader' if rl else 'floor',
            [(x - t0) * 1e6 for x in (ret, woke1, sent, woke2, ev, wake)])


def main():
    ev = events(sys.argv[1])
    starts = [i for i, e in enumerate(ev)
              if e[3] == 'sys_enter' and e[4].startswith(RENAME)]
    chains = {}
    for n, k in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(ev)
        got = change(ev[k + 1:end], ev[k][0], ev[k][2])
        if got:
            chains.setdefault(got[0], []).append(got[1])
    names = ('renamed', 'hop 1 awake', 'hop 1 wrote', 'hop 2 awake',
             'hop 2 wrote', 'main awake')
    for chain in ('reloader', 'floor'):
        rows = chains.get(chain, [])
        if not rows:
            continue
        med = [statistics.median(r[i] for r in rows) for i in range(6)]
        print('%-8s %3d changes, median us after the rename: %s' % (
            chain, len(rows),
            ', '.join('%s %.0f' % (names[i], med[i]) for i in range(6))))
        print('%-8s hop 1 works %.0f, wakes hop 2 in %.0f, hop 2 works %.0f,'
              ' wakes main in %.0f' % (
                  '', statistics.median(r[2] - r[1] for r in rows),
                  statistics.median(r[3] - r[2] for r in rows),
                  statistics.median(r[4] - r[3] for r in rows),
                  statistics.median(r[5] - r[4] for r in rows)))


if __name__ == '__main__':
    main()
