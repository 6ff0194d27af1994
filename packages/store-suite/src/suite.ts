/**
 * The contract every Culex {@link Store} passes. One function, {@link storeSuite}, adds
 * subtests to a tap `Test`; each subtest builds a fresh, empty store through the caller's
 * `build` and tears it down afterwards, so backends never see each other's data.
 *
 * What is checked: sessions and subscriptions with expiry, retained messages (replace,
 * clear with an empty payload, MQTT filter matching including `$` topics), the outgoing
 * queue and inflight records (seq order, bound with drop of the oldest queued, message
 * expiry), `enqueueMany`, incoming QoS 2 ids, wills, byte-exact binary payloads and
 * properties, concurrent writers on one instance and on two instances sharing one backend,
 * and a fast-check model test (see model.ts).
 */
import type { Test } from 'tap'
import type { Store, StoredMessage } from '@culex/broker'
import { byTopic, msg, plain, richMessage, richWill, session, sessionPlain, withoutSeq } from './fixtures.ts'
import { modelTest } from './model.ts'

/** What `build` returns: an empty store and how to dispose of it (and its backend). */
export interface StoreHarness {
  store: Store
  /** Close the store (if the test did not) and release the backend. Must not throw. */
  teardown: () => Promise<void>
}

/** Two stores on one shared backend, as two broker nodes would use it. */
export interface StorePairHarness {
  a: Store
  b: Store
  teardown: () => Promise<void>
}

/** Options of {@link storeSuite}. */
export interface StoreSuiteOptions {
  /** Name shown in the test output, e.g. 'LevelStore'. */
  name: string
  /** A fresh empty store (`maxQueuedMessages` is passed for older stores and ignored: stores never drop). */
  build: (opts: { maxQueuedMessages: number }) => Promise<StoreHarness>
  /**
   * Two instances sharing one fresh backend. When absent the shared-backend tests are
   * skipped, printing `pairSkipReason`.
   */
  buildPair?: (opts: { maxQueuedMessages: number }) => Promise<StorePairHarness>
  /** Why there is no `buildPair` (e.g. "LevelDB allows one process per directory"). */
  pairSkipReason?: string
  /** fast-check runs of the model test. Default 100. */
  modelRuns?: number
}

/** Closes the store (ignoring a second close) and releases the backend. */
async function dispose (h: StoreHarness): Promise<void> {
  await h.store.close().catch(() => {})
  await h.teardown()
}

/**
 * Add the Store contract tests to `t`.
 *
 * @param t - a tap Test (the file's root `t`, or a subtest)
 * @param opts - how to build the store under test, see {@link StoreSuiteOptions}
 * @example
 * ```ts
 * import t from 'tap'
 * import { MemoryStore } from '@culex/broker'
 * import { storeSuite } from '@culex/store-suite'
 * storeSuite(t, {
 *   name: 'MemoryStore',
 *   build: async (o) => ({ store: new MemoryStore(o), teardown: async () => {} })
 * })
 * ```
 */
