/**
 * The model test: fast-check generates sequences of store operations over a few clients,
 * topics and packet ids; each sequence runs against a fresh store and against a plain
 * in-memory model of the contract, and every result and the final observable state must agree.
 */
import fc from 'fast-check'
import type { Test } from 'tap'
import type { OutgoingRecord, SessionRecord, Store, StoredMessage, SubscriptionRecord, WillRecord } from '@culex/broker'
import { matches } from '@culex/trie'
import { byTopic, plain, sessionPlain, withoutSeq } from './fixtures.ts'
import type { StoreHarness } from './suite.ts'

const CLIENTS = ['a', 'b', 'c'] as const
const FILTERS = ['x/#', '+/y', 'x/y', '#'] as const
const TOPICS = ['x/y', 'x', 'y/y', '$s/y', 'x/y/z'] as const
const NODES = ['n1', 'n2'] as const
const MAX_QUEUED = 3

type Op =
  | { op: 'saveSession', c: string, version: 3 | 4 | 5, filters: string[], user: string | null }
  | { op: 'deleteSession', c: string }
  | { op: 'addSub', c: string, filter: string, qos: 0 | 1 | 2, id: number }
  | { op: 'removeSub', c: string, filters: string[] }
  | { op: 'putRetained', topic: string, payload: number[] }
  | { op: 'enqueue', c: string, topic: string, payload: number[], ids: number[], sent: boolean }
  | { op: 'enqueueMany', cs: string[], topic: string, payload: number[] }
  | { op: 'send', c: string, k: number }
  | { op: 'ack', c: string, k: number }
  | { op: 'remove', c: string, k: number }
  | { op: 'putIncoming', c: string, id: number }
  | { op: 'deleteIncoming', c: string, id: number }
  | { op: 'putWill', c: string, node: string, payload: number[] }
  | { op: 'deleteWill', c: string }

const client = fc.constantFrom(...CLIENTS)
const bytes = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 })
// queue operations weigh more: they have the most state to get wrong
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('saveSession' as const), c: client, version: fc.constantFrom(3 as const, 4 as const, 5 as const), filters: fc.subarray([...FILTERS]), user: fc.constantFrom(null, 'alice', 'bob') }),
  fc.record({ op: fc.constant('deleteSession' as const), c: client }),
  fc.record({ op: fc.constant('addSub' as const), c: client, filter: fc.constantFrom(...FILTERS), qos: fc.constantFrom(0 as const, 1 as const, 2 as const), id: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ op: fc.constant('removeSub' as const), c: client, filters: fc.array(fc.constantFrom(...FILTERS), { maxLength: 3 }) }),
  fc.record({ op: fc.constant('putRetained' as const), topic: fc.constantFrom(...TOPICS), payload: bytes }),
  { weight: 5, arbitrary: fc.record({ op: fc.constant('enqueue' as const), c: client, topic: fc.constantFrom(...TOPICS), payload: bytes, ids: fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 2 }), sent: fc.boolean() }) },
  fc.record({ op: fc.constant('enqueueMany' as const), cs: fc.subarray([...CLIENTS]), topic: fc.constantFrom(...TOPICS), payload: bytes }),
  { weight: 4, arbitrary: fc.record({ op: fc.constant('send' as const), c: client, k: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('ack' as const), c: client, k: fc.nat(3) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('remove' as const), c: client, k: fc.nat(3) }) },
  fc.record({ op: fc.constant('putIncoming' as const), c: client, id: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('deleteIncoming' as const), c: client, id: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('putWill' as const), c: client, node: fc.constantFrom(...NODES), payload: bytes }),
  fc.record({ op: fc.constant('deleteWill' as const), c: client })
)

/** The contract, as simply as it can be written. */
class Model {
  sessions = new Map<string, SessionRecord>()
  retained = new Map<string, StoredMessage>()
  outgoing = new Map<string, OutgoingRecord[]>()
  incoming = new Map<string, Set<number>>()
  wills = new Map<string, WillRecord>()

  queue (c: string): OutgoingRecord[] {
    let q = this.outgoing.get(c)
    if (q === undefined) this.outgoing.set(c, q = [])
    return q
  }

  append (c: string, seq: number, message: StoredMessage, ids: number[] | undefined, messageId?: number): number {
    const q = this.queue(c)
    const rec: OutgoingRecord = messageId === undefined ? { seq, state: 'queued', message } : { seq, messageId, state: 'sent', message }
    if (ids !== undefined && ids.length > 0) rec.subscriptionIds = ids
    q.push(rec)
    // nothing is dropped: the store reports the queued depth (0 for a delivery already sent)
    return messageId === undefined ? q.filter((r) => r.state === 'queued').length : 0
  }
}

