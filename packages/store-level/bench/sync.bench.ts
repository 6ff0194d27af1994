/**
 * What `sync` costs: enqueue throughput of LevelStore with sync true (fsync per batch, the
 * default) and false, one awaited enqueue at a time (a single publisher waiting for each
 * ack) and 64 in flight (many publishers: group commit shares one fsync).
 * Run: npm run bench -w @culex/store-level
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LevelStore } from '../src/index.ts'

const payload = Buffer.alloc(64, 1)

async function run (sync: boolean, inFlight: number, total: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-level-bench-'))
  const store = new LevelStore({ path: dir, sync, maxQueuedMessages: total })
  await store.open()
  // equal output before timing: one message in, the same message out
  await store.enqueue('warm', { topic: 't', payload, qos: 1, retain: false })
  const [rec] = await store.outgoing('warm', Date.now())
  if (rec === undefined || !rec.message.payload.equals(payload)) throw new Error('bench store returned a different message')
  const start = process.hrtime.bigint()
  let next = 0
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < total) {
      const i = next++
      await store.enqueue(`c${i % 100}`, { topic: `t/${i}`, payload, qos: 1, retain: false })
    }
  }))
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  await store.close()
  await rm(dir, { recursive: true, force: true })
  return total / secs
}

const rows: string[] = ['| in flight | sync: true (ops/s) | sync: false (ops/s) | ratio |', '|---|---|---|---|']
for (const inFlight of [1, 64]) {
  const total = inFlight === 1 ? 2000 : 20000
  const on = await run(true, inFlight, total)
  const off = await run(false, inFlight, total)
  rows.push(`| ${inFlight} | ${Math.round(on)} | ${Math.round(off)} | ${(off / on).toFixed(1)}× |`)
}
console.log(rows.join('\n'))
