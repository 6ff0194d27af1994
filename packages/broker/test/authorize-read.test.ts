/**
 * Read authorization on every delivery path: live, retained on SUBSCRIBE, offline queue
 * replay, resumed in-flight, shared groups, wills — decided by `authorizeRead` against the
 * receiving identity, never by the SUBSCRIBE grant alone. Plus session ownership: another
 * username taking a client id over does not inherit the session.
 */
import t from 'tap'
import { connect, delay, setup } from './helper.ts'
import type { BrokerOptions, Client } from '../src/index.ts'

/** user "low" may not read anything under public/secret; everybody else reads everything. */
function rules (): { calls: string[], opts: BrokerOptions } {
  const calls: string[] = []
  const opts: BrokerOptions = {
    authorizeRead: (client: Client, topic: string) => {
      calls.push(`${client.username ?? '-'}:${topic}`)
      return !(client.username === 'low' && (topic === 'public/secret' || topic.startsWith('public/secret/')))
    }
  }
  return { calls, opts }
}

t.test('live: a wildcard subscriber does not receive a denied subtopic', async (t) => {
  const broker = setup(t, rules().opts)
  const sub = await connect(t, broker, { username: 'low' })
  await sub.subscribe('public/#', 1)
  const pub = await connect(t, broker, {})
  pub.publish('public/secret/a', 'no', 1)
  pub.publish('public/open', 'yes', 1)
  const m = await sub.next('publish')
  t.equal(m.topic, 'public/open')
  t.ok(await sub.nothing(50, 'publish'), 'the denied message never arrives')
})

t.test('retained on SUBSCRIBE: a denied retained message is not sent', async (t) => {
  const broker = setup(t, rules().opts)
  const pub = await connect(t, broker, {})
  pub.publish('public/secret/r', 'no', 1, true)
  pub.publish('public/r', 'yes', 1, true)
  await pub.next('puback')
  await pub.next('puback')
  const sub = await connect(t, broker, { username: 'low' })
  await sub.subscribe('public/#', 1)
  const m = await sub.next('publish')
  t.equal(m.topic, 'public/r')
  t.ok(await sub.nothing(50, 'publish'), 'the denied retained message never arrives')
})

t.test('offline queue: a message on a denied subtopic is not queued nor replayed', async (t) => {
  const broker = setup(t, rules().opts)
  const opts = { username: 'low', clientId: 'q', clean: false }
  const sub = await connect(t, broker, opts)
  await sub.subscribe('public/#', 1)
  sub.drop()
  await sub.closed()
  const pub = await connect(t, broker, {})
  pub.publish('public/secret/x', 'no', 1)
  pub.publish('public/x', 'yes', 1)
  await pub.next('puback')
  await pub.next('puback')
  const queued = await broker.store.outgoing('q', Date.now())
  t.same(queued.map((r) => r.message.topic), ['public/x'], 'only the readable message is queued')
  const again = await connect(t, broker, opts)
  t.equal(again.connack.sessionPresent, true)
  const m = await again.next('publish')
  t.equal(m.topic, 'public/x')
  t.ok(await again.nothing(50, 'publish'))
})

t.test('replay: stored messages are decided again for the identity resuming, after the rules change', async (t) => {
  let deny = false
  const broker = setup(t, { authorizeRead: (_c, topic) => !(deny && topic === 'a/denied') })
  const opts = { clientId: 'r', clean: false, username: 'u' }
  const sub = await connect(t, broker, opts)
  await sub.subscribe('a/#', 1)
  sub.drop()
  await sub.closed()
  const pub = await connect(t, broker, {})
  pub.publish('a/denied', '1', 1)
  pub.publish('a/ok', '2', 1)
  await pub.next('puback')
  await pub.next('puback')
  t.equal((await broker.store.outgoing('r', Date.now())).length, 2, 'both queued while allowed')
  deny = true
  broker.invalidateAuthorization()
  const again = await connect(t, broker, opts)
  const m = await again.next('publish')
  t.equal(m.topic, 'a/ok')
  t.ok(await again.nothing(50, 'publish'), 'the message denied since is not replayed')
  await delay(20)
  t.same((await broker.store.outgoing('r', Date.now())).map((r) => r.message.topic), ['a/ok'], 'its record is gone from the store')
})

t.test('resumed in-flight: an unacknowledged message is not resent once denied', async (t) => {
  let deny = false
  const broker = setup(t, { authorizeRead: (_c, topic) => !(deny && topic === 'f/denied') })
  const opts = { clientId: 'inf', clean: false, username: 'u' }
  const sub = await connect(t, broker, opts)
  await sub.subscribe('f/#', 1)
  const pub = await connect(t, broker, {})
  pub.publish('f/denied', '1', 1)
  t.equal((await sub.next('publish')).topic, 'f/denied', 'delivered while allowed, not acknowledged')
  sub.drop()
  await sub.closed()
  deny = true
  broker.invalidateAuthorization()
  const again = await connect(t, broker, opts)
  t.equal(again.connack.sessionPresent, true)
  t.ok(await again.nothing(80, 'publish'), 'not resent')
})

