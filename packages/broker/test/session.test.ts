import t from 'tap'
import { describeSession, MemoryStore } from '../src/index.ts'
import { connect, delay, setup } from './helper.ts'
import { FakeClock, settle } from './fake-clock.ts'

t.test('[MQTT-3.2.2-2] persistent session: session present, subscriptions kept, offline QoS 1 queued and delivered', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'p', clean: false })
  t.equal(a.connack.sessionPresent, false)
  await a.subscribe('q/#', 1)
  a.disconnect()
  await a.closed()
  const pub = await connect(t, broker, {})
  for (let i = 0; i < 3; i++) {
    pub.publish('q/x', `m${i}`, 1)
    await pub.next('puback')
  }
  pub.publish('q/x', 'qos0 is not queued', 0)
  await delay(10)
  const b = await connect(t, broker, { clientId: 'p', clean: false })
  t.equal(b.connack.sessionPresent, true)
  const got: string[] = []
  for (let i = 0; i < 3; i++) {
    const m = await b.next('publish')
    got.push(m.payload.toString())
    b.send({ cmd: 'puback', messageId: m.messageId })
  }
  t.same(got, ['m0', 'm1', 'm2'], 'in order [MQTT-4.6.0-6]')
  t.ok(await b.nothing(50, 'publish'))
})

t.test('[MQTT-3.1.2-6] clean session: nothing kept; [MQTT-3.2.2-1] session present 0', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'c', clean: false })
  await a.subscribe('x', 1)
  a.disconnect()
  await a.closed()
  const b = await connect(t, broker, { clientId: 'c', clean: true })
  t.equal(b.connack.sessionPresent, false)
  b.disconnect()
  await b.closed()
  const c = await connect(t, broker, { clientId: 'c', clean: false })
  t.equal(c.connack.sessionPresent, false, 'clean session ended the old session')
  const pub = await connect(t, broker, {})
  pub.publish('x', 'y', 1)
  await pub.next('puback')
  t.ok(await c.nothing(50, 'publish'), 'old subscription gone')
})

t.test('[MQTT-4.4.0-1] unacknowledged QoS 1 is resent with DUP and the same packet id on reconnect', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'r', clean: false })
  await a.subscribe('t', 1)
  const pub = await connect(t, broker, {})
  pub.publish('t', 'once', 1)
  const first = await a.next('publish')
  t.equal(first.dup, false)
  a.drop()
  await delay(20)
  const b = await connect(t, broker, { clientId: 'r', clean: false })
  const again = await b.next('publish')
  t.equal(again.dup, true)
  t.equal(again.messageId, first.messageId)
  t.equal(again.payload.toString(), 'once')
  b.send({ cmd: 'puback', messageId: again.messageId })
  t.ok(await b.nothing(50, 'publish'))
})

t.test('[MQTT-4.3.3] QoS 2 outbound survives reconnect in PUBREL state; delivered once', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { clientId: 'q2', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  await a.subscribe('t', 2)
  const pub = await connect(t, broker, {})
  pub.publish('t', 'x', 2)
  await pub.next('pubrec')
  pub.send({ cmd: 'pubrel', messageId: 1 })
  const m = await a.next('publish')
  a.send({ cmd: 'pubrec', messageId: m.messageId })
  await a.next('pubrel')
  a.drop()
  await delay(20)
  const b = await connect(t, broker, { clientId: 'q2', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  t.equal(b.connack.sessionPresent, true)
  const rel = await b.next('pubrel')
  t.equal(rel.messageId, m.messageId, 'PUBREL resent, not the PUBLISH [MQTT-4.4.0-1]')
  b.send({ cmd: 'pubcomp', messageId: rel.messageId })
  t.ok(await b.nothing(50, 'publish'))
})

t.test('[MQTT-3.1.2-23] 5.0 session expiry: gone after the interval; DISCONNECT can change it', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const a = await connect(t, broker, { clientId: 'e', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 1 } })
  await a.subscribe('t', 1)
  a.disconnect({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } })
  await a.closed()
  await delay(10)
  t.equal(describeSession(broker, 'e') !== undefined, false, 'DISCONNECT expiry 0 ends the session now')
  const b = await connect(t, broker, { clientId: 'e2', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 1 } })
  b.disconnect()
  await b.closed()
  t.equal(describeSession(broker, 'e2') !== undefined, true)
  await clock.tick(999)
  t.equal(describeSession(broker, 'e2') !== undefined, true, 'still there at 999 ms')
  t.not(await broker.store.getSession('e2'), null, 'and in the store')
  await clock.tick(1)
  t.equal(describeSession(broker, 'e2') !== undefined, false, 'expired at 1 s')
  t.equal(await broker.store.getSession('e2'), null, 'and gone from the store')
  t.equal(broker.metrics().sessions.offline, 0, 'no offline session left')
})

