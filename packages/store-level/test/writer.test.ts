// GroupWriter: the group commit under LevelStore. One batch per tick, a shared promise per
// batch, reads through the overlay until written, and a failed batch fails the store for good.
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { GroupWriter } from '../src/writer.ts'

const root = await mkdtemp(join(tmpdir(), 'culex-level-writer-'))
t.teardown(() => rm(root, { recursive: true, force: true }))
let n = 0
async function open (): Promise<ClassicLevel<string, Buffer>> {
  const db = new ClassicLevel<string, Buffer>(join(root, String(n++)), { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  await db.open()
  return db
}

t.test('operations of one tick form one batch; commits issued meanwhile form the next', async t => {
  const db = await open()
  t.teardown(() => db.close())
  let batches = 0
  const w = new GroupWriter(db, false, () => { batches++ })
  w.put('a', Buffer.from('1'))
  const p1 = w.commit()
  w.put('b', Buffer.from('2'))
  const p2 = w.commit()
  t.equal(p1, p2, 'one promise for the callers of one batch')
  t.same(w.peek('a'), Buffer.from('1'), 'visible through the overlay before it is written')
  await p1
  t.equal(batches, 1, 'one batch')
  t.same(await db.get('b'), Buffer.from('2'))
  t.equal(w.peek('a'), undefined, 'the overlay empties once written')
  w.del('a')
  t.equal(w.peek('a'), null, 'a pending delete reads as deleted')
  await w.commit()
  t.equal(await db.get('a'), undefined)
  t.equal(batches, 2)
  await w.commit() // nothing pending: resolves at once
})

t.test('a failed batch rejects its commits, the ones waiting behind it, and every later one', async t => {
  const db = await open()
  const w = new GroupWriter(db, false)
  w.put('x', Buffer.from('1'))
  const first = t.rejects(w.commit(), { code: 'STORE_LEVEL_ERR_WRITE', message: /LevelDB batch of 1 operations failed/ })
  await db.close() // the batch fails: the database is closed under it
  await first
  w.put('y', Buffer.from('2'))
  await t.rejects(w.commit(), { code: 'STORE_LEVEL_ERR_WRITE' }, 'the writer stays failed')
})

t.test('commits issued while a failing batch is written are rejected too', async t => {
  const db = await open()
  const w = new GroupWriter(db, false)
  w.put('x', Buffer.from('1'))
  const first = w.commit()
  first.catch(() => {}) // checked below
  // close right after the first batch was handed to LevelDB, then queue a second batch
  const closing = db.close()
  await Promise.resolve()
  w.put('y', Buffer.from('2'))
  const second = w.commit()
  second.catch(() => {}) // checked below
  await closing
  const results = await Promise.allSettled([first, second])
  t.same(results.map((r) => r.status), ['rejected', 'rejected'])
})

t.test('reads see the batch being written and the one filling behind it, the later operation winning', async t => {
  const db = await open()
  t.teardown(() => db.close())
  const w = new GroupWriter(db, false)
  w.put('a', Buffer.from('1'))
  w.put('b', Buffer.from('1'))
  const first = w.commit()
  await Promise.resolve()
  await Promise.resolve() // the first batch is now being written
  w.put('a', Buffer.from('2'))
  const second = w.commit()
  t.same(w.peek('a'), Buffer.from('2'), 'the filling batch wins over the one being written')
  t.same(w.peek('b'), Buffer.from('1'), 'the batch being written is visible')
  w.del('b')
  t.equal(w.peek('b'), null, 'an operation after the first peek updates what reads see')
  t.equal(w.peek('c'), undefined, 'an untouched key')
  await first
  t.same(w.peek('a'), Buffer.from('2'), 'still pending after the first batch is written')
  t.equal(w.peek('b'), null)
  await second
  t.equal(w.peek('a'), undefined, 'nothing pending')
  t.same(await db.get('a'), Buffer.from('2'))
  t.equal(await db.get('b'), undefined)
})