t.test('shared subscription: a member that may not read is passed over', async (t) => {
  const broker = setup(t, rules().opts)
  const low = await connect(t, broker, { username: 'low' })
  const high = await connect(t, broker, { username: 'high' })
  await low.subscribe('$share/g/public/#', 1)
  await high.subscribe('$share/g/public/#', 1)
  const pub = await connect(t, broker, {})
  for (let i = 0; i < 6; i++) pub.publish('public/secret/s', String(i), 1)
  const got: string[] = []
  for (let i = 0; i < 6; i++) got.push((await high.next('publish')).payload.toString())
  t.same(got, ['0', '1', '2', '3', '4', '5'], 'every message goes to the member that may read it')
  t.ok(await low.nothing(50, 'publish'), 'the other member gets none')
})

t.test('shared subscription: nobody in the group may read → nobody gets it', async (t) => {
  const broker = setup(t, rules().opts)
  const low = await connect(t, broker, { username: 'low' })
  await low.subscribe('$share/g/public/#', 1)
  const pub = await connect(t, broker, {})
  pub.publish('public/secret/s', 'x', 1)
  await pub.next('puback')
  t.ok(await low.nothing(50, 'publish'))
})

t.test('wills: a will is delivered only to receivers that may read it', async (t) => {
  const broker = setup(t, rules().opts)
  const low = await connect(t, broker, { username: 'low' })
  const high = await connect(t, broker, { username: 'high' })
  await low.subscribe('public/#', 1)
  await high.subscribe('public/#', 1)
  const c = await connect(t, broker, { will: { topic: 'public/secret/will', payload: Buffer.from('bye'), qos: 1, retain: false } })
  c.drop()
  t.equal((await high.next('publish')).topic, 'public/secret/will')
  t.ok(await low.nothing(50, 'publish'))
})

t.test('wills: a will the client may not publish refuses the CONNECT', async (t) => {
  const broker = setup(t, { authorizePublish: (_c, p) => p.topic !== 'forbidden' })
  const c = await connect(t, broker, { protocolVersion: 5, will: { topic: 'forbidden', payload: Buffer.from('x'), qos: 0, retain: false } })
  t.equal(c.connack.reasonCode, 0x87)
  await c.closed()
  const ok = await connect(t, broker, { protocolVersion: 5, will: { topic: 'allowed', payload: Buffer.from('x'), qos: 0, retain: false } })
  t.equal(ok.connack.reasonCode, 0)
})

t.test('takeover by another username: Session Present 0, no queued messages, old state discarded', async (t) => {
  const broker = setup(t)
  const owner = await connect(t, broker, { clientId: 'shared-id', clean: false, username: 'alice' })
  await owner.subscribe('x/#', 1)
  owner.drop()
  await owner.closed()
  const pub = await connect(t, broker, {})
  pub.publish('x/1', 'for alice', 1)
  await pub.next('puback')
  const thief = await connect(t, broker, { clientId: 'shared-id', clean: false, username: 'mallory' })
  t.equal(thief.connack.sessionPresent, false, 'the session is not inherited')
  t.ok(await thief.nothing(50, 'publish'), 'no queued message reaches the other user')
  t.same(await broker.store.outgoing('shared-id', Date.now()), [], 'the old queue is discarded')
  pub.publish('x/2', 'after', 1)
  t.ok(await thief.nothing(50, 'publish'), 'nor the old subscriptions')
  thief.disconnect()
  await thief.closed()
  const back = await connect(t, broker, { clientId: 'shared-id', clean: false, username: 'alice' })
  t.equal(back.connack.sessionPresent, false, 'the session created by the other user is not the owner\'s either')
})

t.test('takeover of a connected session by another username closes the old connection and starts fresh', async (t) => {
  const broker = setup(t)
  const owner = await connect(t, broker, { protocolVersion: 5, clientId: 'live-id', clean: false, username: 'alice', properties: { sessionExpiryInterval: 60 } })
  await owner.subscribe('y/#', 1)
  const thief = await connect(t, broker, { protocolVersion: 5, clientId: 'live-id', clean: false, username: 'mallory', properties: { sessionExpiryInterval: 60 } })
  t.equal((await owner.next('disconnect')).reasonCode, 0x8E)
  t.equal(thief.connack.sessionPresent, false)
  const pub = await connect(t, broker, {})
  pub.publish('y/1', 'x', 1)
  await pub.next('puback')
  t.ok(await thief.nothing(50, 'publish'), 'the subscription stayed with the discarded session')
})

