import t from 'tap'
import { Broker, type Bus, type BusMessage } from '../src/index.ts'
import { connect, delay } from './helper.ts'

/** Two in-process nodes joined by a real Bus implementation that hands messages across. */
function pairBus (): [Bus, Bus] {
  const handlers: Array<(m: BusMessage) => void> = []
  const make = (nodeId: string, peer: number): Bus => ({
    nodeId,
    async send (message) { setImmediate(() => handlers[peer]?.(message)) },
    onMessage (handler) { handlers[peer === 1 ? 0 : 1] = handler },
    async aliveNodes () { return ['a', 'b'] },
    async close () {}
  })
  return [make('a', 1), make('b', 0)]
}

t.test('a message published on one node reaches subscribers on the other; takeover crosses nodes', async (t) => {
  const [busA, busB] = pairBus()
  const a = new Broker({ bus: busA, sysInterval: 0 })
  const b = new Broker({ bus: busB, sysInterval: 0 })
  t.teardown(async () => { await a.close(); await b.close() })
  t.equal(a.id, 'a')
  const subB = await connect(t, b, { clientId: 'x', protocolVersion: 5 })
  await subB.subscribe('c/#', 1)
  const pubA = await connect(t, a, {})
  pubA.publish('c/1', 'across', 1)
  await pubA.next('puback')
  const m = await subB.next('publish')
  t.equal(m.payload.toString(), 'across')
  await connect(t, a, { clientId: 'x' })
  t.equal((await subB.next('disconnect')).reasonCode, 0x8E)
  await delay(10)
})