t.test('[MQTT-3.1.2-23] a session expiry longer than the longest timer (~24.8 days) ends at its time, not earlier', async (t) => {
  const clock = new FakeClock()
  const broker = setup(t, { clock })
  const days30 = 30 * 86_400
  const a = await connect(t, broker, { clientId: 'long', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: days30 } })
  a.disconnect()
  await a.closed()
  await clock.tick(0)
  clock.advance(days30 * 1000 - 1) // the expiry timer re-arms past 2^31 - 1 ms
  await settle()
  t.equal(describeSession(broker, 'long') !== undefined, true, 'still there 1 ms before 30 days')
  await clock.tick(1)
  t.equal(describeSession(broker, 'long') !== undefined, false, 'expired at 30 days')
})

t.test('[MQTT-3.14.2-2] DISCONNECT may not set a session expiry when CONNECT had 0', async (t) => {
  const broker = setup(t)
  const a = await connect(t, broker, { protocolVersion: 5 })
  a.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 10 } })
  t.equal((await a.next('disconnect')).reasonCode, 0x82)
})

t.test('maxSessionExpiryInterval caps the granted expiry (CONNACK says so)', async (t) => {
  const broker = setup(t, { limits: { maxSessionExpiryInterval: 5 } })
  const a = await connect(t, broker, { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 100 } })
  t.equal(a.connack.properties.sessionExpiryInterval, 5)
})

t.test('offline queue beyond maxStoredMessages ends the session (Session Present 0), never drops silently', async (t) => {
  const broker = setup(t, { limits: { maxQueuedMessages: 2, maxStoredMessages: 3 } })
  const a = await connect(t, broker, { clientId: 'b', clean: false })
  await a.subscribe('t', 1)
  a.disconnect()
  await a.closed()
  const pub = await connect(t, broker, {})
  for (let i = 0; i < 3; i++) {
    pub.publish('t', `m${i}`, 1)
    await pub.next('puback')
  }
  t.equal(broker.stats.sessionsOverflowed, 0, 'within the stored bound')
  const b = await connect(t, broker, { clientId: 'b', clean: false })
  t.equal(b.connack.sessionPresent, true)
  const got = [(await b.next('publish')).payload.toString(), (await b.next('publish')).payload.toString(), (await b.next('publish')).payload.toString()]
  t.same(got, ['m0', 'm1', 'm2'], 'the queue beyond maxQueuedMessages is kept in the store')
  b.disconnect()
  await b.closed()
  for (let i = 0; i < 4; i++) {
    pub.publish('t', `n${i}`, 1)
    await pub.next('puback')
  }
  t.equal(broker.stats.sessionsOverflowed, 1, 'the fourth stored message ended the session')
  t.equal(broker.stats.publishDropped, 0, 'nothing dropped silently')
  const c = await connect(t, broker, { clientId: 'b', clean: false })
  t.equal(c.connack.sessionPresent, false, 'the client learns its session ended')
  t.ok(await c.nothing(50, 'publish'), 'no partial queue delivered')
})

