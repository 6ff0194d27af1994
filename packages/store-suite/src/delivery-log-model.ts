/**
 * A model-based test of the broker's delivery logs over a real store that answers late and
 * crashes: fast-check generates a run of commands (publish QoS 1/2 from two persistent
 * publishers, the persistent QoS 2 subscriber acknowledging or reconnecting, time passing,
 * the broker crashing), runs it against an in-process Broker whose store answers after
 * random delays and stops answering at a crash, then lets everything settle and checks the
 * rule: no acknowledged message lost, no QoS 2 message delivered twice, the order of each
 * publisher's messages (per QoS) kept.
 *
 * The store driver (`Chaos`) applies the calls to the real store one at a time in call order
 * (a store applies writes in the order it was given them), each after a random number of
 * event-loop turns, and answers once a call was applied: an answer means the write is on
 * disk. A crash drops what was not applied yet and the answers not given yet (what was
 * applied stays), and later calls are refused. The broker is then abandoned (its `close` only
 * meets a dead store), the real store closed and opened again on the same data, a new broker
 * started on it, and the clients reconnect as real ones do: Clean Session 0, PUBLISH resent
 * with DUP and PUBREL resent for what was not completed [MQTT-4.4.0-1]. The clients are
 * scripted here, over in-memory streams, and keep their session state across connections:
 * the subscriber is a correct QoS 2 receiver (a PUBLISH under an id it holds is not
 * delivered again [MQTT-4.3.3-9]).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Duplex } from 'node:stream'
import { setImmediate as turn } from 'node:timers/promises'
import fc from 'fast-check'
import type { Test } from 'tap'
import { Broker, type Store } from '@culex/broker'
import { encode, Parser, type Packet } from '@culex/packet'

/** Options of {@link deliveryLogModelSuite}. */
export interface DeliveryLogModelOptions {
  /** e.g. 'LevelStore' */
  name: string
  /** Open the store on `dir`; opened again on the same dir after a crash. */
  open: (dir: string) => Store | Promise<Store>
  /** Generated runs. Default 25 (each runs up to 60 commands and a few crashes). */
  numRuns?: number
  /**
   * Apply every store call on its own, so a crash may fall between any two writes (a store
   * without atomic batches). Default false: the calls made together are applied together.
   */
  strict?: boolean
  /** Run the test as a known failure (tap `todo`) with this reason. */
  todo?: string
}

/** A small seeded PRNG (mulberry32): the delays of one run replay from its seed. */
function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

class Crashed extends Error {
  constructor () {
    super('the store crashed')
  }
}

/** A call waiting in a group. */
interface Call { fn: () => unknown, resolve: (v: unknown) => void, reject: (e: unknown) => void }

/**
 * The store driver. Calls are applied to the real store in call order, in groups: the calls
 * made while the previous group is applied (and a random number of event-loop turns after
 * the group's first call) form the next group, and a group is applied whole (a group commit,
 * as LevelStore writes its batches). Answers come once their group was applied: an answer
 * means the write is on disk. A crash drops the groups not started and every answer not
 * given yet, and refuses later calls. `strict`: every call is a group of its own (a store
 * without atomic batches: a crash may fall between any two writes).
 */
class Chaos {
  dead = false
  readonly #random: () => number
  readonly #strict: boolean
  #tail: Promise<unknown> = Promise.resolve()
  #open: Call[] | null = null

  constructor (random: () => number, strict: boolean) {
    this.#random = random
    this.#strict = strict
  }

  wrap (real: Store): Store {
    return new Proxy(real, {
      get: (target, key, receiver) => {
        const v = Reflect.get(target, key, receiver) as unknown
        if (typeof v !== 'function') return v
        if (key === 'sessions' || key === 'close') return v.bind(target)
        return (...args: unknown[]) => this.#call(() => (v as (...a: unknown[]) => unknown).apply(target, args))
      }
    })
  }

