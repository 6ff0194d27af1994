import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { msg, plain, richMessage, richWill, session } from '@culex/store-suite'
import { LevelStore, isLevelStoreError } from '../src/index.ts'

const root = await mkdtemp(join(tmpdir(), 'culex-level-own-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let n = 0
const dir = (): string => join(root, String(n++))

t.test('reopening after close keeps everything', async (t) => {
  const path = dir()
  const a = new LevelStore({ path, maxQueuedMessages: 10 })
  await a.saveSession(session('c', { expiryInterval: 60 }))
  await a.setSessionExpiry('c', Date.now() + 60_000)
  const m = richMessage('keep/me')
  await a.putRetained(m)
  const e1 = await a.enqueue('c', m, [1, 2])
  await a.updateOutgoing('c', e1.seq, { messageId: 7, state: 'pubrel' })
  const e2 = await a.enqueue('c', msg('q/2'))
  await a.putIncoming('c', 99)
  await a.putWill(richWill('c', 'node-1'))
  const before = {
    session: plain(await a.getSession('c')),
    retained: plain(await a.matchRetained('#')),
    outgoing: plain(await a.outgoing('c', Date.now())),
    will: plain(await a.getWill('c'))
  }
  await a.close()

  const b = new LevelStore({ path, maxQueuedMessages: 10 })
  t.teardown(() => b.close().catch(() => {}))
  t.same(plain(await b.getSession('c')), before.session, 'session')
  t.same(plain(await b.matchRetained('#')), before.retained, 'retained')
  t.equal(await b.countRetained(), 1)
  t.same(plain(await b.outgoing('c', Date.now())), before.outgoing, 'outgoing with states and ids')
  t.equal(await b.hasIncoming('c', 99), true, 'incoming id')
  t.same(plain(await b.getWill('c')), before.will, 'will')
  t.same((await b.willsOfNode('node-1')).length, 1, 'will index rebuilt')
  const e3 = await b.enqueue('c', msg('q/3'))
  t.ok(e3.seq > e2.seq, 'seq continues after reopen')
  t.equal((await b.ackOutgoing('c', 7))!.seq, e1.seq, 'inflight index rebuilt')
})

t.test('writes issued without awaiting are all durable once close resolves', async (t) => {
  const path = dir()
  const a = new LevelStore({ path, sync: false })
  const pending: Array<Promise<unknown>> = []
  for (let i = 0; i < 500; i++) pending.push(a.enqueue(`c${i % 5}`, msg(`t/${i}`, String(i))))
  for (let i = 0; i < 100; i++) pending.push(a.putRetained(msg(`r/${i}`, 'x', { retain: true })))
  await Promise.all(pending)
  await a.close()
  const b = new LevelStore({ path })
  t.teardown(() => b.close().catch(() => {}))
  let total = 0
  for (let c = 0; c < 5; c++) {
    const list = await b.outgoing(`c${c}`, Date.now())
    total += list.length
    t.same(list.map((r) => Number(r.message.payload.toString()) % 5), list.map(() => c), `c${c} has its own messages`)
  }
  t.equal(total, 500)
  t.equal(await b.countRetained(), 100)
})

t.test('a read issued right after a write sees it', async (t) => {
  const s = new LevelStore({ path: dir() })
  t.teardown(() => s.close())
  await s.open()
  const put = s.putWill(richWill('c', 'n'))
  const got = s.getWill('c')
  await put
  t.equal((await got)?.nodeId, 'n')
})

t.test('a second store on the same directory fails with a clear error', async (t) => {
  const path = dir()
  const a = new LevelStore({ path })
  t.teardown(() => a.close())
  await a.open()
  const b = new LevelStore({ path })
  const err = await b.open().then(() => null, (e: unknown) => e)
  t.ok(isLevelStoreError(err), 'a LevelStoreError')
  t.equal((err as { code: string }).code, 'STORE_LEVEL_ERR_OPEN')
  t.match((err as Error).message, path, 'names the directory')
})

t.test('after close every call rejects with STORE_LEVEL_ERR_CLOSED', async (t) => {
  const s = new LevelStore({ path: dir() })
  await s.close()
  await t.rejects(s.getWill('x'), { code: 'STORE_LEVEL_ERR_CLOSED' })
  await t.rejects(s.close(), { code: 'STORE_LEVEL_ERR_CLOSED' })
})

t.test('a sent message keeps its state in a small record that goes with it', async (t) => {
  const path = dir()
  const a = new LevelStore({ path })
  await a.saveSession(session('c', { expiryInterval: 60 }))
  const seqs: number[] = []
  for (let i = 0; i < 4; i++) seqs.push((await a.enqueue('c', msg(`s/${i}`, String(i), { qos: 2 }))).seq)
  for (let i = 0; i < 4; i++) await a.updateOutgoing('c', seqs[i]!, { messageId: 10 + i, state: i % 2 === 0 ? 'sent' : 'pubrel' })
  t.same((await a.outgoing('c', Date.now())).map((r) => [r.state, r.messageId]), [['sent', 10], ['pubrel', 11], ['sent', 12], ['pubrel', 13]], 'states and ids as updated')
  await a.removeOutgoing('c', seqs[0]!)
  const acked = await a.ackOutgoing('c', 11)
  t.same([acked?.state, acked?.messageId, acked?.message.payload.toString()], ['pubrel', 11, '1'], 'ack returns the record with its current state')
  await a.deleteSession('c')
  await a.close()
  // nothing of the session is left on disk: no message records, no state records
  const { ClassicLevel } = await import('classic-level')
  const db = new ClassicLevel<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  const left: string[] = []
  for await (const k of db.keys()) if (k[0] === 'q' || k[0] === 'p') left.push(k)
  await db.close()
  t.same(left, [], 'no q or p keys remain')
})

/** A closed store with one queued message for client c, then `raw` state records written to it directly. */
async function withStateRecords (raw: (seq: number) => Array<[number, Buffer]>): Promise<{ path: string, seq: number }> {
  const path = dir()
  const a = new LevelStore({ path })
  const { seq } = await a.enqueue('c', msg('o/1', 'x', { qos: 1 }))
  await a.close()
  const { ClassicLevel } = await import('classic-level')
  const db = new ClassicLevel<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  for (const [s, value] of raw(seq)) await db.put(`p\u0000c\u0000${s.toString(16).padStart(14, '0')}`, value)
  await db.close()
  return { path, seq }
}

t.test('a state record without its message record is ignored at load', async (t) => {
  const { path, seq } = await withStateRecords((seq) => [[seq + 100, Buffer.from([0x73, 0, 5])], [seq, Buffer.from([0x72, 0, 9])]])
  const b = new LevelStore({ path })
  t.teardown(() => b.close().catch(() => {}))
  t.same((await b.outgoing('c', Date.now())).map((r) => [r.seq, r.state, r.messageId]), [[seq, 'pubrel', 9]], 'the orphan is skipped, the matching state applies')
})

t.test('a corrupt state record is reported, not guessed', async (t) => {
  const { path } = await withStateRecords((seq) => [[seq, Buffer.from('zz')]])
  const b = new LevelStore({ path })
  t.teardown(() => b.close().catch(() => {}))
  await t.rejects(b.outgoing('c', Date.now()), { code: 'STORE_LEVEL_ERR_CORRUPT', message: /expected 3 bytes/ })
})

t.test('the retained cache is rebuilt from disk and does not alias the caller\'s payload', async (t) => {
  const path = dir()
  const a = new LevelStore({ path })
  const payload = Buffer.from('original')
  await a.putRetained(msg('c/1', payload, { retain: true }))
  payload.write('CHANGED!')
  t.equal((await a.matchRetained('c/#'))[0]?.payload.toString(), 'original', 'a later change to the caller\'s buffer is not seen')
  const got = await a.matchRetained('c/1')
  got[0]!.topic = 'mutated'
  t.equal((await a.matchRetained('c/1'))[0]?.topic, 'c/1', 'mutating a result does not change the store')
  await a.putRetained(msg('c/2', 'soon gone', { retain: true, expiresAt: Date.now() + 50 }))
  await a.close()
  await new Promise((resolve) => setTimeout(resolve, 80))
  for (const cacheRetained of [true, false]) {
    const b = new LevelStore({ path, cacheRetained })
    t.same((await b.matchRetained('#')).map((m) => [m.topic, m.payload.toString()]), [['c/1', 'original']], `reopened (cacheRetained: ${cacheRetained}): expired one dropped`)
    await b.close()
  }
})