t.test('persistent sessions are restored from the store by a new broker', async (t) => {
  const store = new MemoryStore()
  const b1 = setup(t, { store })
  const a = await connect(t, b1, { clientId: 'keep', clean: false })
  await a.subscribe('r/#', 1)
  a.disconnect()
  await a.closed()
  await delay(10)
  const b2 = setup(t, { store })
  await b2.ready()
  const pub = await connect(t, b2, {})
  pub.publish('r/1', 'after restart', 1)
  await pub.next('puback')
  const back = await connect(t, b2, { clientId: 'keep', clean: false })
  t.equal(back.connack.sessionPresent, true)
  t.equal((await back.next('publish')).payload.toString(), 'after restart')
})

t.test('durability: PUBACK waits for the offline enqueue', async (t) => {
  const store = new MemoryStore()
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const enqueue = store.enqueue.bind(store)
  store.enqueue = async (...args) => { await gate; return enqueue(...args) }
  const broker = setup(t, { store })
  const a = await connect(t, broker, { clientId: 'd', clean: false })
  await a.subscribe('t', 1)
  a.disconnect()
  await a.closed()
  const pub = await connect(t, broker, {})
  pub.publish('t', 'x', 1)
  t.ok(await pub.nothing(50, 'puback'), 'no PUBACK before the store resolved')
  release()
  t.ok(await pub.next('puback'))
})

t.test('[MQTT-4.3.3-10] inbound QoS 2 stays exactly-once across a broker restart (ids kept in the store)', async (t) => {
  const store = new MemoryStore()
  const b1 = setup(t, { store })
  const sub1 = await connect(t, b1, { clientId: 'watch', clean: false })
  await sub1.subscribe('x2', 2)
  const p1 = await connect(t, b1, { clientId: 'pub2', clean: false })
  p1.send({ cmd: 'publish', topic: 'x2', payload: Buffer.from('one'), qos: 2, messageId: 42, retain: false, dup: false })
  await p1.next('pubrec')
  const first = await sub1.next('publish')
  sub1.send({ cmd: 'pubrec', messageId: first.messageId })
  await sub1.next('pubrel')
  sub1.send({ cmd: 'pubcomp', messageId: first.messageId })
  await delay(10)
  await b1.close()
  const b2 = setup(t, { store })
  await b2.ready()
  const sub2 = await connect(t, b2, { clientId: 'watch', clean: false })
  const p2 = await connect(t, b2, { clientId: 'pub2', clean: false })
  p2.send({ cmd: 'publish', topic: 'x2', payload: Buffer.from('one'), qos: 2, messageId: 42, retain: false, dup: true })
  t.equal((await p2.next('pubrec')).messageId, 42)
  p2.send({ cmd: 'pubrel', messageId: 42 })
  t.equal((await p2.next('pubcomp')).messageId, 42)
  t.ok(await sub2.nothing(50, 'publish'), 'not delivered a second time')
  p2.send({ cmd: 'pubrel', messageId: 43 })
  t.equal((await p2.next('pubcomp')).messageId, 43, 'unknown id still completes')
  p2.send({ cmd: 'publish', topic: 'x2', payload: Buffer.from('two'), qos: 2, messageId: 44, retain: false, dup: false })
  await p2.next('pubrec')
  t.equal((await sub2.next('publish')).payload.toString(), 'two')
})

t.test('a crash after a resumed session received (but did not acknowledge) its queued messages loses none of them', async (t) => {
  // the replayed records stay in the store until PUBACK, so a broker that dies without saving
  // anything (no close, no disconnect handling) leaves them for the next broker on that store
  const store = new MemoryStore()
  const first = setup(t, { store })
  const a = await connect(t, first, { clientId: 'crash', clean: false })
  await a.subscribe('d/#', 1)
  a.disconnect()
  await a.closed()
  const pub = await connect(t, first, {})
  for (const m of ['m0', 'm1']) {
    pub.publish('d/x', m, 1)
    await pub.next('puback')
  }
  const b = await connect(t, first, { clientId: 'crash', clean: false })
  const m0 = await b.next('publish')
  const m1 = await b.next('publish')
  t.same([m0.payload.toString(), m1.payload.toString()], ['m0', 'm1'])
  b.send({ cmd: 'puback', messageId: m0.messageId }) // m1 stays unacknowledged
  await delay(20)

  // the first broker is gone without a trace; a second one opens the same store
  const second = setup(t, { store })
  await second.ready()
  const c = await connect(t, second, { clientId: 'crash', clean: false })
  t.equal(c.connack.sessionPresent, true)
  const again = await c.next('publish')
  t.equal(again.payload.toString(), 'm1', 'the unacknowledged message is delivered again')
  t.equal(again.dup, true, 'as a resend, DUP set [MQTT-4.4.0-1]')
  t.equal(again.messageId, m1.messageId, 'with its packet id')
  c.send({ cmd: 'puback', messageId: again.messageId })
  t.ok(await c.nothing(50, 'publish'), 'the acknowledged m0 is not delivered again')
  await delay(20)
  t.same(await store.outgoing('crash', Date.now()), [], 'acknowledged records are gone from the store')
})