  #call (fn: () => unknown): Promise<unknown> {
    if (this.dead) return Promise.reject(new Crashed())
    let group = this.#open
    if (group === null) {
      const g: Call[] = group = []
      this.#open = this.#strict ? null : g
      const turns = this.#random() < 0.4 ? 0 : 1 + Math.floor(this.#random() * 6)
      this.#tail = this.#tail.then(async () => {
        for (let i = 0; i < turns; i++) await turn()
        if (this.#open === g) this.#open = null
        if (this.dead) {
          for (const c of g) c.reject(new Crashed())
          return
        }
        const results: Array<{ ok: boolean, v: unknown }> = []
        for (const c of g) {
          try {
            results.push({ ok: true, v: await c.fn() })
          } catch (err) {
            results.push({ ok: false, v: err })
          }
        }
        for (let i = 0; i < g.length; i++) {
          const r = results[i]!
          if (this.dead) g[i]!.reject(new Crashed())
          else if (r.ok) g[i]!.resolve(r.v)
          else g[i]!.reject(r.v)
        }
      })
    }
    const into = group
    return new Promise((resolve, reject) => { into.push({ fn, resolve, reject }) })
  }
}

/** Two streams: what one writes, the other reads. */
function pair (): [Duplex, Duplex] {
  const make = (peer: () => Duplex): Duplex => new Duplex({
    read () {},
    write (chunk, _enc, cb) {
      peer().push(chunk)
      cb()
    },
    final (cb) {
      peer().push(null)
      cb()
    }
  })
  const a: Duplex = make(() => b)
  const b: Duplex = make(() => a)
  return [a, b]
}

/** A message as the test knows it. */
interface Msg { pub: number, seq: number, qos: 1 | 2 }
const label = (m: Msg): string => `${m.pub}:${m.seq}:${m.qos}`
function parse (payload: Buffer): Msg {
  const [pub, seq, qos] = payload.toString().split(':').map(Number)
  return { pub: pub!, seq: seq!, qos: qos as 1 | 2 }
}

/** A scripted MQTT 3.1.1 client with a persistent session (its state outlives connections). */
class Peer {
  readonly clientId: string
  #stream: Duplex | null = null
  #connack: ((sessionPresent: boolean) => void) | null = null
  #suback: (() => void) | null = null
  /** Packets of the current connection, handled in order. */
  onPacket: (p: Packet) => void = () => {}
  constructor (clientId: string) {
    this.clientId = clientId
  }

  get connected (): boolean {
    return this.#stream !== null
  }

  /** Connect (Clean Session 0); resolves to Session Present. */
  async connect (broker: Broker): Promise<boolean> {
    const [server, client] = pair()
    this.#stream = client
    const parser = new Parser<Peer>({
      protocolVersion: 4,
      context: this,
      onPacket (p) {
        if (p.cmd === 'connack') this.#connack?.(p.sessionPresent)
        else if (p.cmd === 'suback') this.#suback?.()
        else this.onPacket(p)
      },
      onError (err) { throw err }
    })
    client.on('data', (chunk: Buffer) => { if (this.#stream === client) parser.parse(chunk) })
    client.on('error', () => {})
    broker.handle(server)
    const present = new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`${this.clientId}: no CONNACK in 10 s`)) }, 10_000)
      this.#connack = (sp) => {
        clearTimeout(timer)
        this.#connack = null
        resolve(sp)
      }
    })
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: this.clientId, clean: false, keepalive: 0 })
    return await present
  }

  async subscribe (filter: string): Promise<void> {
    const done = new Promise<void>((resolve) => { this.#suback = resolve })
    this.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 2 }] })
    await done
  }

  send (p: Packet): void {
    this.#stream?.write(encode(p, 4))
  }

  /** Gone without a word (the broker crashed, or the client did): nothing more is read. */
  drop (): void {
    const s = this.#stream
    this.#stream = null
    s?.destroy()
  }
}

/** A publisher: QoS 1/2 PUBLISH in order, resent until acknowledged. */
class Publisher extends Peer {
  readonly index: number
  #nextSeq = 0
  #lastId = 0
  /** By packet id, in the order sent: what waits for PUBACK / PUBREC ('publish') or PUBCOMP ('pubrel'). */
  readonly outstanding = new Map<number, { msg: Msg, phase: 'publish' | 'pubrel' }>()
  /** Acknowledged with PUBACK / PUBREC: the broker owes these to the subscriber. */
  readonly acked: Msg[] = []
  /** Everything sent, acknowledged or not. */
  readonly sent: Msg[] = []

