import t from 'tap'
import fc from 'fast-check'
import { MemoryStore, type Broker } from '../src/index.ts'
import { connect, delay, setup, type ConnectOptions, type T, type TestClient } from './helper.ts'

// Four model runs of 40-60 commands each over real sockets: about 17 s alone, longer on a
// loaded machine, so this file gets more than tap's default 30 s.
t.setTimeout(120_000)

type Action = 'pub1' | 'pub2' | 'drop' | 'reconnect' | 'process' | 'processNoAck'

/**
 * A persistent-session subscriber that may crash at any point: it remembers QoS 2 packet
 * ids it has received until PUBREL (as a correct receiver must, [MQTT-4.3.3-9]), so a
 * redelivered QoS 2 PUBLISH with the same id is not a second delivery.
 */
class Receiver {
  client: TestClient | null = null
  readonly q1 = new Map<string, number>()
  readonly q2 = new Map<string, number>()
  readonly q2ids = new Set<number>()

  process (ack: boolean): void {
    const c = this.client
    if (c === null) return
    for (const p of c.received.splice(0)) {
      if (p.cmd === 'publish') {
        const body = p.payload.toString()
        if (p.qos === 1) {
          this.q1.set(body, (this.q1.get(body) ?? 0) + 1)
          if (ack) c.send({ cmd: 'puback', messageId: p.messageId })
        } else if (p.qos === 2) {
          if (!this.q2ids.has(p.messageId)) {
            this.q2ids.add(p.messageId)
            this.q2.set(body, (this.q2.get(body) ?? 0) + 1)
          }
          if (ack) c.send({ cmd: 'pubrec', messageId: p.messageId })
        }
      } else if (p.cmd === 'pubrel') {
        this.q2ids.delete(p.messageId)
        if (ack) c.send({ cmd: 'pubcomp', messageId: p.messageId })
      }
    }
  }
}

/**
 * One persistent-session subscriber ('S', QoS 1 on p/1, QoS 2 on p/2) and a publisher that
 * waits for each flow to complete, driven by random actions; `check` tells whether every
 * acknowledged QoS 1 message arrived and no QoS 2 message arrived twice.
 */
class Scenario {
  readonly r = new Receiver()
  readonly sent1: string[] = []
  readonly sent2: string[] = []
  readonly opts: ConnectOptions
  readonly t: T
  broker: Broker
  pub: TestClient | null = null
  n = 0

  constructor (t: T, broker: Broker, version: 4 | 5) {
    this.t = t
    this.broker = broker
    this.opts = { protocolVersion: version, clientId: 'S', clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}) }
  }

  async begin (): Promise<void> {
    this.r.client = await connect(this.t, this.broker, this.opts)
    await this.r.client.subscribe([{ topic: 'p/1', qos: 1 }, { topic: 'p/2', qos: 2 }])
    this.pub = await connect(this.t, this.broker, {})
  }

  async step (a: Action): Promise<void> {
    const { r, pub } = this
    if (a === 'pub1') {
      const body = `m${this.n++}`
      pub!.publish('p/1', body, 1)
      await pub!.next('puback')
      this.sent1.push(body) // acknowledged: must arrive
    } else if (a === 'pub2') {
      const body = `m${this.n++}`
      const id = pub!.publish('p/2', body, 2)
      await pub!.next('pubrec')
      this.sent2.push(body)
      pub!.send({ cmd: 'pubrel', messageId: id })
      await pub!.next('pubcomp')
    } else if (a === 'drop' && r.client !== null) {
      r.client.drop()
      await r.client.closed()
      r.client = null
      await delay(1)
    } else if (a === 'reconnect' && r.client === null) {
      r.client = await connect(this.t, this.broker, this.opts)
    } else if (a === 'process' || a === 'processNoAck') {
      await delay(1)
      r.process(a === 'process')
    }
  }

  /** Connect (if needed), acknowledge everything until quiet, then compare. */
  async check (): Promise<boolean> {
    const r = this.r
    r.client ??= await connect(this.t, this.broker, this.opts)
    for (let i = 0; i < 20; i++) {
      await delay(5)
      r.process(true)
      if (i > 3 && r.client.received.length === 0) break
    }
    for (const b of this.sent1) if (!r.q1.has(b)) return false
    for (const b of this.sent2) if (r.q2.get(b) !== 1) return false
    for (const count of r.q2.values()) if (count > 1) return false
    return true
  }
}

const READS = new Set(['getSession', 'matchRetained', 'countRetained', 'outgoing', 'hasIncoming', 'getWill', 'willsOfNode'])