t.test('Session.track / settled: a reconnect waits for every pending store write, failed ones included', async (t) => {
  const { Session } = await import('../src/session.ts')
  const s = new Session('c', 5, 60)
  t.equal(s.settled(), null, 'nothing pending: no wait')
  let ok!: () => void
  let fail!: (e: Error) => void
  s.track(new Promise<void>((resolve) => { ok = resolve }))
  const failing = new Promise<void>((_resolve, reject) => { fail = reject })
  failing.catch(() => {}) // its caller reports it; here only the settling matters
  s.track(failing)
  let done = false
  const w = s.settled()!
  const w2 = s.settled()!
  w.then(() => { done = true }, () => {})
  ok()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(done, false, 'one write still pending')
  fail(new Error('store down'))
  await Promise.all([w, w2])
  t.equal(done, true, 'resolved once both settled')
  t.equal(s.settled(), null, 'nothing pending again')
})

t.test('Session.settled waits for the writes tracked before it, not for later ones; an overlapping wait starts when the first ends', async (t) => {
  const { Session } = await import('../src/session.ts')
  const s = new Session('g', 5, 60)
  const gate = (): { p: Promise<void>, done: () => void } => {
    let done!: () => void
    const p = new Promise<void>((resolve) => { done = resolve })
    return { p, done }
  }
  const tick = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }
  const before = gate()
  s.track(before.p)
  const state = { first: false, second: false, third: false }
  s.settled()!.then(() => { state.first = true }, () => {})
  const after = gate()
  s.track(after.p) // tracked after the first wait began
  s.settled()!.then(() => { state.second = true }, () => {}) // overlaps the first
  before.done()
  await tick()
  t.same(state, { first: true, second: false, third: false }, 'the first wait ends with the write before it; a later write is still pending')
  const later = gate()
  s.track(later.p) // tracked after the second wait took over
  s.settled()!.then(() => { state.third = true }, () => {})
  after.done()
  await tick()
  t.same(state, { first: true, second: true, third: false }, 'the second wait covered what was pending when the first ended, not what came after')
  later.done()
  await tick()
  t.same(state, { first: true, second: true, third: true })
  t.equal(s.settled(), null, 'nothing pending')
})

