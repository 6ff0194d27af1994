/**
 * The engine's side of cluster-wide shared subscriptions, against a scripted Bus (the Redis
 * side is tested in @culex/store-redis: bus.test.ts, shared-cluster.test.ts): what the
 * broker reports with setShare, how it follows the picks of pickShares on publish and from
 * the bus, and where a message goes when its member drops or its group is gone.
 */
import t from 'tap'
import { Broker, type Bus, type BusMessage, type SharePick } from '../src/index.ts'
import { connect, delay } from './helper.ts'

/** A bus whose picks the test decides; it records what the broker tells and sends. */
function scriptedBus (nodeId = 'me') {
  const shares: string[] = []
  const sent: BusMessage[] = []
  let handler: (m: BusMessage) => void = () => {}
  const state = {
    picks: null as SharePick[] | null,
    other: null as string | null
  }
  const bus: Bus & Required<Pick<Bus, 'setShare' | 'pickShares' | 'pickShare' | 'interested'>> = {
    nodeId,
    async send (message) { sent.push(message) },
    onMessage (h) { handler = h },
    async aliveNodes () { return [nodeId] },
    async close () {},
    interested () { return false },
    setShare (share, online, total) { shares.push(`${share} ${online}/${total}`) },
    pickShares () { return state.picks === null ? null : state.picks.map((p) => [...p] as SharePick) },
    pickShare (_share, exclude) { return state.other === exclude ? null : state.other }
  }
  return { bus, shares, sent, state, deliver: (m: BusMessage) => { handler(m) } }
}

const G = '$share/g/s/#'

t.test('the broker reports each group\'s members on this node, connected and all', async (t) => {
  const r = scriptedBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0 })
  t.teardown(() => b.close())
  const m1 = await connect(t, b, { clientId: 'm1', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  await m1.subscribe(G, 1)
  const m2 = await connect(t, b, { clientId: 'm2', protocolVersion: 5 })
  await m2.subscribe(G, 1)
  await m2.subscribe('plain/#', 1)
  m1.drop()
  await delay(30)
  m2.send({ cmd: 'unsubscribe', messageId: 7, unsubscriptions: [G] })
  await m2.next('unsuback')
  await connect(t, b, { clientId: 'm1', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 60 } })
  t.same(r.shares, [`${G} 1/1`, `${G} 2/2`, `${G} 1/2`, `${G} 0/1`, `${G} 1/1`], 'subscribe, second member, a drop (offline member kept), unsubscribe, reconnect')
})

t.test('publish: the broker serves only the groups picked for it and sends the picks with the message', async (t) => {
  const r = scriptedBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0 })
  t.teardown(() => b.close())
  const member = await connect(t, b, { clientId: 'member', protocolVersion: 5 })
  await member.subscribe(G, 1)
  const pub = await connect(t, b, { clientId: 'pub' })
  r.state.picks = [[G, 'other']]
  pub.publish('s/1', 'elsewhere', 1)
  await pub.next('puback')
  t.ok(await member.nothing(50, 'publish'), 'picked for another node: not served here')
  const publishes = (): BusMessage[] => r.sent.filter((m) => m.type === 'publish')
  t.same(publishes().map((m) => m.type === 'publish' ? [m.message.topic, m.shares] : null), [['s/1', [[G, 'other']]]], 'sent with its picks though no route wants it')
  r.state.picks = [[G, 'me']]
  pub.publish('s/2', 'here', 1)
  await pub.next('puback')
  t.equal((await member.next('publish')).payload.toString(), 'here', 'picked for this node: a member here gets it')
  t.equal(publishes().length, 1, 'nothing sent when every pick is this node and no route wants it')
  r.state.picks = null
  pub.publish('s/3', 'no groups known', 1)
  await pub.next('puback')
  t.equal((await member.next('publish')).payload.toString(), 'no groups known', 'no picks: served here as on one node')
})

t.test('from the bus: a publish serves the groups picked for this node; a shared message its group only', async (t) => {
  const r = scriptedBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0 })
  t.teardown(() => b.close())
  const member = await connect(t, b, { clientId: 'member', protocolVersion: 5 })
  await member.subscribe(G, 1)
  await member.subscribe('s/plain', 1)
  const message = (topic: string, payload: string) => ({ topic, payload: Buffer.from(payload), qos: 1 as const, retain: false })
  r.deliver({ type: 'publish', nodeId: 'other', message: message('s/x', 'not mine'), shares: [[G, 'third']] })
  t.ok(await member.nothing(50, 'publish'), 'a group picked for another node is skipped')
  r.deliver({ type: 'publish', nodeId: 'other', message: message('s/x', 'mine'), shares: [[G, 'me'], ['$share/h/s/#', 'me']] })
  t.equal((await member.next('publish')).payload.toString(), 'mine', 'a group picked for this node is served')
  r.deliver({ type: 'shared', nodeId: 'other', message: message('s/plain', 'redo'), shares: [[G, 'me']] })
  const redo = await member.next('publish')
  t.equal(redo.payload.toString(), 'redo', 'a shared message goes to the group')
  t.ok(await member.nothing(50, 'publish'), 'and only to the group (not to the plain subscription on the same topic)')
  t.equal(b.stats.publishDropped, 1, 'the group $share/h is not here, nor elsewhere: counted as dropped')
})

t.test('a member drops with QoS 1 unacknowledged and none is left here: the message goes to another node', async (t) => {
  const r = scriptedBus()
  const b = new Broker({ bus: r.bus, sysInterval: 0 })
  t.teardown(() => b.close())
  const member = await connect(t, b, { clientId: 'member', protocolVersion: 5 })
  await member.subscribe(G, 1)
  r.state.picks = [[G, 'me']]
  r.state.other = 'other'
  await b.publish({ topic: 's/1', payload: 'held', qos: 1 })
  t.equal((await member.next('publish')).payload.toString(), 'held')
  member.drop()
  await delay(30)
  const shared = r.sent.filter((m) => m.type === 'shared')
  t.same(shared.map((m) => m.type === 'shared' ? [m.message.payload.toString(), m.message.qos, m.shares] : null), [['held', 1, [[G, 'other']]]], 'handed to the other node\'s members')
  // the group is gone here now: a message picked for this node goes elsewhere, once
  await b.publish({ topic: 's/2', payload: 'gone', qos: 1 })
  t.same(r.sent.filter((m) => m.type === 'shared').map((m) => m.message.payload.toString()), ['held', 'gone'], 'a pick for a group gone from this node is passed on')
  r.deliver({ type: 'shared', nodeId: 'other', message: { topic: 's/3', payload: Buffer.from('back'), qos: 1, retain: false }, shares: [[G, 'me']] })
  await delay(10)
  t.equal(r.sent.filter((m) => m.type === 'shared').length, 2, 'a redistributed message is not passed on again')
  t.equal(b.stats.publishDropped, 1, 'it is counted as dropped')
})
