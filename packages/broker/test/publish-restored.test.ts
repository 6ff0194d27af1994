import t from 'tap'
import { MemoryStore } from '../src/index.ts'
import { connect, setup } from './helper.ts'

t.test('a QoS 2 PUBLISH by topic alias from a session restored after a restart is authorized on its resolved topic', async (t) => {
  const store = new MemoryStore()
  const b1 = setup(t, { store })
  const p1 = await connect(t, b1, { clientId: 'alias-pub', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  p1.disconnect()
  await p1.closed()
  await b1.close()
  const topics: string[] = []
  const b2 = setup(t, {
    store,
    authorizePublish: (_c, p) => {
      topics.push(p.topic)
      return p.topic.startsWith('ok/')
    }
  })
  await b2.ready()
  const sub = await connect(t, b2, {})
  await sub.subscribe('ok/#', 2)
  const p2 = await connect(t, b2, { clientId: 'alias-pub', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  t.equal(p2.connack.sessionPresent, true)
  p2.publish('ok/a', 'sets the alias', 0, false, { properties: { topicAlias: 1 } })
  t.equal((await sub.next('publish')).payload.toString(), 'sets the alias')
  // the first QoS 2 of a restored session checks the store for its packet id first
  const id = p2.publish('', 'by alias', 2, false, { properties: { topicAlias: 1 } })
  const rec = await p2.next('pubrec')
  t.equal(rec.reasonCode ?? 0, 0, 'authorized')
  p2.send({ cmd: 'pubrel', messageId: id })
  await p2.next('pubcomp')
  const m = await sub.next('publish')
  t.same([m.topic, m.payload.toString()], ['ok/a', 'by alias'])
  t.same(topics, ['ok/a', 'ok/a'], 'the hook saw the resolved topic both times')
})