t.test('persistInflight: a connected persistent session\'s unacknowledged messages survive a crash', async (t) => {
  const store = new MemoryStore()
  const first = setup(t, { store })
  const sub = await connect(t, first, { clientId: 'live', clean: false })
  await sub.subscribe('l/#', 2)
  const pub = await connect(t, first, {})
  pub.publish('l/1', 'q1', 1)
  pub.publish('l/2', 'q2', 2)
  pub.publish('l/3', 'q1-acked', 1)
  await pub.next('puback')
  await pub.next('pubrec')
  await pub.next('puback')
  const a = await sub.next('publish')
  const b = await sub.next('publish')
  const c = await sub.next('publish')
  t.same([a.payload.toString(), b.payload.toString(), c.payload.toString()], ['q1', 'q2', 'q1-acked'])
  sub.send({ cmd: 'pubrec', messageId: b.messageId }) // QoS 2 half way: PUBREL state
  await sub.next('pubrel')
  sub.send({ cmd: 'puback', messageId: c.messageId })
  await delay(20)
  const kept = await store.outgoing('live', Date.now())
  t.same(kept.map((r) => [r.message.payload.toString(), r.state, r.messageId]), [['q1', 'sent', a.messageId], ['q2', 'pubrel', b.messageId]],
    'in the store while connected: what is not acknowledged, with state and packet id')

  // the first broker dies without a trace; a second one on the same store
  const second = setup(t, { store })
  await second.ready()
  const back = await connect(t, second, { clientId: 'live', clean: false })
  const again = await back.next('publish')
  t.same([again.payload.toString(), again.dup, again.messageId], ['q1', true, a.messageId], 'QoS 1 resent with DUP and its packet id')
  const rel = await back.next('pubrel')
  t.equal(rel.messageId, b.messageId, 'QoS 2 resumes at PUBREL: delivered once')
  back.send({ cmd: 'puback', messageId: again.messageId })
  back.send({ cmd: 'pubcomp', messageId: rel.messageId })
  t.ok(await back.nothing(50, 'publish'), 'the acknowledged message is not sent again')
  await delay(20)
  t.same(await store.outgoing('live', Date.now()), [], 'acknowledged: gone from the store')
})

t.test('persistInflight: the publisher\'s PUBACK waits for the store also for a connected subscriber; off, it does not', async (t) => {
  for (const persistInflight of [true, false]) {
    const store = new MemoryStore()
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const enqueue = store.enqueue.bind(store)
    store.enqueue = async (...args) => { await gate; return enqueue(...args) }
    const broker = setup(t, { store, persistInflight })
    const sub = await connect(t, broker, { clientId: `on-${String(persistInflight)}`, clean: false })
    await sub.subscribe('t', 1)
    const pub = await connect(t, broker, {})
    pub.publish('t', 'x', 1)
    const m = await sub.next('publish')
    t.equal(m.payload.toString(), 'x', 'delivered without waiting for the store')
    if (persistInflight) {
      t.ok(await pub.nothing(50, 'puback'), 'on: no PUBACK before the store resolved')
      sub.send({ cmd: 'puback', messageId: m.messageId }) // acknowledged before the write is done
      release()
      t.ok(await pub.next('puback'))
      await delay(20)
      t.same(await store.outgoing(`on-${String(persistInflight)}`, Date.now()), [], 'acknowledged during the write: the record is removed once written')
    } else {
      t.ok(await pub.next('puback'), 'off: PUBACK at once')
      release()
      t.same(await store.outgoing('on-false', Date.now()), [], 'off: nothing stored for a connected session')
    }
  }
})

t.test('[MQTT-4.3.3] a message routed to a session while it resumes is delivered once, not also from the store read', async (t) => {
  // the resume reads the session's records from the store; a message that arrives meanwhile
  // is queued on the connection and written to the store, and that write can land before the
  // read: the replay must not send it a second time (with another packet id)
  for (const qos of [1, 2] as const) {
    const store = new MemoryStore()
    const broker = setup(t, { store })
    const id = `resume-race-${qos}`
    const a = await connect(t, broker, { clientId: id, clean: false })
    await a.subscribe('r/#', qos)
    a.disconnect()
    await a.closed()
    const pub = await connect(t, broker, {})
    pub.publish('r/x', 'offline', qos)
    await pub.next(qos === 1 ? 'puback' : 'pubrec')

    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    let reads = 0
    const outgoing = store.outgoing.bind(store)
    store.outgoing = async (...args) => { reads++; await gate; return outgoing(...args) }
    const b = await connect(t, broker, { clientId: id, clean: false })
    t.equal(b.connack.sessionPresent, true)
    t.equal(reads, 1, 'the resume is reading the store')
    pub.publish('r/x', 'while resuming', qos)
    await pub.next(qos === 1 ? 'puback' : 'pubrec') // stored before the read goes on
    release()

    const got: string[] = []
    for (;;) {
      const m = await b.next('publish', 300).catch(() => null)
      if (m === null) break
      got.push(m.payload.toString())
      b.send(qos === 1 ? { cmd: 'puback', messageId: m.messageId } : { cmd: 'pubrec', messageId: m.messageId })
    }
    t.same(got, ['offline', 'while resuming'], `QoS ${qos}: each message once, in order`)
  }
})

