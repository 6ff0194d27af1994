// The cluster comparison (`npm run bench:cluster`) as a user runs it, briefly: two culex
// --cluster nodes on a redis-server it starts, the cross-node latency measured and printed
// in its table.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { culexMissing, redisMissing } from '@culex/test-kit'

const script = fileURLToPath(new URL('../dist/compare/cluster.js', import.meta.url))
const skip = culexMissing() || redisMissing() || (existsSync(script) ? false : `the bench is not built (${script} missing; npm run build -w culex-bench)`)

t.test('bench:cluster measures cross-node latency on two --cluster nodes and prints it', { skip, timeout: 60_000 }, async (t) => {
  const child = spawn(process.execPath, [script, '--quick', '--duration', '1', '--setups', 'cluster2', '--only', 'lat-p50', '--no-pin'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d })
  const [code] = await once(child, 'exit') as [number | null]
  t.equal(code, 0, `exits 0${code === 0 ? '' : `: ${err}`}`)
  t.match(err, /round 1\/1 cluster2 lat-p50: [\d.]+ p50 ms/, 'one latency run on cluster2')
  t.match(out, /pinning off/)
  const row = (metric: string): string[] => (out.split('\n').find((l) => l.includes(`| ${metric} |`)) ?? '').split('|').map((c) => c.trim())
  for (const metric of ['p50 ms', 'p99 ms']) {
    const cells = row(metric)
    t.equal(cells.length, 11, `a ${metric} row`)
    // columns: entry, metric, plain, plain-redis, cluster1, cluster2, then three ratios
    t.same(cells.slice(3, 6), ['–', '–', '–'], `${metric}: setups not run are empty`)
    t.match(cells[6], /^\d+\.\d{3} \(/, `${metric}: cluster2 measured (${cells[6]})`)
    t.same(cells.slice(7, 10), ['–', '–', '–'], `${metric}: ratios with a setup not run are –, not NaN`)
  }
})
