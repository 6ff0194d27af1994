/**
 * Randomized authorization check: random Mosquitto ACL files over a few users and topics,
 * random connects (same or another user's client id, clean or not, with wills),
 * subscriptions with wildcards and `$share`, publishes with and without retain,
 * disconnects and drops. Every delivery is compared with an oracle written here from
 * Mosquitto 2.0's ACL semantics (its own matcher, not the app's): the receiver must have
 * read access to the topic at delivery, and the publisher write access when it published.
 *
 * `npm test` runs a fixed seed; `CULEX_ACL_FUZZ_RUNS=5000 npx tap test/acl-property.test.ts`
 * (or `CULEX_ACL_FUZZ_SEED=…`) runs longer.
 */
import t from 'tap'
import fc from 'fast-check'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Duplex } from 'node:stream'
import { Broker, MemoryStore } from '@culex/broker'
import { Parser, encode, type Packet } from '@culex/packet'
import { buildAuthHooks } from '../src/auth.ts'

// ───────── the oracle: Mosquitto 2.0 ACL semantics ─────────

type Access = 'read' | 'write' | 'readwrite' | 'deny'
interface Rule { access: Access, filter: string }
interface AclSpec { anonymous: Rule[], users: Map<string, Rule[]>, patterns: Rule[] }
interface Who { clientId: string, username: string | undefined }

/** MQTT topic matching, written level by level: `+` one level, `#` the rest (and the parent), no wildcard-first match on `$` topics. */
function matches (filter: string, topic: string): boolean {
  const f = filter.split('/')
  const tp = topic.split('/')
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false
  let i = 0
  for (; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= tp.length) return false
    if (f[i] !== '+' && f[i] !== tp[i]) return false
  }
  return i === tp.length
}

/** One list of rules: denials first (Mosquitto keeps them at the head), then the first rule granting the access. */
function checkList (rules: Rule[], topic: string, want: 'read' | 'write', subst: (f: string) => string | null): boolean | null {
  for (const r of rules) {
    if (r.access !== 'deny') continue
    const f = subst(r.filter)
    if (f === null) continue
    if (topic.startsWith('$') && !f.startsWith('$')) continue
    if (matches(f, topic)) return false
  }
  for (const r of rules) {
    if (r.access === 'deny') continue
    const f = subst(r.filter)
    if (f === null) continue
    if (topic.startsWith('$') && !f.startsWith('$')) continue
    if (matches(f, topic) && (r.access === 'readwrite' || r.access === want)) return true
  }
  return null
}

function oracle (spec: AclSpec, who: Who, topic: string, want: 'read' | 'write'): boolean {
  const own = who.username === undefined ? spec.anonymous : spec.users.get(who.username)
  if (own !== undefined) {
    const r = checkList(own, topic, want, (f) => f)
    if (r !== null) return r
  }
  if (spec.patterns.length === 0) return false
  if (/[+#]/.test(who.clientId) || (who.username !== undefined && /[+#]/.test(who.username))) return false
  const r = checkList(spec.patterns, topic, want, (f) => {
    if (f.includes('%u') && who.username === undefined) return null
    return f.split('%c').join(who.clientId).split('%u').join(who.username ?? '')
  })
  return r === true
}

function aclText (spec: AclSpec): string {
  const lines: string[] = []
  const rule = (kind: string, r: Rule): string => `${kind} ${r.access} ${r.filter}`
  for (const r of spec.anonymous) lines.push(rule('topic', r))
  for (const [u, rules] of spec.users) {
    lines.push(`user ${u}`)
    for (const r of rules) lines.push(rule('topic', r))
  }
  for (const r of spec.patterns) lines.push(rule('pattern', r))
  return lines.join('\n') + '\n'
}

// ───────── the world ─────────

const USERS = ['alice', 'bob'] as const
const CLIENT_IDS = ['c1', 'c2', 'c3', 'c4'] as const
const TOPICS = ['public/x', 'public/secret/r', 'alice/in', 'bob/in', 'c1/data', 'c2/data', 'users/alice/m', 'users/bob/m', 'other', '$app/x'] as const
const FILTERS = ['#', 'public/#', 'public/+', 'public/secret/#', '+/in', 'c1/#', 'c2/#', 'users/#', 'other', '$app/#', '$share/g/public/#', '$share/g/#', '+/data'] as const
const RULE_FILTERS = ['#', 'public/#', 'public/secret/#', 'public/x', '+/in', 'alice/#', 'bob/#', 'users/+/m', 'other', '$app/#', '+/data'] as const
const PATTERN_FILTERS = ['%c/#', 'users/%u/#', '%u/in', 'public/%c', '%c/data'] as const

// grants are likelier than denials, broad filters likelier than narrow ones: most scenarios deliver something
const access = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Access>('readwrite') },
  { weight: 2, arbitrary: fc.constant<Access>('read') },
  { weight: 2, arbitrary: fc.constant<Access>('write') },
  { weight: 2, arbitrary: fc.constant<Access>('deny') }
)
// a broad grant (often) plus narrower rules: denials carved out of it are the interesting cases
const rules = (filters: readonly string[]): fc.Arbitrary<Rule[]> => fc.tuple(
  fc.option(fc.record({ access: fc.constantFrom<Access>('readwrite', 'readwrite', 'read', 'write'), filter: fc.constantFrom(filters[0]!, filters[0]!, filters[1]!) }), { nil: undefined, freq: 5 }),
  fc.array(fc.record({ access, filter: fc.constantFrom(...filters) }), { maxLength: 4 })
).map(([base, rest]) => base === undefined ? rest : [base, ...rest])
const aclSpec: fc.Arbitrary<AclSpec> = fc.record({
  anonymous: rules(RULE_FILTERS),
  alice: fc.option(rules(RULE_FILTERS), { nil: undefined, freq: 5 }),
  bob: fc.option(rules(RULE_FILTERS), { nil: undefined, freq: 5 }),
  patterns: rules(PATTERN_FILTERS)
}).map(({ anonymous, alice, bob, patterns }) => {
  const users = new Map<string, Rule[]>()
  if (alice !== undefined) users.set('alice', alice)
  if (bob !== undefined) users.set('bob', bob)
  return { anonymous, users, patterns }
})

