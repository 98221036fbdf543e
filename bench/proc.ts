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

/** Open descriptors of a process (NaN if it is gone). */
export function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** A /proc/sys value as text ('' if unreadable), e.g. sysctlValue('net/core/somaxconn'). */
export function sysctlValue(name: string): string {
  try {
    return readFileSync(`/proc/sys/${name}`, 'utf8').trim().replace(/\s+/g, ' ');
  } catch {
    return '';
  }
}

/** Slab caches that grow with every TCP connection (socket, inode, file, dentry, epoll item). */
export const SOCKET_SLABS = ['TCP', 'sock_inode_cache', 'filp', 'dentry', 'eventpoll_epi', 'eventpoll_pwq'];

/** Machine-wide kernel memory figures that grow with TCP connections. */
export interface KernelMemory {
  /** /proc/meminfo Slab (reclaimable + unreclaimable), KiB. */
  slabKb: number;
  /** /proc/meminfo SUnreclaim, KiB. */
  slabUnreclaimKb: number;
  /** /proc/net/sockstat "TCP: mem": pages charged to TCP socket buffers. */
  tcpMemPages: number;
  /** /proc/net/sockstat "TCP: inuse": TCP sockets in use. */
  tcpInuse: number;
  /** /proc/slabinfo: active objects × object size per cache of SOCKET_SLABS, bytes (empty if unreadable). */
  slabBytes: Record<string, number>;
}

export function kernelMemory(): KernelMemory {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? NaN);
  const sockstat = readFileSync('/proc/net/sockstat', 'utf8');
  const tcp = /^TCP: inuse (\d+) .*mem (\d+)/m.exec(sockstat);
  const slabBytes: Record<string, number> = {};
  try {
    for (const line of readFileSync('/proc/slabinfo', 'utf8').split('\n')) {
      const f = line.split(/\s+/);
      if (SOCKET_SLABS.includes(f[0]!)) slabBytes[f[0]!] = Number(f[1]) * Number(f[3]);
    }
  } catch { /* not readable without root */ }
  return {
    slabKb: kb('Slab'),
    slabUnreclaimKb: kb('SUnreclaim'),
    tcpMemPages: Number(tcp?.[2] ?? NaN),
    tcpInuse: Number(tcp?.[1] ?? NaN),
    slabBytes,
  };
}

/** Machine-wide TCP counters that show a connection burst overflowing queues (/proc/net/netstat, snmp). */
export function tcpCounters(): Record<string, number> {
  const out: Record<string, number> = {};
  const read = (file: string, prefix: string, keys: string[]): void => {
    try {
      const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(`${prefix}:`));
      const names = lines[0]?.split(/\s+/).slice(1) ?? [];
      const values = lines[1]?.split(/\s+/).slice(1) ?? [];
      for (const k of keys) {
        const i = names.indexOf(k);
        if (i >= 0) out[k] = Number(values[i]);
      }
    } catch { /* not available */ }
  };
  read('/proc/net/netstat', 'TcpExt', ['ListenOverflows', 'ListenDrops', 'SyncookiesSent', 'TCPReqQFullDrop', 'TCPTimeouts']);
  read('/proc/net/snmp', 'Tcp', ['RetransSegs', 'AttemptFails']);
  return out;
}
