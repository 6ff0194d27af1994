/**
 * The operator's log lines for client events, from a real engine over in-memory streams:
 * who (id, user, address with port, IPv6 in brackets, transport, protocol), refusals,
 * sockets that close before CONNECT, errors that end a connection, and disconnect reasons.
 */
import t from 'tap'
import { Duplex } from 'node:stream'
import { Broker } from '@culex/broker'
import { encode, type Packet } from '@culex/packet'
import { logClientEvents } from '../src/client-log.ts'

function pair (): [Duplex, Duplex] {
  const peer: { a: Duplex | null, b: Duplex | null } = { a: null, b: null }
  const make = (other: () => Duplex): Duplex => new Duplex({
    read () {},
    write (chunk, _e, cb) { other().push(chunk); cb() },
    final (cb) { other().push(null); cb() }
  })
  peer.a = make(() => peer.b!)
  peer.b = make(() => peer.a!)
  return [peer.a, peer.b]
}

const tick = (ms = 20): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

t.test('client events are logged once each, with who and where', async (t) => {
  const lines: Array<{ level: string, obj: Record<string, unknown>, msg: string }> = []
  const logger = {
    info: (obj: Record<string, unknown>, msg: string) => { lines.push({ level: 'info', obj, msg }) },
    warn: (obj: Record<string, unknown>, msg: string) => { lines.push({ level: 'warn', obj, msg }) }
  }
  const broker = new Broker({ sysInterval: 0, authenticate: (_c, username) => username !== 'bad' })
  t.teardown(() => broker.close())
  logClientEvents(broker, logger as never)

  // connected over IPv6, then a normal DISCONNECT
  const [s1, c1] = pair()
  broker.handle(s1, { transport: 'tcp', remoteAddress: '::1', remotePort: 5000 })
  c1.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'v6', clean: true, keepalive: 0, username: 'alice' } as Packet, 5))
  await tick()
  c1.write(encode({ cmd: 'disconnect', reasonCode: 0 } as Packet, 5))
  await tick()
  // refused by authenticate
  const [s2, c2] = pair()
  broker.handle(s2, { transport: 'tls', remoteAddress: '10.0.0.1', remotePort: 7 })
  c2.write(encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'nope', clean: true, keepalive: 0, username: 'bad', password: Buffer.from('x') } as Packet, 4))
  await tick()
  // a protocol error after CONNECT (a second CONNECT) ends the connection
  const [s3, c3] = pair()
  broker.handle(s3, { transport: 'ws', remoteAddress: '127.0.0.1' })
  const connect3 = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'twice', clean: true, keepalive: 0 } as Packet, 4)
  c3.write(connect3)
  await tick()
  c3.write(connect3)
  await tick()

  const connected = lines.find((l) => l.msg === 'client connected' && l.obj.clientId === 'v6')
  t.match(connected?.obj, { username: 'alice', remote: '[::1]:5000', transport: 'tcp', protocol: '5.0' }, 'an IPv6 address is bracketed, with its port')
  t.match(lines.find((l) => l.msg === 'client disconnected' && l.obj.clientId === 'v6')?.obj, { reasonCode: '0x00' }, 'a normal disconnect is logged with its reason code')
  const refused = lines.find((l) => l.msg === 'authentication failed')
  t.match(refused, { level: 'warn', obj: { clientId: 'nope', username: 'bad', remote: '10.0.0.1:7', transport: 'tls', protocol: '3.1.1' } }, 'a refused CONNECT is a warning naming who and where')
  const ended = lines.filter((l) => l.obj.clientId === 'twice' && l.msg === 'client disconnected')
  t.equal(ended.length, 1, 'the connection that broke the protocol is logged once')
  t.match(ended[0]?.obj, { remote: '127.0.0.1', code: 'BROKER_ERR_SECOND_CONNECT' }, 'with the error that ended it (and an address without a port as is)')
})