t.test('a message published from the \'client\' event of a resumed session comes after its queued messages, once', async (t) => {
  const store = new MemoryStore()
  const broker = setup(t, { store })
  const a = await connect(t, broker, { clientId: 'hello', clean: false })
  await a.subscribe('h/#', 2)
  a.disconnect()
  await a.closed()
  const pub = await connect(t, broker, {})
  pub.publish('h/x', 'queued', 2)
  await pub.next('pubrec')
  let published: Promise<void> | undefined
  broker.on('client', (c) => {
    if (c.id === 'hello') published = broker.publish({ topic: 'h/x', payload: Buffer.from('welcome'), qos: 2 })
  })
  const b = await connect(t, broker, { clientId: 'hello', clean: false })
  await published
  const got: string[] = []
  for (;;) {
    const m = await b.next('publish', 300).catch(() => null)
    if (m === null) break
    got.push(m.payload.toString())
    b.send({ cmd: 'pubrec', messageId: m.messageId })
  }
  t.same(got, ['queued', 'welcome'])
})

t.test('a session resumes while messages keep arriving for it (the resume does not wait for the writes of new ones)', async (t) => {
  // each store write finishes only when the next one starts, so while a publisher goes on
  // there is always one pending: the resume must wait for the writes issued before it only
  const store = new MemoryStore()
  const enqueue = store.enqueue.bind(store)
  let finishLast: (() => void) | null = null
  store.enqueue = async (...args) => {
    const r = enqueue(...args)
    finishLast?.()
    await new Promise<void>((resolve) => { finishLast = resolve })
    return await r
  }
  const broker = setup(t, { store })
  const a = await connect(t, broker, { clientId: 'busy', clean: false })
  await a.subscribe('b/#', 1)
  a.drop()
  await a.closed()
  const pub = await connect(t, broker, {})
  const run = { publishing: true }
  let sent = 0
  const publisher = (async () => {
    while (run.publishing) {
      pub.publish('b/x', `m${sent++}`, 1)
      await delay(2)
    }
  })()
  await delay(20)
  const b = await connect(t, broker, { clientId: 'busy', clean: false })
  const first = await b.next('publish', 1000).catch(() => null)
  run.publishing = false
  await publisher
  finishLast!()
  t.not(first, null, `a queued message arrives within 1 s while the publisher goes on (${sent} sent)`)
  t.equal(first?.payload.toString(), 'm0', 'the oldest first')
})

t.test('[MQTT-4.3.3] a QoS 2 delivery goes out once its record is written, and its PUBREL once the record says so: a reconnect resumes at PUBREL', async (t) => {
  // the write of the live delivery is held back, and the PUBREL state is a second, slower
  // write: neither packet may leave before its write landed (a crash would undo it)
  const store = new MemoryStore()
  const enqueue = store.enqueue.bind(store)
  let finish!: () => void
  const gate = new Promise<void>((resolve) => { finish = resolve })
  store.enqueue = async (...args) => { await gate; return enqueue(...args) }
  const update = store.updateOutgoing.bind(store)
  let updated = 0
  store.updateOutgoing = async (...args) => { await delay(30); await update(...args); updated++ }
  const broker = setup(t, { store })
  const opts = { clientId: 'late', clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 60 } }
  const a = await connect(t, broker, opts)
  await a.subscribe('l/#', 2)
  const pub = await connect(t, broker, {})
  pub.publish('l/x', 'once', 2)
  t.ok(await a.nothing(50, 'publish'), 'no PUBLISH while its record is not written')
  finish()
  const m = await a.next('publish')
  t.same((await store.outgoing('late', Date.now())).map((r) => [r.state, r.messageId]), [['sent', m.messageId]], 'written with its packet id first')
  a.send({ cmd: 'pubrec', messageId: m.messageId })
  await a.next('pubrel')
  t.equal(updated, 1, 'the PUBREL went after the write of its state')
  a.drop()
  await a.closed()
  const again = await connect(t, broker, opts)
  t.equal(again.connack.sessionPresent, true)
  const rel = await again.next('pubrel', 1000)
  t.equal(rel.messageId, m.messageId, 'PUBREL resent with the packet id, not the PUBLISH')
  t.ok(await again.nothing(100, 'publish'), 'no second PUBLISH of a released message')
})