type Action =
  | { a: 'connect', slot: number, clientId: string, user: string | undefined, clean: boolean, v5: boolean, will: string | null }
  | { a: 'subscribe', slot: number, filter: string, qos: 0 | 1 | 2 }
  | { a: 'publish', slot: number, topic: string, qos: 0 | 1 | 2, retain: boolean }
  | { a: 'drop', slot: number }
  | { a: 'disconnect', slot: number }
  | { a: 'settle' }

const slot = fc.integer({ min: 0, max: 3 })
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ a: fc.constant('connect' as const), slot, clientId: fc.constantFrom(...CLIENT_IDS), user: fc.constantFrom(undefined, ...USERS), clean: fc.boolean(), v5: fc.boolean(), will: fc.option(fc.constantFrom(...TOPICS), { nil: null, freq: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ a: fc.constant('subscribe' as const), slot, filter: fc.constantFrom(...FILTERS), qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2) }) },
  { weight: 10, arbitrary: fc.record({ a: fc.constant('publish' as const), slot, topic: fc.constantFrom(...TOPICS), qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2), retain: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('drop' as const), slot }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('disconnect' as const), slot }) },
  { weight: 1, arbitrary: fc.constant({ a: 'settle' as const }) }
)

interface Delivery { receiver: Who, topic: string, payload: { from: Who, seq: number } }

/** A client over an in-memory duplex pair, speaking through @culex/packet. */
class Peer {
  readonly who: Who
  readonly version: 4 | 5
  readonly #stream: Duplex
  connected = false
  ended = false
  #id = 0
  constructor (broker: Broker, who: Who, version: 4 | 5, deliveries: Delivery[]) {
    this.who = who
    this.version = version
    const peer: { server: Duplex | null } = { server: null }
    const client: Duplex = new Duplex({
      read () {},
      write (chunk, _e, cb) { peer.server!.push(chunk); cb() },
      final (cb) { peer.server!.push(null); cb() }
    })
    const server = peer.server = new Duplex({
      read () {},
      write (chunk, _e, cb) { client.push(chunk); cb() },
      final (cb) { client.push(null); cb() }
    })
    this.#stream = client
    const parser = new Parser({
      protocolVersion: version,
      onPacket: (p: Packet) => {
        if (p.cmd === 'connack') this.connected = (this.version === 5 ? p.reasonCode : p.returnCode) === 0
        if (p.cmd === 'publish') {
          deliveries.push({ receiver: this.who, topic: p.topic, payload: JSON.parse(p.payload.toString()) })
          if (p.qos === 1) this.send({ cmd: 'puback', messageId: p.messageId! })
          if (p.qos === 2) this.send({ cmd: 'pubrec', messageId: p.messageId! })
        }
        if (p.cmd === 'pubrel') this.send({ cmd: 'pubcomp', messageId: p.messageId })
        if (p.cmd === 'pubrec') this.send({ cmd: 'pubrel', messageId: p.messageId })
      },
      onError: (err) => { throw err }
    })
    client.on('data', (chunk: Buffer) => { parser.parse(chunk) })
    client.on('end', () => { this.ended = true })
    client.on('error', () => {})
    server.on('error', () => {})
    broker.handle(server, { transport: 'other', remoteAddress: '127.0.0.1' })
  }

