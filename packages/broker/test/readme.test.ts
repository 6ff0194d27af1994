import t from 'tap'
import net from 'node:net'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import mqtt from 'mqtt'
import { registryFrom } from '@culex/errors'
import { checkErrorTable } from '@culex/errors/readme-table'
import { Broker, BrokerErrorCodes, isBrokerError, BrokerError } from '../src/index.ts'

t.test('README example: embed with net.createServer and talk to it with MQTT.js (3.1.1 and 5.0)', async (t) => {
  const broker = new Broker()
  const server = net.createServer((socket) => broker.handle(socket))
  server.listen(0)
  await once(server, 'listening')
  t.teardown(async () => {
    await broker.close()
    server.close()
  })
  const port = (server.address() as net.AddressInfo).port
  for (const protocolVersion of [4, 5] as const) {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion, connectTimeout: 2000, reconnectPeriod: 0 })
    await client.subscribeAsync('hello/#', { qos: 1 })
    const got = new Promise<[string, Buffer]>((resolve) => client.once('message', (topic: string, payload: Buffer) => resolve([topic, payload])))
    await client.publishAsync('hello/world', 'hi', { qos: 1 })
    const [topic, payload] = await got
    t.equal(topic, 'hello/world')
    t.equal(payload.toString(), 'hi')
    await client.endAsync()
  }
})

t.test('every error code is in the README errors table and vice versa', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  checkErrorTable(t, readme, BrokerError.registry)
  t.same(BrokerError.registry, registryFrom(BrokerErrorCodes), 'the registry is BrokerErrorCodes')
  const err = new BrokerError('BROKER_ERR_PROTOCOL', 'x')
  t.equal(err.reasonCode, 0x82)
  t.ok(isBrokerError(err))
  t.ok(err instanceof BrokerError)
  t.notOk(isBrokerError(new Error('x')))
  t.ok(isBrokerError(Object.assign(new Error('x'), { code: 'BROKER_ERR_HOOK', [Symbol.for('culex.error')]: 'BrokerError' })), 'a BrokerError of another copy')
  t.notOk(Object.assign(new Error('x'), { code: 'BROKER_ERR_HOOK', [Symbol.for('culex.error')]: 'PacketError' }) instanceof BrokerError, 'another class')
  t.equal(new BrokerError('BROKER_ERR_HOOK', 'y', { reasonCode: 0x99 }).reasonCode, 0x99)
})