function sub (filter: string, qos: 0 | 1 | 2, id: number): SubscriptionRecord {
  const s: SubscriptionRecord = { topic: filter, qos, nl: id === 1, rap: id === 2, rh: (id % 3) as 0 | 1 | 2 }
  if (id > 0) s.subscriptionId = id
  return s
}

async function check (t: Test, store: Store, model: Model, where: string): Promise<void> {
  const now = Date.now()
  for (const c of CLIENTS) {
    t.same(sessionPlain(await store.getSession(c)), sessionPlain(model.sessions.get(c) ?? null), `${where}: session ${c}`)
    const out = await store.outgoing(c, now)
    const expected = model.outgoing.get(c) ?? []
    t.same(withoutSeq(out), withoutSeq(expected), `${where}: outgoing ${c}`)
    t.same(out.map((r) => r.seq), expected.map((r) => r.seq), `${where}: seqs ${c}`)
    for (let id = 1; id <= 4; id++) {
      t.equal(await store.hasIncoming(c, id), model.incoming.get(c)?.has(id) ?? false, `${where}: incoming ${c} ${id}`)
    }
    t.same(plain(await store.getWill(c)), plain(model.wills.get(c) ?? null), `${where}: will ${c}`)
  }
  for (const n of NODES) {
    const expected = [...model.wills.values()].filter((w) => w.nodeId === n).map((w) => w.clientId).sort()
    t.same((await store.willsOfNode(n)).map((w) => w.clientId).sort(), expected, `${where}: wills of ${n}`)
  }
  for (const f of [...FILTERS, '$s/#', 'x']) {
    const expected = [...model.retained.values()].filter((m) => matches(f, m.topic))
    t.same(byTopic(await store.matchRetained(f)), byTopic(expected), `${where}: retained ${f}`)
  }
  t.equal(await store.countRetained(), model.retained.size, `${where}: retained count`)
  const ids: string[] = []
  for await (const s of store.sessions()) ids.push(s.clientId)
  t.same(ids.sort(), [...model.sessions.keys()].sort(), `${where}: sessions()`)
}