  send (p: Packet): void {
    if (this.ended) return
    this.#stream.write(encode(p, this.version))
  }

  nextId (): number {
    this.#id = this.#id % 65535 + 1
    return this.#id
  }

  end (): void {
    this.ended = true
    this.#stream.end()
  }

  destroy (): void {
    this.ended = true
    this.#stream.destroy()
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await tick()
}

async function runScenario (dir: string, spec: AclSpec, actions: Action[]): Promise<{ violations: string[], deliveries: number }> {
  const file = join(dir, 'acl')
  writeFileSync(file, aclText(spec))
  const { hooks } = buildAuthHooks({ passwordFile: undefined, aclFile: file, allowAnonymous: true })
  const broker = new Broker({ sysInterval: 0, store: new MemoryStore(), ...hooks })
  const deliveries: Delivery[] = []
  const peers: Array<Peer | null> = [null, null, null, null]
  let seq = 0
  /** Write rights of each published seq, decided by the oracle for its publisher. */
  const published = new Map<number, boolean>()
  try {
    for (const act of actions) {
      if (act.a === 'settle') { await settle(); continue }
      const peer = peers[act.slot] ?? null
      if (act.a === 'connect') {
        peer?.destroy()
        const who: Who = { clientId: act.clientId, username: act.user }
        const p = new Peer(broker, who, act.v5 ? 5 : 4, deliveries)
        peers[act.slot] = p
        const s = ++seq
        published.set(s, oracle(spec, who, act.will ?? '', 'write'))
        p.send({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: p.version,
          clientId: act.clientId,
          clean: act.clean,
          keepalive: 0,
          ...(act.user === undefined ? {} : { username: act.user }),
          ...(act.v5 && !act.clean ? { properties: { sessionExpiryInterval: 300 } } : {}),
          ...(act.will === null ? {} : { will: { topic: act.will, payload: Buffer.from(JSON.stringify({ from: who, seq: s })), qos: 1, retain: false } })
        } as Packet)
        await settle()
        continue
      }
      if (peer === null || peer.ended || !peer.connected) continue
      if (act.a === 'subscribe') {
        peer.send({ cmd: 'subscribe', messageId: peer.nextId(), subscriptions: [{ topic: act.filter, qos: act.qos }] } as Packet)
      } else if (act.a === 'publish') {
        const s = ++seq
        published.set(s, oracle(spec, peer.who, act.topic, 'write'))
        peer.send({ cmd: 'publish', topic: act.topic, payload: Buffer.from(JSON.stringify({ from: peer.who, seq: s })), qos: act.qos, retain: act.retain, dup: false, ...(act.qos > 0 ? { messageId: peer.nextId() } : {}) } as Packet)
      } else if (act.a === 'drop') {
        peer.destroy()
        peers[act.slot] = null
      } else {
        peer.send({ cmd: 'disconnect' } as Packet)
        peer.end()
        peers[act.slot] = null
      }
      await settle()
    }
    await settle()
  } finally {
    for (const p of peers) p?.destroy()
    await broker.close()
  }
  const violations: string[] = []
  for (const d of deliveries) {
    if (!oracle(spec, d.receiver, d.topic, 'read')) {
      violations.push(`read: ${JSON.stringify(d.receiver)} received ${d.topic} (seq ${d.payload.seq})`)
    }
    if (published.get(d.payload.seq) !== true) {
      violations.push(`write: ${JSON.stringify(d.payload.from)} published ${d.topic} (seq ${d.payload.seq}) without write access`)
    }
  }
  return { violations, deliveries: deliveries.length }
}

const runs = Number(process.env.CULEX_ACL_FUZZ_RUNS ?? 150)
const seed = Number(process.env.CULEX_ACL_FUZZ_SEED ?? 20261207)

t.test('the oracle agrees with the spec examples it is built on', async (t) => {
  const spec: AclSpec = {
    anonymous: [{ access: 'read', filter: 'public/#' }],
    users: new Map([['alice', [{ access: 'readwrite', filter: '#' }, { access: 'deny', filter: 'public/secret/#' }]]]),
    patterns: [{ access: 'readwrite', filter: '%c/#' }, { access: 'read', filter: 'users/%u/#' }]
  }
  const anon = { clientId: 'c1', username: undefined }
  const alice = { clientId: 'c2', username: 'alice' }
  t.equal(oracle(spec, anon, 'public/x', 'read'), true)
  t.equal(oracle(spec, anon, 'public/x', 'write'), false)
  t.equal(oracle(spec, alice, 'public/secret/r', 'read'), false, 'deny first, whatever the order in the file')
  t.equal(oracle(spec, alice, 'other', 'write'), true)
  t.equal(oracle(spec, alice, '$app/x', 'read'), false, '# does not reach $ topics')
  t.equal(oracle(spec, anon, 'c1/data', 'write'), true, '%c pattern')
  t.equal(oracle(spec, anon, 'users/alice/m', 'read'), false, '%u patterns skip anonymous clients')
  t.equal(oracle(spec, { clientId: 'c+', username: undefined }, 'c+/data', 'write'), false, 'wildcards in a client id deny patterns')
  t.equal(oracle({ anonymous: [], users: new Map(), patterns: [] }, anon, 'x', 'read'), false, 'nothing matching denies')
})

t.test(`no delivery outside the receiver's read rights, nor from a publisher without write rights (${runs} random scenarios)`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-acl-prop-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  let scenarios = 0
  let clean = 0
  let deliveries = 0
  const opening = fc.tuple(
    fc.array(fc.record({ a: fc.constant('connect' as const), slot, clientId: fc.constantFrom(...CLIENT_IDS), user: fc.constantFrom(undefined, ...USERS), clean: fc.boolean(), v5: fc.boolean(), will: fc.option(fc.constantFrom(...TOPICS), { nil: null, freq: 4 }) }), { minLength: 4, maxLength: 4 }),
    fc.array(fc.record({ a: fc.constant('subscribe' as const), slot, filter: fc.constantFrom(...FILTERS), qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2) }), { minLength: 4, maxLength: 8 })
  ).map(([connects, subs]): Action[] => [...connects.map((c, i) => ({ ...c, slot: i, clientId: CLIENT_IDS[i]! })), ...subs])
  const scenario = fc.tuple(opening, fc.array(action, { minLength: 10, maxLength: 60 })).map(([a, b]) => [...a, ...b])
  await fc.assert(fc.asyncProperty(aclSpec, scenario, async (spec, actions) => {
    scenarios++
    const r = await runScenario(dir, spec, actions)
    deliveries += r.deliveries
    if (r.violations.length > 0) throw new Error(`${r.violations.length} violations with ACL:\n${aclText(spec)}\n${r.violations.slice(0, 5).join('\n')}`)
    clean++
  }), { numRuns: runs, seed })
  t.equal(scenarios, runs, 'every scenario ran')
  t.equal(clean, runs, 'every scenario was clean')
  // the scenarios exercise delivery at all (an ACL that denies everything would pass trivially)
  t.ok(deliveries >= runs, `deliveries checked: ${deliveries}`)
})

