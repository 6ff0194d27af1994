/**
 * Flow control: a full subscriber queue holds back its publishers' acknowledgements instead
 * of dropping acknowledged messages (queuePolicy 'block', the default); a subscriber full
 * for too long is stalled (0x97); 'drop-oldest' and 'reject' as explicit options.
 */
import t from 'tap'
import { connect, delay, setup, type AnyPacket, type TestClient } from './helper.ts'
import type { Broker, BrokerOptions } from '../src/index.ts'

type Client = TestClient & { connack: AnyPacket }

/**
 * A subscriber that acknowledges every delivery (QoS 1 PUBACK, QoS 2 PUBREC then PUBCOMP on
 * PUBREL), pausing `slowMs` after every `every` messages, until it has `expected` messages
 * or nothing came for `idleMs`. Resolves to the payloads received, in order.
 */
async function consume (c: Client, opts: { every: number, slowMs: number, expected: number, idleMs?: number }): Promise<string[]> {
  const got: string[] = []
  let n = 0
  while (got.length < opts.expected) {
    let p: AnyPacket
    try {
      p = await c.next(undefined, opts.idleMs ?? 3000)
    } catch {
      break
    }
    if (p.cmd === 'publish') {
      got.push(p.payload.toString())
      if (p.qos === 1) c.send({ cmd: 'puback', messageId: p.messageId })
      else if (p.qos === 2) c.send({ cmd: 'pubrec', messageId: p.messageId })
      if (++n % opts.every === 0) await delay(opts.slowMs)
    } else if (p.cmd === 'pubrel') {
      c.send({ cmd: 'pubcomp', messageId: p.messageId })
    }
  }
  // the last PUBRELs of a QoS 2 run
  for (const p of c.received.splice(0)) if (p.cmd === 'pubrel') c.send({ cmd: 'pubcomp', messageId: p.messageId })
  return got
}

/**
 * A publisher keeping `window` QoS `qos` messages unacknowledged until `count` were
 * acknowledged (PUBACK, or PUBREC for QoS 2). Returns the payloads acknowledged with 0.
 */
async function produce (c: Client, name: string, count: number, qos: 1 | 2, window: number, topic = `load/${name}`): Promise<{ acked: string[], codes: number[] }> {
  const byId = new Map<number, string>()
  const acked: string[] = []
  const codes: number[] = []
  let sent = 0
  const send = (): void => {
    const payload = `${name}-${sent++}`
    byId.set(c.publish(topic, payload, qos), payload)
  }
  while (sent < window && sent < count) send()
  let done = 0
  while (done < count) {
    const p = await c.next(undefined, 10_000)
    if ((p.cmd === 'puback' && qos === 1) || (p.cmd === 'pubrec' && qos === 2)) {
      const rc = p.reasonCode ?? 0
      codes.push(rc)
      if (rc === 0) acked.push(byId.get(p.messageId)!)
      if (qos === 2 && rc < 0x80) c.send({ cmd: 'pubrel', messageId: p.messageId })
      byId.delete(p.messageId)
      done++
      if (sent < count) send()
    }
  }
  return { acked, codes }
}

type Test = Parameters<Parameters<typeof t.test>[1]>[0]

/** 4 publishers × `count` with 100 unacknowledged each, one slow wildcard subscriber. */
async function overload (t: Test, broker: Broker, qos: 1 | 2, clean: boolean, count: number): Promise<void> {
  const sub = await connect(t, broker, { clientId: 'slow-sub', clean })
  await sub.subscribe('load/#', qos)
  const pubs = await Promise.all([0, 1, 2, 3].map(async () => await connect(t, broker, {})))
  const received = consume(sub, { every: 25, slowMs: 2, expected: 4 * count })
  const results = await Promise.all(pubs.map(async (p, i) => await produce(p, `p${i}`, count, qos, 100)))
  const acked = results.flatMap((r) => r.acked)
  t.equal(acked.length, 4 * count, `all ${4 * count} acknowledged with 0x00`)
  const got = await received
  const seen = new Set(got)
  t.equal(acked.filter((p) => !seen.has(p)).length, 0, 'no acknowledged message lost')
  t.equal(got.length, seen.size, 'no duplicate')
  t.equal(seen.size, 4 * count, 'exact count delivered')
  t.equal(broker.stats.publishDropped, 0, 'nothing dropped')
  for (let i = 0; i < 4; i++) {
    const mine = got.filter((p) => p.startsWith(`p${i}-`))
    t.same(mine, mine.slice().sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1])), `order of publisher ${i} kept`)
  }
}

const LOAD = { limits: { maxQueuedMessages: 50 } } satisfies BrokerOptions

t.test('overload, QoS 1, clean session: 0 of the acknowledged messages lost', async (t) => {
  const broker = setup(t, LOAD)
  let waited = 0
  const orig = broker.route.bind(broker)
  broker.route = (m, onlineOnly) => {
    const r = orig(m, onlineOnly)
    if (r !== null) waited++
    return r
  }
  await overload(t, broker, 1, true, 400)
  t.ok(waited > 0, `acks waited for room (${waited} times)`)
})

t.test('overload, QoS 1, persistent session (MemoryStore): 0 lost', async (t) => {
  const broker = setup(t, LOAD)
  await overload(t, broker, 1, false, 400)
})

t.test('overload, QoS 2: 0 lost, no duplicate', async (t) => {
  const broker = setup(t, LOAD)
  await overload(t, broker, 2, true, 300)
})

t.test('overload, QoS 2, persistent session: 0 lost, no duplicate', async (t) => {
  const broker = setup(t, LOAD)
  await overload(t, broker, 2, false, 300)
})