/** Apply one operation to both; `t.same` on every result. */
async function apply (t: Test, store: Store, model: Model, o: Op, nextId: () => number): Promise<void> {
  switch (o.op) {
    case 'saveSession': {
      const s: SessionRecord = { clientId: o.c, protocolVersion: o.version, expiryInterval: 0xFFFFFFFF, subscriptions: o.filters.map((f) => sub(f, 1, 0)) }
      if (o.user !== null) s.username = o.user
      model.sessions.set(o.c, structuredClone(s))
      await store.saveSession(s)
      return
    }
    case 'deleteSession':
      model.sessions.delete(o.c)
      model.outgoing.delete(o.c)
      model.incoming.delete(o.c)
      await store.deleteSession(o.c)
      return
    case 'addSub': {
      const s = model.sessions.get(o.c)
      const rec = sub(o.filter, o.qos, o.id)
      if (s !== undefined) {
        const i = s.subscriptions.findIndex((x) => x.topic === o.filter)
        if (i >= 0) s.subscriptions[i] = rec
        else s.subscriptions.push(rec)
      }
      await store.addSubscriptions(o.c, [{ ...rec }])
      return
    }
    case 'removeSub': {
      const s = model.sessions.get(o.c)
      const expected = o.filters.map((f) => {
        if (s === undefined) return false
        const i = s.subscriptions.findIndex((x) => x.topic === f)
        if (i < 0) return false
        s.subscriptions.splice(i, 1)
        return true
      })
      t.same(await store.removeSubscriptions(o.c, o.filters), expected, `removeSubscriptions ${o.c} ${o.filters.join(',')}`)
      return
    }
    case 'putRetained': {
      const m: StoredMessage = { topic: o.topic, payload: Buffer.from(o.payload), qos: 1, retain: true }
      if (o.payload.length === 0) model.retained.delete(o.topic)
      else model.retained.set(o.topic, { ...m, payload: Buffer.from(o.payload) })
      await store.putRetained(m)
      return
    }
    case 'enqueue': {
      const m: StoredMessage = { topic: o.topic, payload: Buffer.from(o.payload), qos: 2, retain: false, origin: 'p' }
      // sent: a delivery that went out before it was stored (the broker's persistInflight)
      const id = o.sent ? nextId() : undefined
      const r = await store.enqueue(o.c, m, o.ids, id === undefined ? undefined : { messageId: id, state: 'sent' })
      const last = model.queue(o.c).at(-1)
      t.ok(last === undefined || r.seq > last.seq, 'seq increases')
      t.equal(r.queued, model.append(o.c, r.seq, { ...m, payload: Buffer.from(o.payload) }, o.ids, id), `enqueue ${o.c}: queued depth`)
      return
    }
    case 'enqueueMany': {
      const m: StoredMessage = { topic: o.topic, payload: Buffer.from(o.payload), qos: 1, retain: false }
      await store.enqueueMany(o.cs.map((clientId) => ({ clientId })), m)
      for (const c of o.cs) {
        // seqs are the store's to assign: take the new record's seq from the store
        const seq = (await store.outgoing(c, Date.now())).at(-1)!.seq
        model.append(c, seq, { ...m, payload: Buffer.from(o.payload) }, undefined)
      }
      return
    }
    case 'send': {
      const r = model.outgoing.get(o.c)?.[o.k]
      if (r === undefined || r.state === 'pubrel') return
      if (r.state === 'queued') {
        r.state = 'sent'
        r.messageId = nextId()
      } else {
        r.state = 'pubrel'
      }
      await store.updateOutgoing(o.c, r.seq, { messageId: r.messageId!, state: r.state })
      return
    }
    case 'ack': {
      const q = model.outgoing.get(o.c) ?? []
      const r = q[o.k]
      const id = r?.messageId ?? 60000 + o.k
      const i = q.findIndex((x) => x.messageId === id && x.state !== 'queued')
      const expected = i < 0 ? null : q.splice(i, 1)[0]!
      const got = await store.ackOutgoing(o.c, id)
      t.same(got === null ? null : withoutSeq([got]), expected === null ? null : withoutSeq([expected]), `ack ${o.c} ${id}`)
      return
    }
    case 'remove': {
      const q = model.outgoing.get(o.c) ?? []
      const r = q[o.k]
      const seq = r?.seq ?? 1e12
      if (r !== undefined) q.splice(o.k, 1)
      await store.removeOutgoing(o.c, seq)
      return
    }
    case 'putIncoming': {
      let set = model.incoming.get(o.c)
      if (set === undefined) model.incoming.set(o.c, set = new Set())
      set.add(o.id)
      await store.putIncoming(o.c, o.id)
      return
    }
    case 'deleteIncoming':
      model.incoming.get(o.c)?.delete(o.id)
      await store.deleteIncoming(o.c, o.id)
      return
    case 'putWill': {
      const w: WillRecord = { clientId: o.c, nodeId: o.node, topic: `w/${o.c}`, payload: Buffer.from(o.payload), qos: 1, retain: false }
      model.wills.set(o.c, { ...w, payload: Buffer.from(o.payload) })
      await store.putWill(w)
      return
    }
    case 'deleteWill':
      model.wills.delete(o.c)
      await store.deleteWill(o.c)
  }
}

/**
 * Run `runs` random operation sequences, each on a fresh store from `build`.
 * Failures are reported through `t` (fast-check prints the seed and the shrunk sequence).
 */
export async function modelTest (t: Test, build: (opts: { maxQueuedMessages: number }) => Promise<StoreHarness>, runs: number): Promise<void> {
  let failed = false
  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 80, size: 'max' }), async (ops) => {
    const h = await build({ maxQueuedMessages: MAX_QUEUED })
    // assertions of a run go to a collector; only a failing run reaches the tap output
    const errors: string[] = []
    const probe = collector(errors)
    try {
      const model = new Model()
      let id = 0
      const nextId = (): number => ++id
      for (const o of ops) await apply(probe, h.store, model, o, nextId)
      await check(probe, h.store, model, 'end')
    } finally {
      await h.store.close().catch(() => {})
      await h.teardown()
    }
    if (errors.length > 0) throw new Error(errors.join('\n'))
  }), { numRuns: runs }).catch((err: unknown) => {
    failed = true
    t.fail(String((err as Error).message))
  })
  if (!failed) t.pass(`${runs} random operation sequences agree with the model`)
}

/** A stand-in for `t` that records mismatches instead of reporting each passing check. */
function collector (errors: string[]): Test {
  const same = (a: unknown, b: unknown, msg?: string): boolean => {
    const ok = JSON.stringify(a) === JSON.stringify(b)
    if (!ok) errors.push(`${msg ?? ''}: got ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`)
    return ok
  }
  return {
    same,
    equal: same,
    ok: (v: unknown, msg?: string) => same(Boolean(v), true, msg)
  } as unknown as Test
}