/**
 * A real MemoryStore answering on a network's schedule: a write is applied at once and
 * acknowledged after a delay, a read waits a delay and then reads (so it also sees writes
 * issued after it), the delays taken in turn from `lags` (ms). Store round trips then
 * interleave with the broker's other work as they do with LevelDB or Redis.
 *
 * Several brokers can share one `base`, each through its own view; once `alive()` is false
 * the view's broker has crashed: nothing it issues is applied any more, and what it was
 * waiting for fails (a dead process writes nothing and hears nothing back). With `late`, a
 * write is applied only when its delay is over (in the order issued, as one process's writes
 * reach a disk), so a crash also loses the writes still on their way.
 */
function laggyStore (lags: number[], base = new MemoryStore(), alive = (): boolean => true, late = false): MemoryStore {
  const view = Object.create(base) as MemoryStore
  let i = 0
  let applied: Promise<unknown> = Promise.resolve()
  const proto = MemoryStore.prototype as unknown as Record<string, unknown>
  const gone = (): never => { throw new Error('this broker crashed') }
  for (const name of Object.getOwnPropertyNames(MemoryStore.prototype)) {
    const fn = proto[name]
    if (name === 'constructor' || typeof fn !== 'function') continue
    const call = (fn as (...a: unknown[]) => unknown).bind(base)
    if (name === 'close' || name === 'sessions') {
      ;(view as unknown as Record<string, unknown>)[name] = call
      continue
    }
    ;(view as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
      const ms = lags[i++ % lags.length]!
      if (!alive()) gone()
      if (READS.has(name)) {
        await delay(ms)
        if (!alive()) gone()
        return await call(...args)
      }
      if (late) {
        const lag = delay(ms)
        const turn = applied
        const result = (async () => {
          await turn
          await lag
          if (!alive()) gone()
          return await call(...args)
        })()
        applied = result.catch(() => {})
        return await result
      }
      const result = call(...args)
      await delay(ms)
      if (!alive()) gone()
      return await result
    }
  }
  return view
}

t.test('random publish / disconnect / reconnect: QoS 1 never lost, QoS 2 never delivered twice (persistent session)', async (t) => {
  let runs = 0
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(4 as const, 5 as const),
    fc.array(fc.constantFrom<Action>('pub1', 'pub2', 'drop', 'reconnect', 'process', 'processNoAck'), { minLength: 5, maxLength: 25 }),
    fc.option(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }), { nil: undefined }),
    async (version, actions, lags) => {
      runs++
      const sc = new Scenario(t, setup(t, lags === undefined ? {} : { store: laggyStore(lags) }), version)
      await sc.begin()
      for (const a of actions) await sc.step(a)
      return await sc.check()
    }
  ), { numRuns: 60, seed: 4242 })
  t.equal(runs, 60)
})

type PubAction = 'send' | 'process' | 'drop' | 'wait'

t.test('random QoS 2 publisher cuts and resends: each message is routed exactly once (inbound [MQTT-4.3.3-10])', async (t) => {
  let runs = 0
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(4 as const, 5 as const),
    fc.array(fc.constantFrom<PubAction>('send', 'send', 'process', 'drop', 'wait'), { minLength: 4, maxLength: 30 }),
    fc.option(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }), { nil: undefined }),
    async (version, actions, lags) => {
      runs++
      const broker = setup(t, lags === undefined ? {} : { store: laggyStore(lags) })
      const sub = await connect(t, broker, { protocolVersion: 5 })
      await sub.subscribe('in/#', 2)
      const opts = { protocolVersion: version, clientId: 'P', clean: false, ...(version === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}) }
      let pub: TestClient | null = await connect(t, broker, opts)
      // the publisher's side of each flow, as a correct sender keeps it [MQTT-4.3.3]
      const unacked = new Map<number, string>() // PUBLISH sent, no PUBREC yet
      const released = new Set<number>() // PUBREL sent, no PUBCOMP yet
      const sent: string[] = []
      let nextId = 0
      const process = (): void => {
        if (pub === null) return
        for (const p of pub.received.splice(0)) {
          if (p.cmd === 'pubrec' && unacked.delete(p.messageId)) {
            released.add(p.messageId)
            pub.send({ cmd: 'pubrel', messageId: p.messageId })
          } else if (p.cmd === 'pubcomp') {
            released.delete(p.messageId)
          }
        }
      }
      // reconnect: resend what is unacknowledged, in order, PUBLISH with DUP [MQTT-4.4.0-1]
      const reconnect = async (): Promise<TestClient> => {
        const c = await connect(t, broker, opts)
        for (const [id, body] of unacked) c.send({ cmd: 'publish', topic: 'in/x', payload: Buffer.from(body), qos: 2, dup: true, retain: false, messageId: id })
        for (const id of released) c.send({ cmd: 'pubrel', messageId: id })
        return c
      }
      for (const a of actions) {
        pub ??= await reconnect()
        if (a === 'send' && unacked.size + released.size < 20) {
          const id = nextId = nextId % 60000 + 1
          const body = `m${id}`
          sent.push(body)
          unacked.set(id, body)
          pub.send({ cmd: 'publish', topic: 'in/x', payload: Buffer.from(body), qos: 2, dup: false, retain: false, messageId: id })
        } else if (a === 'process') {
          await delay(1)
          process()
        } else if (a === 'drop') {
          pub.drop()
          await pub.closed()
          pub = null
        } else {
          await delay(2)
        }
      }
      // finish every flow
      for (let i = 0; i < 200 && (pub === null || unacked.size + released.size > 0); i++) {
        pub ??= await reconnect()
        await delay(2)
        process()
      }
      if (unacked.size + released.size > 0) return false
      await delay(10)
      const got = new Map<string, number>()
      for (const p of sub.received.splice(0)) {
        if (p.cmd !== 'publish') continue
        const body = p.payload.toString()
        got.set(body, (got.get(body) ?? 0) + 1)
        sub.send({ cmd: 'pubrec', messageId: p.messageId })
      }
      pub?.drop()
      if (got.size !== sent.length) return false
      for (const b of sent) if (got.get(b) !== 1) return false
      return true
    }
  ), { numRuns: 60, seed: 4343 })
  t.equal(runs, 60)
})

