import t from 'tap'
import { setup, TestClient } from './helper.ts'

t.test('[MQTT-4.12.1] AUTH 0x18 from a connected client is a protocol error unless a re-authentication is in progress', async (t) => {
  const steps: string[] = []
  const broker = setup(t, {
    authenticateEnhanced: (_c, req) => {
      steps.push(`${req.step}:${req.data?.toString() ?? ''}`)
      if (req.step === 'reauthenticate') return { reasonCode: 0x18, data: Buffer.from('challenge') }
      return { reasonCode: 0 }
    }
  })
  const start = async (clientId: string): Promise<TestClient> => {
    const c = new TestClient(broker, 5)
    t.teardown(() => { c.stream.destroy() })
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId, clean: true, keepalive: 0, properties: { authenticationMethod: 'X' } })
    t.equal((await c.next('connack')).reasonCode, 0)
    return c
  }
  const a = await start('a')
  a.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('out of the blue') } })
  t.equal((await a.next('disconnect')).reasonCode, 0x82)
  t.same(steps, ['connect:'], 'the hook was not asked to continue an exchange that never started')

  const b = await start('b')
  b.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('again') } })
  t.equal((await b.next('auth')).reasonCode, 0x18, 'the hook continues the re-authentication')
  b.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('answer') } })
  t.equal((await b.next('auth')).reasonCode, 0, 're-authenticated')
  b.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X', authenticationData: Buffer.from('late') } })
  t.equal((await b.next('disconnect')).reasonCode, 0x82, 'no re-authentication in progress any more')
  t.same(steps, ['connect:', 'connect:', 'reauthenticate:again', 'continue:answer'])
})