export function storeSuite (t: Test, opts: StoreSuiteOptions): void {
  const withStore = (name: string, max: number, fn: (t: Test, store: Store) => Promise<void>): void => {
    void t.test(`${opts.name}: ${name}`, async (t) => {
      const h = await opts.build({ maxQueuedMessages: max })
      t.teardown(() => dispose(h))
      await fn(t, h.store)
    })
  }

  withStore('sessions: save, get, replace, delete, iterate', 100, async (t, store) => {
    t.equal(await store.getSession('c1'), null, 'no session yet')
    const s1 = session('c1')
    await store.saveSession(s1)
    t.same(sessionPlain(await store.getSession('c1')), sessionPlain(s1), 'round trip')
    const got = (await store.getSession('c1'))!
    got.subscriptions.push({ topic: 'mutated', qos: 0, nl: false, rap: false, rh: 0 })
    got.expiryInterval = 1
    t.same(sessionPlain(await store.getSession('c1')), sessionPlain(s1), 'returned records are fresh objects')
    const s1b = session('c1', { protocolVersion: 4, expiryInterval: 30, subscriptions: [{ topic: 'only/one', qos: 0, nl: false, rap: false, rh: 0 }] })
    await store.saveSession(s1b)
    t.same(sessionPlain(await store.getSession('c1')), sessionPlain(s1b), 'saveSession replaces everything')
    const owned = session('c1', { username: 'alice' })
    await store.saveSession(owned)
    t.equal((await store.getSession('c1'))!.username, 'alice', 'the owner username is kept')
    await store.saveSession(s1b)
    t.equal((await store.getSession('c1'))!.username, undefined, 'a record without owner replaces one with an owner')
    await store.saveSession(session('c2', { protocolVersion: 3 }))
    await store.saveSession(session('ü/ +#\u2603', { subscriptions: [] }))
    const ids: string[] = []
    for await (const s of store.sessions()) ids.push(s.clientId)
    t.same(ids.sort(), ['c1', 'c2', 'ü/ +#\u2603'].sort(), 'sessions() yields every session')
    await store.deleteSession('c2')
    t.equal(await store.getSession('c2'), null, 'deleted')
    await store.deleteSession('never-existed')
    t.pass('deleting an unknown session is a no-op')
  })

  withStore('subscriptions: add, replace by filter, remove', 100, async (t, store) => {
    await store.addSubscriptions('nobody', [{ topic: 'x', qos: 1, nl: false, rap: false, rh: 0 }])
    t.equal(await store.getSession('nobody'), null, 'addSubscriptions creates no session')
    t.same(await store.removeSubscriptions('nobody', ['x']), [false], 'nothing to remove without a session')
    await store.saveSession(session('c', { subscriptions: [] }))
    await store.addSubscriptions('c', [
      { topic: 'a/#', qos: 0, nl: false, rap: false, rh: 0 },
      { topic: '+/b', qos: 1, nl: true, rap: false, rh: 1, subscriptionId: 7 }
    ])
    await store.addSubscriptions('c', [{ topic: 'a/#', qos: 2, nl: false, rap: true, rh: 2, subscriptionId: 1 }])
    t.same(sessionPlain(await store.getSession('c')), sessionPlain(session('c', {
      subscriptions: [
        { topic: 'a/#', qos: 2, nl: false, rap: true, rh: 2, subscriptionId: 1 },
        { topic: '+/b', qos: 1, nl: true, rap: false, rh: 1, subscriptionId: 7 }
      ]
    })), 'added and replaced by filter')
    t.same(await store.removeSubscriptions('c', ['+/b', 'nope', 'a/#', 'a/#']), [true, false, true, false], 'which filters existed')
    t.same((await store.getSession('c'))!.subscriptions, [], 'all removed')
  })

  withStore('session expiry: expired sessions are gone', 100, async (t, store) => {
    const now = Date.now()
    await store.saveSession(session('gone', { expiryInterval: 1 }))
    await store.saveSession(session('later', { expiryInterval: 3600 }))
    await store.saveSession(session('online', { expiryInterval: 10 }))
    await store.enqueue('gone', msg('t'))
    await store.putIncoming('gone', 5)
    await store.setSessionExpiry('gone', now - 1)
    await store.setSessionExpiry('later', now + 3_600_000)
    await store.setSessionExpiry('online', now - 1)
    await store.setSessionExpiry('online', undefined)
    await store.setSessionExpiry('unknown', now - 1)
    t.equal(await store.getSession('gone'), null, 'an expired session is not returned')
    t.equal((await store.getSession('later'))!.expiresAt, now + 3_600_000, 'expiresAt kept')
    t.equal((await store.getSession('online'))!.expiresAt, undefined, 'expiry cleared by undefined')
    const ids: string[] = []
    for await (const s of store.sessions()) ids.push(s.clientId)
    t.same(ids.sort(), ['later', 'online'], 'sessions() skips expired sessions')
    t.same((await store.expireSessions(now)).sort(), ['gone'], 'expireSessions returns what it deleted')
    t.same(await store.expireSessions(now), [], 'nothing twice')
    t.same(await store.outgoing('gone', now), [], 'its outgoing queue is gone')
    t.equal(await store.hasIncoming('gone', 5), false, 'its incoming ids are gone')
    t.equal(await store.getSession('unknown'), null, 'setSessionExpiry creates no session')
    t.same(await store.expireSessions(now + 3_600_000), ['later'], 'expires at exactly expiresAt')
  })

  withStore('deleteSession removes queue and incoming ids, keeps the will', 100, async (t, store) => {
    await store.saveSession(session('c'))
    await store.enqueue('c', msg('t'))
    await store.putIncoming('c', 1)
    await store.putWill(richWill('c', 'node'))
    await store.deleteSession('c')
    t.equal(await store.getSession('c'), null)
    t.same(await store.outgoing('c', Date.now()), [])
    t.equal(await store.hasIncoming('c', 1), false)
    t.not(await store.getWill('c'), null, 'wills are separate')
  })

  withStore('retained: store, replace, clear, count', 100, async (t, store) => {
    t.same(await store.matchRetained('#'), [], 'empty')
    t.equal(await store.countRetained(), 0)
    await store.putRetained(msg('a/b', 'one', { retain: true }))
    await store.putRetained(msg('a/c', 'two', { retain: true }))
    t.equal(await store.countRetained(), 2)
    await store.putRetained(msg('a/b', 'three', { retain: true, qos: 0 }))
    t.same(byTopic(await store.matchRetained('a/b')), byTopic([msg('a/b', 'three', { retain: true, qos: 0 })]), 'replaced')
    t.equal(await store.countRetained(), 2, 'replacing does not add')
    await store.putRetained(msg('a/b', '', { retain: true }))
    t.same(await store.matchRetained('a/b'), [], 'an empty payload clears')
    t.equal(await store.countRetained(), 1)
    await store.putRetained(msg('never/set', '', { retain: true }))
    t.equal(await store.countRetained(), 1, 'clearing an unknown topic is a no-op')
  })

  withStore('retained: filter matching with MQTT semantics', 100, async (t, store) => {
    const topics = ['a', 'a/b', 'a/b/c', 'a//c', '/a', 'b/b', '$SYS/x', '$SYS/x/y', '$other', 'a/b/c/d', 'ü/ñ', 'sport/tennis/player1']
    for (const topic of topics) await store.putRetained(msg(topic, topic, { retain: true }))
    const match = async (f: string): Promise<string[]> => (await store.matchRetained(f)).map((m) => m.topic).sort()
    const cases: Array<[string, string[]]> = [
      ['#', ['/a', 'a', 'a//c', 'a/b', 'a/b/c', 'a/b/c/d', 'b/b', 'sport/tennis/player1', 'ü/ñ']],
      ['a/#', ['a', 'a//c', 'a/b', 'a/b/c', 'a/b/c/d']],
      ['a/+', ['a/b']],
      ['a/+/c', ['a//c', 'a/b/c']],
      ['+/b', ['a/b', 'b/b']],
      ['+', ['a']],
      ['+/+', ['/a', 'a/b', 'b/b', 'ü/ñ']],
      ['/+', ['/a']],
      ['$SYS/#', ['$SYS/x', '$SYS/x/y']],
      ['$SYS/+', ['$SYS/x']],
      ['+/x', []],
      ['$other', ['$other']],
      ['a/b/c', ['a/b/c']],
      ['nope/#', []],
      ['sport/+/player1', ['sport/tennis/player1']],
      ['ü/+', ['ü/ñ']]
    ]
    for (const [filter, expected] of cases) t.same(await match(filter), expected, `filter ${filter}`)
    const [one] = await store.matchRetained('a/b/c')
    t.equal(one!.payload.toString(), 'a/b/c', 'payload of the match')
  })

  withStore('retained: expired messages are not returned', 100, async (t, store) => {
    await store.putRetained(msg('old', 'x', { retain: true, expiresAt: Date.now() - 1 }))
    await store.putRetained(msg('new', 'y', { retain: true, expiresAt: Date.now() + 60_000 }))
    t.same((await store.matchRetained('#')).map((m) => m.topic), ['new'])
    t.same(await store.matchRetained('old'), [], 'nor by exact topic')
  })

  withStore('outgoing: enqueue, send, pubrel, ack by packet id, replay in seq order', 100, async (t, store) => {
    const r1 = await store.enqueue('c', msg('t/1', '1'))
    const r2 = await store.enqueue('c', msg('t/2', '2', { qos: 2 }), [3, 4])
    const r3 = await store.enqueue('c', msg('t/3', '3'))
    t.ok(r1.seq < r2.seq && r2.seq < r3.seq, 'seq strictly increasing')
    t.same([r1.queued, r2.queued, r3.queued], [1, 2, 3], 'each enqueue reports the queued depth')
    await store.updateOutgoing('c', r1.seq, { messageId: 10, state: 'sent' })
    await store.updateOutgoing('c', r2.seq, { messageId: 11, state: 'sent' })
    await store.updateOutgoing('c', r2.seq, { messageId: 11, state: 'pubrel' })
    await store.updateOutgoing('c', 999_999_999, { messageId: 12, state: 'sent' })
    const list = await store.outgoing('c', Date.now())
    t.same(list.map((r) => r.seq), [r1.seq, r2.seq, r3.seq], 'seq order')
    t.same(withoutSeq(list), withoutSeq([
      { seq: 0, messageId: 10, state: 'sent', message: msg('t/1', '1') },
      { seq: 0, messageId: 11, state: 'pubrel', message: msg('t/2', '2', { qos: 2 }), subscriptionIds: [3, 4] },
      { seq: 0, state: 'queued', message: msg('t/3', '3') }
    ]), 'states, ids, subscription ids')
    t.equal(await store.ackOutgoing('c', 99), null, 'unknown packet id')
    t.equal(await store.ackOutgoing('other', 10), null, 'other client')
    const acked = await store.ackOutgoing('c', 11)
    t.same(withoutSeq([acked!]), withoutSeq([list[1]!]), 'ack resolves to the record')
    t.equal(acked!.seq, r2.seq)
    t.equal(await store.ackOutgoing('c', 11), null, 'acked once')
    await store.removeOutgoing('c', r3.seq)
    await store.removeOutgoing('c', 12345678)
    t.same((await store.outgoing('c', Date.now())).map((r) => r.seq), [r1.seq], 'removed by seq')
    const r4 = await store.enqueue('c', msg('t/4'))
    t.ok(r4.seq > r3.seq, 'seq keeps increasing after removals')
    t.same(await store.outgoing('nobody', Date.now()), [], 'no queue')
  })

  withStore('outgoing: a delivery already sent is enqueued with its state and packet id, not counted as queued', 2, async (t, store) => {
    const past = Date.now() - 10
    const q1 = await store.enqueue('c', msg('q/1'))
    const s1 = await store.enqueue('c', msg('s/1', 'x', { qos: 2 }), [7], { messageId: 21, state: 'sent' })
    const s2 = await store.enqueue('c', msg('s/2', 'y', { expiresAt: past }), undefined, { messageId: 22, state: 'pubrel' })
    const q2 = await store.enqueue('c', msg('q/2'))
    t.ok(q1.seq < s1.seq && s1.seq < s2.seq && s2.seq < q2.seq, 'one seq order for both kinds')
    t.same([q1.queued, s1.queued, s2.queued, q2.queued], [1, 0, 0, 2], 'sent records are not counted as queued')
    await store.updateOutgoing('c', q1.seq, { messageId: 20, state: 'sent' })
    await store.ackOutgoing('c', 20)
    const q3 = await store.enqueue('c', msg('q/3'))
    t.equal(q3.queued, 2, 'a queued record sent and acknowledged is no longer counted')
    const list = await store.outgoing('c', Date.now())
    t.same(withoutSeq(list), withoutSeq([
      { seq: 0, messageId: 21, state: 'sent', message: msg('s/1', 'x', { qos: 2 }), subscriptionIds: [7] },
      { seq: 0, messageId: 22, state: 'pubrel', message: msg('s/2', 'y', { expiresAt: past }) },
      { seq: 0, state: 'queued', message: msg('q/2') },
      { seq: 0, state: 'queued', message: msg('q/3') }
    ]), 'states and packet ids as given; an expired one already sent is kept [MQTT-3.3.2-5]')
    await store.updateOutgoing('c', s1.seq, { messageId: 21, state: 'pubrel' })
    t.equal((await store.outgoing('c', Date.now()))[0]!.state, 'pubrel', 'updated like any sent record')
    t.equal((await store.ackOutgoing('c', 22))!.seq, s2.seq, 'acked by its packet id')
    t.equal((await store.ackOutgoing('c', 21))!.seq, s1.seq)
    t.same((await store.outgoing('c', Date.now())).map((r) => r.message.topic), ['q/2', 'q/3'])
  })

  withStore('outgoing: a queued record cannot be acked before it is sent', 100, async (t, store) => {
    const r = await store.enqueue('c', msg('t'))
    t.equal(await store.ackOutgoing('c', 1), null)
    await store.updateOutgoing('c', r.seq, { messageId: 1, state: 'sent' })
    t.equal((await store.ackOutgoing('c', 1))!.seq, r.seq)
  })

  withStore('outgoing: nothing is ever dropped; enqueue reports the queued depth (the broker bounds it)', 3, async (t, store) => {
    const depth: number[] = []
    for (let i = 0; i < 6; i++) {
      const r = await store.enqueue('c', msg(`t/${i}`))
      depth.push(r.queued)
      if (i === 0) await store.updateOutgoing('c', r.seq, { messageId: 1, state: 'sent' })
    }
    t.same(depth, [1, 1, 2, 3, 4, 5], 'queued records counted, the sent one not')
    const list = await store.outgoing('c', Date.now())
    t.same(list.map((r) => r.message.topic), ['t/0', 't/1', 't/2', 't/3', 't/4', 't/5'], 'every record kept')
    t.same(list.map((r) => r.state), ['sent', 'queued', 'queued', 'queued', 'queued', 'queued'])
    t.same((await store.outgoing('other', Date.now())), [], 'per client')
  })

  withStore('outgoing: expired queued messages are dropped, inflight ones kept', 100, async (t, store) => {
    const now = Date.now()
    const a = await store.enqueue('c', msg('inflight', 'x', { expiresAt: now - 10 }))
    await store.updateOutgoing('c', a.seq, { messageId: 3, state: 'sent' })
    await store.enqueue('c', msg('expired', 'x', { expiresAt: now - 10 }))
    await store.enqueue('c', msg('at-now', 'x', { expiresAt: now }))
    await store.enqueue('c', msg('fresh', 'x', { expiresAt: now + 60_000 }))
    await store.enqueue('c', msg('forever'))
    t.same((await store.outgoing('c', now)).map((r) => r.message.topic), ['inflight', 'fresh', 'forever'])
    t.same((await store.outgoing('c', now - 1_000_000)).map((r) => r.message.topic), ['inflight', 'fresh', 'forever'], 'expired records were deleted, not just hidden')
  })

  withStore('enqueueMany: one message to many queues', 2, async (t, store) => {
    await store.enqueue('b', msg('before'))
    await store.enqueue('b', msg('before2'))
    const m = richMessage('fan/out')
    await store.enqueueMany([{ clientId: 'a', subscriptionIds: [1, 2] }, { clientId: 'b' }, { clientId: 'c', subscriptionIds: [] }], m)
    await store.enqueueMany([], m)
    const a = await store.outgoing('a', Date.now())
    const b = await store.outgoing('b', Date.now())
    const c = await store.outgoing('c', Date.now())
    t.same(withoutSeq(a), withoutSeq([{ seq: 0, state: 'queued', message: m, subscriptionIds: [1, 2] }]))
    t.same(b.map((r) => r.message.topic), ['before', 'before2', 'fan/out'], 'appended, nothing dropped')
    t.equal(c.length, 1)
    t.same(c[0]!.subscriptionIds ?? [], [], 'no ids')
    t.same(plain(c[0]!.message), plain(m), 'byte for byte')
  })

  withStore('incoming QoS 2 ids', 100, async (t, store) => {
    t.equal(await store.hasIncoming('c', 1), false)
    await store.putIncoming('c', 1)
    await store.putIncoming('c', 65535)
    await store.putIncoming('c', 1)
    t.equal(await store.hasIncoming('c', 1), true)
    t.equal(await store.hasIncoming('c', 65535), true)
    t.equal(await store.hasIncoming('d', 1), false, 'per client')
    await store.deleteIncoming('c', 1)
    await store.deleteIncoming('c', 2)
    t.equal(await store.hasIncoming('c', 1), false)
    t.equal(await store.hasIncoming('c', 65535), true)
  })

  withStore('wills: put, replace, get, delete, wills of a node', 100, async (t, store) => {
    t.equal(await store.getWill('c'), null)
    const w = richWill('c', 'node-A')
    await store.putWill(w)
    t.same(plain(await store.getWill('c')), plain(w), 'byte for byte with properties')
    await store.putWill({ clientId: 'd', nodeId: 'node-A', topic: 'w/d', payload: Buffer.from('d'), qos: 0, retain: false })
    await store.putWill({ clientId: 'e', nodeId: 'node-B', topic: 'w/e', payload: Buffer.from('e'), qos: 2, retain: false })
    t.same((await store.willsOfNode('node-A')).map((x) => x.clientId).sort(), ['c', 'd'])
    t.same((await store.willsOfNode('node-B')).map((x) => x.clientId), ['e'])
    t.same(await store.willsOfNode('node-C'), [])
    await store.putWill({ clientId: 'd', nodeId: 'node-B', topic: 'w/d2', payload: Buffer.from('d2'), qos: 0, retain: false })
    t.same((await store.willsOfNode('node-A')).map((x) => x.clientId), ['c'], 'a replaced will moves to its new node')
    t.same((await store.willsOfNode('node-B')).map((x) => x.clientId).sort(), ['d', 'e'])
    await store.deleteWill('c')
    await store.deleteWill('zzz')
    t.equal(await store.getWill('c'), null)
    t.same(await store.willsOfNode('node-A'), [])
  })

  withStore('binary payloads and properties round-trip byte for byte; inputs are not kept by reference', 100, async (t, store) => {
    const m = richMessage('bin')
    const expected = plain(m)
    await store.putRetained(m)
    const e = await store.enqueue('c', m, [5])
    await store.updateOutgoing('c', e.seq, { messageId: 65535, state: 'sent' })
    await store.enqueue('c', { ...m, payload: Buffer.alloc(0), properties: {} })
    m.payload.fill(0)
    m.properties!.correlationData!.fill(0)
    ;(m.properties!.userProperties as Array<[string, string]>)[0]![1] = 'changed'
    t.same(plain((await store.matchRetained('bin'))[0]), expected, 'retained')
    const [sent, empty] = await store.outgoing('c', Date.now())
    t.same(plain(sent!.message), expected, 'outgoing')
    t.same(empty!.message.payload.length, 0, 'an empty payload in a queue is kept')
    const big = Buffer.alloc(256 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff
    await store.enqueue('big', msg('big', big))
    t.ok((await store.outgoing('big', Date.now()))[0]!.message.payload.equals(big), '256 KiB payload')
  })

  withStore('user properties keep their order as pairs, and their shape as an object', 100, async (t, store) => {
    const pairs: Array<[string, string]> = [['2', 'a'], ['k', 'b'], ['10', 'c'], ['1', 'd'], ['k', 'e'], ['$x.y', 'f']]
    const m: StoredMessage = { topic: 'up/pairs', payload: Buffer.from('p'), qos: 1, retain: true, properties: { userProperties: pairs } }
    const o: StoredMessage = { topic: 'up/object', payload: Buffer.from('o'), qos: 1, retain: true, properties: { userProperties: { k: ['b', 'e'], z: 'y' } } }
    await store.putRetained(m)
    await store.putRetained(o)
    await store.enqueue('c', m)
    await store.enqueue('c', o)
    await store.putWill({ clientId: 'c', nodeId: 'n', topic: 'w', payload: Buffer.from('w'), qos: 1, retain: false, properties: { userProperties: pairs } })
    const retained = (await store.matchRetained('up/#')).sort((a, b) => a.topic < b.topic ? -1 : 1)
    const queued = await store.outgoing('c', Date.now())
    // strictSame: an object with keys "0", "1", … is not a list of pairs
    t.strictSame(retained[1]?.properties?.userProperties, pairs, 'retained, pairs')
    t.strictSame(queued[0]?.message.properties?.userProperties, pairs, 'queued, pairs')
    t.strictSame((await store.getWill('c'))?.properties?.userProperties, pairs, 'will, pairs')
    t.same(retained[0]?.properties?.userProperties, o.properties!.userProperties, 'retained, object')
    t.same(queued[1]?.message.properties?.userProperties, o.properties!.userProperties, 'queued, object')
    t.notOk(Array.isArray(queued[1]?.message.properties?.userProperties), 'an object stays an object')
  })

  withStore('concurrent operations on one instance', 50, async (t, store) => {
    const n = 200
    const results = await Promise.all(Array.from({ length: n }, async (_, i) => await store.enqueue(`c${i % 4}`, msg(`t/${i}`, String(i)))))
    for (let c = 0; c < 4; c++) {
      const mine = results.filter((_, i) => i % 4 === c).map((r) => r.seq)
      t.equal(new Set(mine).size, mine.length, `c${c}: distinct seqs (seq is per client)`)
    }
    let total = 0
    for (let c = 0; c < 4; c++) {
      const list = await store.outgoing(`c${c}`, Date.now())
      total += list.length
      const seqs = list.map((r) => r.seq)
      t.same(seqs, [...seqs].sort((a, b) => a - b), `c${c} in seq order`)
    }
    t.equal(total, 4 * 50, 'every queue at its bound of 50')
    await Promise.all([
      ...Array.from({ length: 50 }, async (_, i) => { await store.putIncoming('q', i) }),
      ...Array.from({ length: 50 }, async (_, i) => { await store.putRetained(msg(`r/${i}`, 'v', { retain: true })) }),
      store.saveSession(session('s')),
      store.putWill(richWill('s', 'n'))
    ])
    t.equal((await Promise.all(Array.from({ length: 50 }, async (_, i) => await store.hasIncoming('q', i)))).every(Boolean), true)
    t.equal(await store.countRetained(), 50)
  })

  withStore('ownership: claims count epochs up, return the previous owner, outlive deleteSession', 100, async (t, store) => {
    if (store.claimSession === undefined || store.sessionOwner === undefined) {
      void t.test('claimSession/sessionOwner', { skip: 'this store has no claimSession/sessionOwner (optional: needed by clustered brokers only)' }, async () => {})
      return
    }
    const claim = store.claimSession.bind(store)
    t.equal(await store.sessionOwner('c'), null, 'never claimed: no owner')
    t.same(await claim('c', 'node-a'), { epoch: 1, previous: null }, 'first claim: epoch 1, no previous owner')
    t.same(await claim('c', 'node-b'), { epoch: 2, previous: 'node-a' }, 'a second claim supersedes the first')
    t.same(await claim('c', 'node-b'), { epoch: 3, previous: 'node-b' }, 'a node claiming again still bumps the epoch')
    t.same(await store.sessionOwner('c'), { nodeId: 'node-b', epoch: 3 })
    t.equal(await store.sessionOwner('other'), null, 'owners are per client id')
    await store.saveSession(session('c'))
    await store.deleteSession('c')
    t.same(await store.sessionOwner('c'), { nodeId: 'node-b', epoch: 3 }, 'deleteSession keeps the owner: epochs never go back')
    t.same(await claim('c', 'node-a'), { epoch: 4, previous: 'node-b' })
    const racing = await Promise.all(Array.from({ length: 20 }, async (_, i) => await claim('r', `n${i}`)))
    t.same(racing.map((r) => r.epoch).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i + 1), 'concurrent claims: one epoch each')
    const last = racing.find((r) => r.epoch === 20)!
    const winner = `n${racing.indexOf(last)}`
    t.same(await store.sessionOwner('r'), { nodeId: winner, epoch: 20 }, 'the highest epoch is the owner')
    const prevs = racing.map((r) => r.previous)
    t.equal(prevs.filter((p) => p === null).length, 1, 'exactly one claim saw no previous owner')
  })

  withStore('close: further calls reject', 100, async (t, store) => {
    await store.close()
    await t.rejects(store.getSession('c'), 'getSession after close')
    await t.rejects(store.enqueue('c', msg('t')), 'enqueue after close')
  })

  if (opts.buildPair === undefined) {
    void t.test(`${opts.name}: two instances sharing one backend`, { skip: opts.pairSkipReason ?? 'no buildPair given' }, async () => {})
  } else {
    const buildPair = opts.buildPair
    void t.test(`${opts.name}: two instances sharing one backend (two broker nodes)`, async (t) => {
      const h = await buildPair({ maxQueuedMessages: 1000 })
      t.teardown(async () => {
        await h.a.close().catch(() => {})
        await h.b.close().catch(() => {})
        await h.teardown()
      })
      const { a, b } = h
      await a.saveSession(session('c', { expiryInterval: 60 }))
      t.same(sessionPlain(await b.getSession('c')), sessionPlain(session('c', { expiryInterval: 60 })), 'b sees a session saved by a')
      await b.addSubscriptions('c', [{ topic: 'from/b', qos: 0, nl: false, rap: false, rh: 0 }])
      t.equal((await a.getSession('c'))!.subscriptions.length, 3, 'a sees b\'s subscription')
      const n = 100
      const done = await Promise.all(Array.from({ length: n }, async (_, i) => await (i % 2 === 0 ? a : b).enqueue('c', msg(`t/${i}`, String(i)))))
      t.equal(new Set(done.map((r) => r.seq)).size, n, 'distinct seqs across instances')
      await a.enqueueMany([{ clientId: 'c' }, { clientId: 'd' }], msg('many'))
      await b.enqueueMany([{ clientId: 'c' }, { clientId: 'd' }], msg('many2'))
      const list = await b.outgoing('c', Date.now())
      t.equal(list.length, n + 2, 'nothing lost')
      const seqs = list.map((r) => r.seq)
      t.same(seqs, [...seqs].sort((x, y) => x - y), 'seq order')
      t.same((await a.outgoing('d', Date.now())).map((r) => r.message.topic), ['many', 'many2'])
      await a.updateOutgoing('c', list[0]!.seq, { messageId: 42, state: 'sent' })
      t.equal((await b.ackOutgoing('c', 42))!.seq, list[0]!.seq, 'b acks what a sent')
      await a.putRetained(msg('shared/r', 'a', { retain: true }))
      t.equal((await b.matchRetained('shared/#')).length, 1, 'retained shared')
      await a.putWill(richWill('wa', 'node-A'))
      await b.putWill(richWill('wb', 'node-B'))
      t.same((await b.willsOfNode('node-A')).map((w) => w.clientId), ['wa'], 'survivor sees the wills of a dead node')
      await a.putIncoming('c', 9)
      t.equal(await b.hasIncoming('c', 9), true)
      await b.deleteSession('c')
      t.equal(await a.getSession('c'), null, 'delete seen by a')
      t.same(await a.outgoing('c', Date.now()), [])
      if (a.claimSession !== undefined && b.claimSession !== undefined) {
        const claims = await Promise.all(Array.from({ length: 40 }, async (_, i) => await (i % 2 === 0 ? a : b).claimSession!('owned', `n${i}`)))
        t.same(claims.map((r) => r.epoch).sort((x, y) => x - y), Array.from({ length: 40 }, (_, i) => i + 1), 'claims racing on two instances: one epoch each')
        const top = claims.findIndex((r) => r.epoch === 40)
        t.same(await b.sessionOwner!('owned'), { nodeId: `n${top}`, epoch: 40 }, 'the highest epoch owns it, seen by both')
      }
      await a.close()
      t.equal((await b.matchRetained('shared/r')).length, 1, 'closing one instance leaves the other working')
    })
  }

  void t.test(`${opts.name}: model test (random operation sequences agree with an in-memory model)`, async (t) => {
    await modelTest(t, opts.build, opts.modelRuns ?? 100)
  })
}