t.test('the harness sees deliveries: an allowed message arrives, a denied one does not', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-acl-prop-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const spec: AclSpec = { anonymous: [{ access: 'readwrite', filter: 'public/#' }, { access: 'deny', filter: 'public/secret/#' }], users: new Map(), patterns: [] }
  const file = join(dir, 'acl')
  writeFileSync(file, aclText(spec))
  const { hooks } = buildAuthHooks({ passwordFile: undefined, aclFile: file, allowAnonymous: true })
  const broker = new Broker({ sysInterval: 0, ...hooks })
  t.teardown(() => broker.close())
  const deliveries: Delivery[] = []
  const who = { clientId: 'c1', username: undefined }
  const sub = new Peer(broker, who, 4, deliveries)
  const pub = new Peer(broker, { clientId: 'c2', username: undefined }, 4, deliveries)
  t.teardown(() => { sub.destroy(); pub.destroy() })
  for (const p of [sub, pub]) p.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: p.who.clientId, clean: true, keepalive: 0 } as Packet)
  await settle()
  sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'public/#', qos: 1 }] } as Packet)
  await settle()
  pub.send({ cmd: 'publish', topic: 'public/secret/a', payload: Buffer.from(JSON.stringify({ from: pub.who, seq: 1 })), qos: 1, messageId: 1, retain: false, dup: false } as Packet)
  pub.send({ cmd: 'publish', topic: 'public/a', payload: Buffer.from(JSON.stringify({ from: pub.who, seq: 2 })), qos: 1, messageId: 2, retain: false, dup: false } as Packet)
  await settle()
  t.same(deliveries.map((d) => d.topic), ['public/a'])
})
