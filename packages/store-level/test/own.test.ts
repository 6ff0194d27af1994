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
