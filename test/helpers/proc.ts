/**
 * Reading a process's state from /proc (Linux only), for tests that bound a server's memory.
 */
import { readFileSync } from 'node:fs';

/** Resident set size of a process in bytes, from VmRSS in /proc/<pid>/status; throws if absent. */
export function rssOf(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}
