import t from 'tap'
import { LocalBus } from '../src/index.ts'

t.test('LocalBus is a bus of one node', async (t) => {
  const bus = new LocalBus('n1')
  t.equal(bus.nodeId, 'n1')
  bus.onMessage(() => t.fail('never called'))
  bus.onNodeDead(() => t.fail('never called: no other node can die'))
  await bus.send({ type: 'alive', nodeId: 'n1', at: 1 })
  t.same(await bus.aliveNodes(), ['n1'])
  await t.rejects(bus.sendTo('n2', { type: 'released', nodeId: 'n1', clientId: 'c', epoch: 1 }), /no node "n2"/, 'sendTo: there is no other node')
  t.equal(await bus.adopt('n2', () => t.fail('never called')), 0, 'adopt: nothing is left for another node')
  t.ok(new LocalBus().nodeId.length > 0, 'random id by default')
  // shared groups: a lone node serves every group itself
  bus.setShare('$share/g/t/#', 1, 1)
  t.equal(bus.pickShares('t/1'), null, 'no group is served elsewhere')
  t.equal(bus.pickShare('$share/g/t/#', 'n1'), null, 'no other node')
  await bus.close()
  await t.rejects(bus.send({ type: 'alive', nodeId: 'n1', at: 2 }))
})