  constructor (index: number) {
    super(`model-pub-${index}`)
    this.index = index
    this.onPacket = (p) => {
      if (p.cmd === 'puback' || p.cmd === 'pubrec') {
        const o = this.outstanding.get(p.messageId)
        if (o === undefined || o.phase !== 'publish' || (p.cmd === 'puback') !== (o.msg.qos === 1)) return
        this.acked.push(o.msg)
        if (p.cmd === 'puback') {
          this.outstanding.delete(p.messageId)
          return
        }
        o.phase = 'pubrel'
        this.send({ cmd: 'pubrel', messageId: p.messageId })
      } else if (p.cmd === 'pubcomp') {
        const o = this.outstanding.get(p.messageId)
        if (o !== undefined && o.phase === 'pubrel') this.outstanding.delete(p.messageId)
      }
    }
  }

  publish (qos: 1 | 2): void {
    let id = this.#lastId
    do id = id === 65535 ? 1 : id + 1
    while (this.outstanding.has(id))
    this.#lastId = id
    const msg: Msg = { pub: this.index, seq: this.#nextSeq++, qos }
    this.sent.push(msg)
    this.outstanding.set(id, { msg, phase: 'publish' })
    this.#publish(id, msg, false)
  }

  #publish (id: number, msg: Msg, dup: boolean): void {
    this.send({ cmd: 'publish', topic: `model/${msg.pub}`, payload: Buffer.from(label(msg)), qos: msg.qos, messageId: id, dup, retain: false })
  }

  /** After a reconnect: what was not completed goes again, in order [MQTT-4.4.0-1]. */
  resend (): void {
    for (const [id, o] of this.outstanding) {
      if (o.phase === 'publish') this.#publish(id, o.msg, true)
      else this.send({ cmd: 'pubrel', messageId: id })
    }
  }
}

/** The subscriber: a correct QoS 2 receiver; its acks wait until `flush` (a slow consumer). */
class Subscriber extends Peer {
  /** QoS 2 ids received and not released (PUBREC sent or due, no PUBREL yet). */
  readonly held = new Set<number>()
  /** Messages handed to the application, in order. */
  readonly delivered: Msg[] = []
  /** Acks not sent yet (lost if the connection ends first). */
  #due: Packet[] = []
  auto = false
  /** What happened to the subscriber, for the report of a failed run. */
  readonly trace: string[] = []

  constructor () {
    super('model-sub')
    this.onPacket = (p) => {
      if (p.cmd === 'publish') {
        const id = p.messageId!
        this.trace.push(`PUBLISH id ${id} qos ${p.qos}${p.dup ? ' dup' : ''} ${p.payload.toString()}${p.qos === 2 && this.held.has(id) ? ' (held)' : ''}`)
        if (p.qos === 1) {
          this.delivered.push(parse(p.payload))
          this.#ack({ cmd: 'puback', messageId: id })
        } else if (p.qos === 2) {
          if (!this.held.has(id)) {
            this.held.add(id)
            this.delivered.push(parse(p.payload))
          }
          this.#ack({ cmd: 'pubrec', messageId: id })
        }
      } else if (p.cmd === 'pubrel') {
        this.trace.push(`PUBREL id ${p.messageId}`)
        this.held.delete(p.messageId)
        this.#ack({ cmd: 'pubcomp', messageId: p.messageId })
      }
    }
  }

  #ack (p: Packet): void {
    if (this.auto) this.send(p)
    else this.#due.push(p)
  }

  flush (): void {
    const due = this.#due
    this.#due = []
    for (const p of due) {
      this.trace.push(`sent ${p.cmd.toUpperCase()} id ${(p as { messageId: number }).messageId}`)
      this.send(p)
    }
  }

  override drop (): void {
    this.trace.push(`dropped (${this.#due.length} acks not sent)`)
    this.#due = []
    super.drop()
  }
}

/** The system under test: a broker over a chaotic store, two publishers, one subscriber. */
class World {
  readonly #dir: string
  readonly #open: (dir: string) => Store | Promise<Store>
  readonly #random: () => number
  #real: Store | null = null
  #chaos: Chaos | null = null
  broker: Broker | null = null
  readonly pubs = [new Publisher(0), new Publisher(1)]
  readonly sub = new Subscriber()
  crashes = 0
  /** A reconnect that found no session: the rule allows a loss only then, and it must not happen here. */
  lostSessions = 0

