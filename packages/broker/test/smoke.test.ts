import t from 'tap'
import { connect, setup } from './helper.ts'

t.test('connect, subscribe, publish qos 0/1/2 round trip (3.1.1 and 5.0)', async (t) => {
  const broker = setup(t)
  for (const v of [4, 5] as const) {
    const sub = await connect(t, broker, { protocolVersion: v })
    t.equal(v === 5 ? sub.connack.reasonCode : sub.connack.returnCode, 0)
    const ack = await sub.subscribe('a/+', 2)
    t.same(ack.granted, [2])
    const pub = await connect(t, broker, { protocolVersion: v })
    pub.publish('a/b', 'q0', 0)
    t.equal((await sub.next('publish')).payload.toString(), 'q0')
    const id1 = pub.publish('a/b', 'q1', 1)
    t.equal((await pub.next('puback')).messageId, id1)
    const m1 = await sub.next('publish')
    t.equal(m1.qos, 1)
    sub.send({ cmd: 'puback', messageId: m1.messageId })
    const id2 = pub.publish('a/b', 'q2', 2)
    t.equal((await pub.next('pubrec')).messageId, id2)
    pub.send({ cmd: 'pubrel', messageId: id2 })
    t.equal((await pub.next('pubcomp')).messageId, id2)
    const m2 = await sub.next('publish')
    t.equal(m2.qos, 2)
    sub.send({ cmd: 'pubrec', messageId: m2.messageId })
    t.equal((await sub.next('pubrel')).messageId, m2.messageId)
    sub.send({ cmd: 'pubcomp', messageId: m2.messageId })
  }
})