type CrashAction = Action | 'crash' | 'pub2crash'

t.test('random crashes of the broker between publish / disconnect / reconnect: no acknowledged QoS 1 lost, no QoS 2 twice (shared store)', async (t) => {
  let runs = 0
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(4 as const, 5 as const),
    fc.array(fc.constantFrom<CrashAction>('pub1', 'pub2', 'drop', 'reconnect', 'process', 'processNoAck', 'crash', 'pub2crash'), { minLength: 5, maxLength: 25 }),
    fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
    async (version, actions, lags) => {
      runs++
      const base = new MemoryStore()
      let life = 0
      const start = async (): Promise<Broker> => {
        const mine = ++life
        const b = setup(t, { store: laggyStore(lags, base, () => life === mine) })
        await b.ready()
        return b
      }
      const sc = new Scenario(t, await start(), version)
      await sc.begin()
      for (const a of actions) {
        if (a !== 'crash' && a !== 'pub2crash') {
          await sc.step(a)
          continue
        }
        if (a === 'pub2crash') {
          // dies while a QoS 2 message is on its way: not acknowledged, so it may be lost,
          // but if the subscriber got it, never a second time
          sc.pub!.publish('p/2', `m${sc.n++}`, 2)
          await delay(1)
        }
        // the process dies: its connections are gone with it, the clients keep their state
        // (and have read what reached them)
        sc.r.process(false)
        sc.broker = await start()
        if (sc.r.client !== null) sc.r.client = await connect(t, sc.broker, sc.opts)
        sc.pub = await connect(t, sc.broker, {})
      }
      return await sc.check()
    }
  ), { numRuns: 40, seed: 4444 })
  t.equal(runs, 40)
})

type DrainAction = CrashAction | 'burst' | 'wait'

t.test('random crashes while queued QoS 2 messages drain, writes lost with the process: no acknowledged message lost, no QoS 2 twice (shared store)', async (t) => {
  let runs = 0
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(4 as const, 5 as const),
    fc.array(fc.constantFrom<DrainAction>('pub1', 'pub2', 'burst', 'drop', 'reconnect', 'reconnect', 'process', 'processNoAck', 'wait', 'crash', 'pub2crash'), { minLength: 8, maxLength: 30 }),
    fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
    async (version, actions, lags) => {
      runs++
      const base = new MemoryStore()
      let life = 0
      const start = async (): Promise<Broker> => {
        const mine = ++life
        // writes still on their way when the process dies are lost with it
        const b = setup(t, { store: laggyStore(lags, base, () => life === mine, true) })
        await b.ready()
        return b
      }
      const sc = new Scenario(t, await start(), version)
      await sc.begin()
      for (const a of actions) {
        if (a === 'burst') {
          // several messages queued at once (offline, or behind the inflight window)
          for (let k = 0; k < 4; k++) await sc.step('pub2')
          continue
        }
        if (a === 'wait') {
          await delay(1)
          continue
        }
        if (a !== 'crash' && a !== 'pub2crash') {
          await sc.step(a)
          continue
        }
        if (a === 'pub2crash') {
          sc.pub!.publish('p/2', `m${sc.n++}`, 2)
          await delay(1)
        }
        sc.r.process(false)
        sc.broker = await start()
        if (sc.r.client !== null) sc.r.client = await connect(t, sc.broker, sc.opts)
        sc.pub = await connect(t, sc.broker, {})
      }
      return await sc.check()
    }
  ), { numRuns: 60, seed: 4545 })
  t.equal(runs, 60)
})
