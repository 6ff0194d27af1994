// The broker's TimedStore over a real LevelDB: the whole Store contract passes through it
// unchanged, and each call is one observation of its operation (exact counts, real durations).
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TimedStore } from '@culex/broker'
import { msg, session, storeSuite } from '@culex/store-suite'
import { LevelStore } from '../src/index.ts'

const root = await mkdtemp(join(tmpdir(), 'culex-level-timed-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let n = 0

storeSuite(t, {
  name: 'TimedStore(LevelStore)',
  build: async (o) => {
    const path = join(root, String(n++))
    const level = new LevelStore({ path, ...o })
    await level.open()
    return { store: new TimedStore(level), teardown: () => rm(path, { recursive: true, force: true }) }
  },
  pairSkipReason: 'LevelDB locks its directory: one process, one LevelStore per directory',
  modelRuns: 10
})

t.test('counts equal the calls made, with real durations (fsync on)', async (t) => {
  const level = new LevelStore({ path: join(root, String(n++)) })
  await level.open()
  const s = new TimedStore(level)
  t.teardown(() => s.close())
  await s.saveSession(session('c', { expiryInterval: 60 }))
  const N = 20
  const seqs: number[] = []
  for (let i = 0; i < N; i++) seqs.push((await s.enqueue('c', msg('q/' + i))).seq)
  for (let i = 0; i < N; i++) await s.updateOutgoing('c', seqs[i]!, { messageId: i + 1, state: 'sent' })
  for (let i = 0; i < N / 2; i++) t.not(await s.ackOutgoing('c', i + 1), null)
  t.equal((await s.outgoing('c', Date.now())).length, N / 2)
  await s.putRetained(msg('r/1', 'x', { retain: true }))
  t.equal(await s.countRetained(), 1)

  const ops = s.timings().operations
  const expect: Record<string, number> = { saveSession: 1, enqueue: N, updateOutgoing: N, ackOutgoing: N / 2, outgoing: 1, putRetained: 1, countRetained: 1 }
  for (const [op, o] of Object.entries(ops)) {
    t.equal(o.count, expect[op] ?? 0, `${op}: ${expect[op] ?? 0} calls`)
    t.equal(o.counts.reduce((a, b) => a + b, 0), o.count, `${op}: buckets add up`)
  }
  t.ok(ops.enqueue.sum > 0, 'writes to disk take time')
  t.ok(ops.enqueue.sum < 60, 'and it is in seconds')
})