  readonly #strict: boolean

  constructor (dir: string, open: (dir: string) => Store | Promise<Store>, seed: number, strict: boolean) {
    this.#dir = dir
    this.#open = open
    this.#random = prng(seed)
    this.#strict = strict
  }

  async start (): Promise<void> {
    this.#real = await this.#open(this.#dir)
    this.#chaos = new Chaos(this.#random, this.#strict)
    this.broker = new Broker({ store: this.#chaos.wrap(this.#real), sysInterval: 0, id: 'model' })
    await this.broker.ready()
  }

  async reconnect (peer: Peer, first = false): Promise<void> {
    const present = await peer.connect(this.broker!)
    if (peer === this.sub) this.sub.trace.push(`connected, session present ${String(present)}`)
    if (!first && !present) this.lostSessions++
    if (peer instanceof Publisher) peer.resend()
  }

  async crash (): Promise<void> {
    this.crashes++
    this.sub.trace.push('CRASH')
    this.#chaos!.dead = true
    for (const p of [...this.pubs, this.sub]) p.drop()
    await this.broker!.close()
    await this.#real!.close()
    await this.start()
    for (const p of [...this.pubs, this.sub]) await this.reconnect(p)
  }

  /** End of a run: everyone connected, acks flowing, until nothing is outstanding. */
  async settle (): Promise<void> {
    for (const p of [...this.pubs, this.sub]) if (!p.connected) await this.reconnect(p)
    this.sub.auto = true
    this.sub.flush()
    const deadline = Date.now() + 15_000
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 5))
      this.sub.flush()
      const done = this.pubs.every((p) => p.outstanding.size === 0) && this.sub.held.size === 0 &&
        this.pubs.every((p) => p.sent.every((m) => this.sub.delivered.some((d) => d.pub === m.pub && d.seq === m.seq)))
      if (done || Date.now() > deadline) break
    }
    // a last quiet moment: a late duplicate would show now
    await new Promise((resolve) => setTimeout(resolve, 20))
  }

  async stop (): Promise<void> {
    for (const p of [...this.pubs, this.sub]) p.drop()
    if (this.broker !== null) {
      this.#chaos!.dead = true
      await this.broker.close()
    }
    await this.#real?.close()
  }
}

type Model = Record<string, never>
type Cmd = fc.AsyncCommand<Model, World>

class Publish implements Cmd {
  readonly pub: number
  readonly qos: 1 | 2
  readonly count: number
  constructor (pub: number, qos: 1 | 2, count: number) {
    this.pub = pub
    this.qos = qos
    this.count = count
  }

  check (): boolean { return true }
  async run (_m: Model, w: World): Promise<void> {
    const p = w.pubs[this.pub]!
    // a window of 20 unacknowledged, like a client's inflight limit
    for (let i = 0; i < this.count && p.outstanding.size < 20; i++) p.publish(this.qos)
    await turn()
  }

  toString (): string { return `publish(p${this.pub}, qos ${this.qos}, ×${this.count})` }
}

class Acknowledge implements Cmd {
  check (): boolean { return true }
  async run (_m: Model, w: World): Promise<void> {
    w.sub.flush()
    await turn()
  }

  toString (): string { return 'subscriber acknowledges' }
}

class Bounce implements Cmd {
  check (): boolean { return true }
  async run (_m: Model, w: World): Promise<void> {
    w.sub.drop()
    await turn()
    await w.reconnect(w.sub)
  }

  toString (): string { return 'subscriber reconnects' }
}

class Wait implements Cmd {
  readonly ms: number
  constructor (ms: number) {
    this.ms = ms
  }

  check (): boolean { return true }
  async run (): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.ms))
  }

  toString (): string { return `wait ${this.ms} ms` }
}

class Crash implements Cmd {
  check (): boolean { return true }
  async run (_m: Model, w: World): Promise<void> {
    await w.crash()
  }

  toString (): string { return 'broker crashes' }
}