t.test('persistInflight: a live delivery is stored with its packet id in one write, so a crash right after it cannot send it again as new', async (t) => {
  const store = new MemoryStore()
  // a second write would be the one a crash loses: here it never happens at all
  let updates = 0
  store.updateOutgoing = async () => { updates++; await new Promise(() => {}) }
  const first = setup(t, { store })
  const sub = await connect(t, first, { clientId: 'one-write', clean: false })
  await sub.subscribe('o/#', 2)
  const pub = await connect(t, first, {})
  pub.publish('o/x', 'exactly once', 2)
  await pub.next('pubrec') // stored for the subscriber by now
  const m = await sub.next('publish')
  t.same((await store.outgoing('one-write', Date.now())).map((r) => [r.state, r.messageId]), [['sent', m.messageId]],
    'the record carries the packet id it went out with')
  t.equal(updates, 0, 'no second write was needed')

  // the first broker dies right there; a second one on the same store
  const second = setup(t, { store })
  await second.ready()
  const back = await connect(t, second, { clientId: 'one-write', clean: false })
  const again = await back.next('publish')
  t.same([again.payload.toString(), again.dup, again.messageId], ['exactly once', true, m.messageId],
    'resent with DUP and the same packet id, which the client knows [MQTT-4.3.3-9]')
})

t.test('a retained QoS 2 message sent on SUBSCRIBE to a persistent session is stored with its packet id before it goes', async (t) => {
  const store = new MemoryStore()
  const first = setup(t, { store })
  await first.publish({ topic: 'k/x', payload: Buffer.from('kept'), qos: 2, retain: true })
  const sub = await connect(t, first, { clientId: 'kept', clean: false })
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'k/#', qos: 2 }] })
  const m = await sub.next('publish')
  t.same((await store.outgoing('kept', Date.now())).map((r) => [r.message.payload.toString(), r.state, r.messageId]), [['kept', 'sent', m.messageId]],
    'in the store with the packet id the client now holds')
  // the first broker dies here; a second one on the same store resends it, same id
  const second = setup(t, { store })
  await second.ready()
  const back = await connect(t, second, { clientId: 'kept', clean: false })
  const again = await back.next('publish')
  t.same([again.payload.toString(), again.dup, again.messageId], ['kept', true, m.messageId], 'resent with DUP and its packet id [MQTT-4.3.3-9]')
})

t.test('a PUBREC repeated while the PUBREL waits for its write: one PUBREL, and later QoS 2 deliveries still go', async (t) => {
  const store = new MemoryStore()
  const update = store.updateOutgoing.bind(store)
  store.updateOutgoing = async (...args) => { await delay(20); await update(...args) }
  const broker = setup(t, { store })
  const sub = await connect(t, broker, { clientId: 'twice', clean: false })
  await sub.subscribe('w/#', 2)
  const pub = await connect(t, broker, {})
  pub.publish('w/x', 'one', 2)
  const m = await sub.next('publish')
  sub.send({ cmd: 'pubrec', messageId: m.messageId })
  sub.send({ cmd: 'pubrec', messageId: m.messageId })
  const rel = await sub.next('pubrel')
  t.equal(rel.messageId, m.messageId)
  t.ok(await sub.nothing(60, 'pubrel'), 'one PUBREL for the two PUBRECs')
  // no PUBCOMP yet: the flow stays open, and takes one slot of the window only
  pub.publish('w/x', 'two', 2)
  const next = await sub.next('publish', 1000)
  t.equal(next.payload.toString(), 'two', 'the next delivery is not stuck behind it')
})
