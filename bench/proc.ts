// Helpers that read process figures from /proc (Linux only).

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clkTck: number | undefined;

/** Clock ticks per second used by /proc/<pid>/stat utime/stime. */
export function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** User and system CPU time consumed so far by a process, in microseconds. */
export function processCpuSplitUs(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is parenthesised and may contain spaces.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const tick = 1e6 / clockTicks();
  return { user: Number(rest[11]) * tick, system: Number(rest[12]) * tick };
}

/** User+system CPU time consumed so far by a process, in microseconds. */
export function processCpuUs(pid: number): number {
  const t = processCpuSplitUs(pid);
  return t.user + t.system;
}

/** Resident set size of a process, in KiB. */
export function processRssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) : NaN;
}

export interface FdLimits { soft: number; hard: number }

/** Open-file limits of this process (children inherit them). */
export function fdLimits(): FdLimits {
  try {
    const text = readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
    if (m) {
      const soft = m[1] === 'unlimited' ? Infinity : Number(m[1]);
      const hard = m[2] === 'unlimited' ? Infinity : Number(m[2]);
      return { soft, hard };
    }
  } catch { /* fall through */ }
  return { soft: 1024, hard: 1024 };
}

/** Number of usable ephemeral ports for outgoing connections. */
export function ephemeralPorts(): number {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && hi !== undefined && hi >= lo) return hi - lo + 1;
  } catch { /* fall through */ }
  return 28_000;
}

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
}

/** Pids of every live descendant of a process (children, grandchildren, ...). */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(name), Number(rest[1]));
    } catch { /* exited meanwhile */ }
  }
  const out: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const p = frontier.pop()!;
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        frontier.push(child);
      }
    }
  }
  return out;
}

/** The pid of a running process whose command name is exactly `comm` (e.g. redis-server), if any. */
export function findProcess(comm: string, argContains?: string): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== comm) continue;
      if (argContains === undefined || readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(argContains)) return Number(name);
    } catch { /* exited meanwhile */ }
  }
  return undefined;
}

/** Sum of processCpuUs over processes; a process that exited counts as 0. */
export function totalCpuUs(pids: readonly number[]): number {
  let sum = 0;
  for (const p of pids) {
    try { sum += processCpuUs(p); } catch { /* gone */ }
  }
  return sum;
}

/** Sum of the system (kernel) part of processCpuUs over processes. */
export function totalSystemCpuUs(pids: readonly number[]): number {
  let sum = 0;
  for (const p of pids) {
    try { sum += processCpuSplitUs(p).system; } catch { /* gone */ }
  }
  return sum;
}

/** Sum of processRssKb over processes. */
export function totalRssKb(pids: readonly number[]): number {
  let sum = 0;
  for (const p of pids) {
    try { sum += processRssKb(p); } catch { /* gone */ }
  }
  return sum;
}
