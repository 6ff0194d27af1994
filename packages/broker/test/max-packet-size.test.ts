import t from 'tap'
import { connect, setup, TestClient } from './helper.ts'

// The broker's CONNACK and DISCONNECT leave out the Reason String and User Properties when
// they would make the packet larger than the client's Maximum Packet Size.

t.test('[MQTT-3.14.2-3] a server DISCONNECT drops its Reason String beyond the client\'s Maximum Packet Size', async (t) => {
  const broker = setup(t)
  const small = await connect(t, broker, { protocolVersion: 5, properties: { maximumPacketSize: 20 } })
  // a second CONNECT: DISCONNECT 0x82 with a 14-character reason string (21 bytes)
  small.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'again', clean: true, keepalive: 0 })
  const d = await small.next('disconnect')
  t.equal(d.reasonCode, 0x82)
  t.equal(d.properties?.reasonString, undefined, 'no reason string')
  t.ok(d.length + 2 <= 20, 'within the Maximum Packet Size')
  const roomy = await connect(t, broker, { protocolVersion: 5, properties: { maximumPacketSize: 100 } })
  roomy.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'again2', clean: true, keepalive: 0 })
  t.equal((await roomy.next('disconnect')).properties?.reasonString, 'second CONNECT', 'kept when it fits')
})

t.test('[MQTT-3.1.2-24] a refusing CONNACK drops its Reason String beyond the client\'s Maximum Packet Size', async (t) => {
  const broker = setup(t, { preConnect: () => ({ reasonCode: 0x87, reasonString: 'x'.repeat(60) }) })
  const refused = async (maximumPacketSize: number): Promise<Record<string, any>> => {
    const c = new TestClient(broker, 5)
    t.teardown(() => { c.stream.destroy() })
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `r${maximumPacketSize}`, clean: true, keepalive: 0, properties: { maximumPacketSize } })
    return await c.next('connack')
  }
  const small = await refused(40)
  t.equal(small.reasonCode, 0x87)
  t.equal(small.properties?.reasonString, undefined, 'no reason string')
  t.ok(small.length + 2 <= 40, 'within the Maximum Packet Size')
  t.equal((await refused(200)).properties?.reasonString, 'x'.repeat(60), 'kept when it fits')
})