const publish = fc.tuple(fc.integer({ min: 0, max: 1 }), fc.constantFrom<1 | 2>(1, 2), fc.integer({ min: 1, max: 8 })).map(([p, q, n]) => new Publish(p, q, n))
const commands = [
  publish,
  publish,
  publish,
  fc.constant(new Acknowledge()),
  fc.constant(new Acknowledge()),
  fc.constant(new Acknowledge()),
  fc.constant(new Bounce()),
  fc.integer({ min: 0, max: 4 }).map((ms) => new Wait(ms)),
  fc.constant(new Crash())
]

/** What the run broke of the rule, as readable lines (empty: nothing). */
function violations (w: { pubs: Publisher[], sub: Subscriber, lostSessions: number }): string[] {
  const out: string[] = []
  const traceOf = (m: Msg): string => {
    // the subscriber's history around the message: its packets and every crash or reconnect
    const ids = new Set(w.sub.trace.filter((l) => l.endsWith(' ' + label(m)) || l.includes(' ' + label(m) + ' ')).map((l) => l.split(' ')[2]))
    return w.sub.trace.filter((l) => !l.includes(' id ') || ids.has(l.split(' id ')[1]!.split(' ')[0])).join('\n    ')
  }
  if (w.lostSessions > 0) out.push(`${w.lostSessions} reconnects found no session`)
  const count = new Map<string, number>()
  for (const d of w.sub.delivered) count.set(label(d), (count.get(label(d)) ?? 0) + 1)
  for (const p of w.pubs) {
    for (const m of p.acked) if (!count.has(label(m))) out.push(`lost: ${label(m)} was acknowledged and never delivered`)
    const acked = new Set(p.acked.map(label))
    for (const m of p.sent) if (m.qos === 2 && (count.get(label(m)) ?? 0) > 1) out.push(`duplicate: QoS 2 ${label(m)} (${acked.has(label(m)) ? 'acknowledged' : 'never acknowledged'}) delivered ${count.get(label(m))} times:\n    ${traceOf(m)}`)
  }
  // order per publisher and QoS: first deliveries in the order published
  const last = new Map<string, number>()
  const seen = new Set<string>()
  for (const d of w.sub.delivered) {
    if (seen.has(label(d))) continue
    seen.add(label(d))
    const k = `${d.pub}:${d.qos}`
    if ((last.get(k) ?? -1) > d.seq) out.push(`order: ${label(d)} delivered after seq ${last.get(k)} of the same publisher and QoS`)
    last.set(k, Math.max(last.get(k) ?? -1, d.seq))
  }
  return out
}

/** Add the delivery-log model test on the store `opts.open` makes to `t`. */
export function deliveryLogModelSuite (t: Test, opts: DeliveryLogModelOptions): void {
  const what = opts.strict === true ? 'a late store that crashes between any two writes' : 'a late and crashing store'
  void t.test(`${opts.name}: delivery logs over ${what}: no acknowledged message lost, no QoS 2 twice, order kept (model-based)`, { timeout: 120_000, ...(opts.todo !== undefined ? { todo: opts.todo } : {}) }, async (t) => {
    const root = mkdtempSync(join(tmpdir(), 'culex-model-'))
    t.teardown(() => { rmSync(root, { recursive: true, force: true }) })
    let run = 0
    let crashes = 0
    let acked = 0
    let delivered = 0
    await fc.assert(fc.asyncProperty(fc.integer(), fc.commands(commands, { maxCommands: 60, size: '+1' }), async (seed, cmds) => {
      const w = new World(join(root, String(run++)), opts.open, seed, opts.strict ?? false)
      try {
        await w.start()
        for (const p of [...w.pubs, w.sub]) await w.reconnect(p, true)
        await w.sub.subscribe('model/#')
        await fc.asyncModelRun(() => ({ model: {}, real: w }), cmds)
        await w.settle()
      } finally {
        await w.stop()
      }
      crashes += w.crashes
      for (const p of w.pubs) acked += p.acked.length
      delivered += w.sub.delivered.length
      const bad = violations(w)
      if (bad.length > 0) throw new Error(bad.slice(0, 10).join('\n'))
    }), { numRuns: opts.numRuns ?? 25, endOnFailure: true })
    t.ok(crashes > 0, `the runs crashed the broker ${crashes} times`)
    t.ok(acked > 0 && delivered >= acked, `${acked} messages acknowledged, ${delivered} deliveries`)
  })
}
