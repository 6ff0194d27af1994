// Heap per subscription, each contestant and size in its own child process for isolation.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { fmtSize } from './util.ts'

export interface HeapRow { size: number, culex: number, qlobber: number }

const child = fileURLToPath(new URL('./heap-child.ts', import.meta.url))

function measure (contestant: string, n: number): number {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', child, contestant, String(n)], { encoding: 'utf8', maxBuffer: 1 << 20 })
  return (JSON.parse(out) as { bytesPerSub: number }).bytesPerSub
}

export function runHeap (sizes: number[]): HeapRow[] {
  const rows: HeapRow[] = []
  for (const n of sizes) {
    const row = { size: n, culex: measure('culex', n), qlobber: measure('qlobber', n) }
    rows.push(row)
    console.error(`heap ${fmtSize(n)}: culex ${row.culex.toFixed(1)} B/sub, qlobber ${row.qlobber.toFixed(1)} B/sub`)
  }
  return rows
}