t.test('the same username resumes its own session', async (t) => {
  const broker = setup(t)
  const opts = { clientId: 'mine', clean: false, username: 'alice' }
  const a = await connect(t, broker, opts)
  await a.subscribe('z', 1)
  a.drop()
  await a.closed()
  const b = await connect(t, broker, opts)
  t.equal(b.connack.sessionPresent, true)
})

t.test('read decisions are cached per (session, topic) and dropped on invalidateAuthorization and reconnect', async (t) => {
  const { calls, opts } = rules()
  const broker = setup(t, opts)
  const sub = await connect(t, broker, { username: 'high', clientId: 'cache', clean: false })
  await sub.subscribe('k', 0)
  const pub = await connect(t, broker, {})
  for (let i = 0; i < 5; i++) pub.publish('k', String(i), 0)
  for (let i = 0; i < 5; i++) await sub.next('publish')
  t.same(calls, ['high:k'], 'asked once for five deliveries')
  broker.invalidateAuthorization()
  pub.publish('k', 'x', 0)
  await sub.next('publish')
  t.same(calls, ['high:k', 'high:k'], 'asked again after invalidation')
  sub.drop()
  await sub.closed()
  const again = await connect(t, broker, { username: 'high', clientId: 'cache', clean: false })
  pub.publish('k', 'y', 0)
  await again.next('publish')
  t.equal(calls.length, 3, 'asked again for the new connection')
})

t.test('a throwing authorizeRead denies the delivery', async (t) => {
  const broker = setup(t, { authorizeRead: () => { throw new Error('backend down') } })
  const sub = await connect(t, broker, {})
  await sub.subscribe('t', 0)
  const pub = await connect(t, broker, {})
  pub.publish('t', 'x', 0)
  t.ok(await sub.nothing(50, 'publish'))
})

t.test('the session owner survives a restart on the same store', async (t) => {
  const { MemoryStore } = await import('../src/index.ts')
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const b1 = setup(t, { store })
  const a = await connect(t, b1, { clientId: 'persist', clean: false, username: 'alice' })
  await a.subscribe('p', 1)
  await b1.close()
  const b2 = setup(t, { store })
  await b2.ready()
  const thief = await connect(t, b2, { clientId: 'persist', clean: false, username: 'mallory' })
  t.equal(thief.connack.sessionPresent, false, 'restored session not inherited by another user')
  thief.disconnect()
  await thief.closed()
  const b3 = setup(t, { store })
  await b3.ready()
  const own = await connect(t, b3, { clientId: 'persist', clean: false, username: 'mallory' })
  t.equal(own.connack.sessionPresent, true, 'the new owner resumes the session it created')
})

t.test('subscriptions kept in a resumed session deliver only what the resuming identity may read now', async (t) => {
  let deny = false
  const broker = setup(t, { authorizeRead: (_c, topic) => !(deny && topic.startsWith('kept/secret')) })
  const opts = { clientId: 'kept', clean: false, username: 'u' }
  const first = await connect(t, broker, opts)
  await first.subscribe('kept/#', 1)
  first.disconnect()
  await first.closed()
  deny = true
  broker.invalidateAuthorization()
  const again = await connect(t, broker, opts)
  t.equal(again.connack.sessionPresent, true, 'the subscription was kept')
  const pub = await connect(t, broker, {})
  pub.publish('kept/secret/1', 'no', 1)
  pub.publish('kept/open', 'yes', 1)
  t.equal((await again.next('publish')).topic, 'kept/open')
  t.ok(await again.nothing(50, 'publish'))
})

t.test('authenticate may allow under another username: later decisions and the session owner use it', async (t) => {
  const seen: Array<string | undefined> = []
  const broker = setup(t, {
    authenticate: () => ({ username: 'from-certificate' }),
    authorizeRead: (client) => { seen.push(client.username); return true }
  })
  const a = await connect(t, broker, { clientId: 'ident', clean: false, username: 'claimed' })
  await a.subscribe('i', 0)
  const pub = await connect(t, broker, {})
  pub.publish('i', 'x', 0)
  await a.next('publish')
  t.ok(seen.length > 0 && seen.every((u) => u === 'from-certificate'), 'authorizeRead sees the established username')
  a.drop()
  await a.closed()
  const again = await connect(t, broker, { clientId: 'ident', clean: false, username: 'someone-else' })
  t.equal(again.connack.sessionPresent, true, 'the session belongs to the established username, whatever CONNECT claims')
})
