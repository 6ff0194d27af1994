/**
 * Reading another process's memory: VmRSS from /proc/PID/status (Linux only).
 */
import { readFile } from 'node:fs/promises'
import { BenchError, BenchErrorCode } from './errors.ts'

/** Extracts VmRSS in KiB from the text of /proc/PID/status; null when absent. */
export function parseVmRss (status: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
  return m === null ? null : Number(m[1])
}

/**
 * Resident set size of process `pid` in KiB.
 * @throws BenchError BENCH_ERR_BAD_ARGUMENT when /proc/PID/status can't be read or has no VmRSS
 */
export async function readRssKiB (pid: number): Promise<number> {
  let text: string
  try {
    text = await readFile(`/proc/${pid}/status`, 'utf8')
  } catch (err) {
    throw new BenchError(BenchErrorCode.badArgument, `--pid ${pid}: cannot read /proc/${pid}/status (${(err as NodeJS.ErrnoException).code ?? 'error'}); is the broker running on this machine?`, { cause: err })
  }
  const rss = parseVmRss(text)
  if (rss === null) throw new BenchError(BenchErrorCode.badArgument, `--pid ${pid}: /proc/${pid}/status has no VmRSS line`)
  return rss
}
