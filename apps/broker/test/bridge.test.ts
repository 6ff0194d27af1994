/**
 * Bridges (`bridges:` in the config file) between the real `culex` process and a real
 * Mosquitto: config validation, both directions over MQTT 5 and 3.1.1 (TCP and WebSocket),
 * loop prevention, $SYS state and metrics, and a Mosquitto stopped and restarted during
 * QoS 1 traffic both ways with nothing acknowledged lost.
 */
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseConfigText } from '../src/config.ts'
import { isAppError } from '../src/errors.ts'
import { startCulex, runCulex, tempDir, type Culex } from './helpers/culex.ts'
import { startMosquitto, mosquittoMissing, freePort } from './helpers/mosquitto.ts'
import { request } from './helpers/http.ts'
import { startInProcess } from './helpers/in-process.ts'
import { client, until, collect } from './helpers/bridge.ts'

const TOKEN = 'bridge-test-token-0123456789'

async function startBridged (t: Parameters<typeof tempDir>[0], bridges: unknown[], inProcess = false): Promise<Pick<Culex, 'logs'> & { ports: Partial<Culex['ports']> }> {
  const dir = tempDir(t)
  const file = join(dir, 'culex.json')
  writeFileSync(file, JSON.stringify({ bridges }))
  const args = ['--config', file, '--http-port', '0', '--http-token', TOKEN]
  // in the test's own process, so the bridge's code counts toward the app's coverage
  if (inProcess) return await startInProcess(t, args, dir)
  return await startCulex(t, args)
}

t.test('bad bridge config: CULEX_ERR_BRIDGE naming the option and what was expected', async (t) => {
  const rows: Array<[string, unknown, RegExp]> = [
    ['not a list', 'x', /key "bridges": expected a list of bridges/],
    ['no url', [{ name: 'a', topics: ['x/#'] }], /"bridges"\[0\]\.url: expected a non-empty string/],
    ['bad name', [{ name: 'a b', url: 'mqtt://h', topics: ['x/#'] }], /\[0\]\.name: expected letters, digits/],
    ['same name twice', [{ name: 'a', url: 'mqtt://h', topics: ['x/#'] }, { name: 'a', url: 'mqtt://h', topics: ['x/#'] }], /\[1\]\.name: expected a name no other bridge has/],
    ['not a URL', [{ name: 'a', url: 'not a url', topics: ['x/#'] }], /\[0\]\.url: expected a URL/],
    ['keepalive not an integer', [{ name: 'a', url: 'mqtt://h', keepalive: 1.5, topics: ['x/#'] }], /\[0\]\.keepalive: expected an integer from/],
    ['http url', [{ name: 'a', url: 'http://h', topics: ['x/#'] }], /\[0\]\.url: expected a URL mqtt:\/\/host:port, mqtts:\/\/, ws:\/\/ or wss:\/\//],
    ['protocol 3', [{ name: 'a', url: 'mqtt://h', protocolVersion: 3, topics: ['x/#'] }], /\[0\]\.protocolVersion: expected 4 \(MQTT 3\.1\.1\) or 5 \(MQTT 5\.0\), got 3/],
    ['direction', [{ name: 'a', url: 'mqtt://h', topics: [{ pattern: 'x', direction: 'sideways' }] }], /\[0\]\.topics\[0\]\.direction: expected in, out or both, got "sideways"/],
    ['qos 3', [{ name: 'a', url: 'mqtt://h', topics: [{ pattern: 'x', qos: 3 }] }], /\[0\]\.topics\[0\]\.qos: expected 0, 1 or 2, got 3/],
    ['bad filter', [{ name: 'a', url: 'mqtt://h', topics: [{ pattern: 'a/#/b' }] }], /\[0\]\.topics\[0\]\.pattern: expected a valid topic filter/],
    ['wildcard prefix', [{ name: 'a', url: 'mqtt://h', topics: [{ pattern: 'x', localPrefix: 'a/+/' }] }], /\[0\]\.topics\[0\]\.localPrefix: expected a topic prefix without wildcards/],
    ['no topics', [{ name: 'a', url: 'mqtt://h', topics: [] }], /\[0\]\.topics: expected a non-empty list/],
    ['unknown key', [{ name: 'a', url: 'mqtt://h', colour: 'red', topics: ['x'] }], /\[0\]\.colour: expected one of the keys name, url/],
    ['same name', [{ name: 'a', url: 'mqtt://h', topics: ['x'] }, { name: 'a', url: 'mqtt://h', topics: ['x'] }], /\[1\]\.name: expected a name no other bridge has/],
    ['bad name', [{ name: 'a b', url: 'mqtt://h', topics: ['x'] }], /\[0\]\.name: expected letters, digits/],
    ['cert without key', [{ name: 'a', url: 'mqtts://h', tls: { cert: 'c.pem' }, topics: ['x'] }], /\[0\]\.tls: expected both cert and key, or neither/],
    ['keepalive', [{ name: 'a', url: 'mqtt://h', keepalive: -1, topics: ['x'] }], /\[0\]\.keepalive: expected an integer from 0 to 65535, got -1/]
  ]
  for (const [name, bridges, message] of rows) {
    let err: unknown
    try {
      parseConfigText(JSON.stringify({ bridges }), 'c.json')
    } catch (e) {
      err = e
    }
    t.ok(isAppError(err) && err.code === 'CULEX_ERR_BRIDGE' && err.option === 'bridges', `${name}: CULEX_ERR_BRIDGE`)
    t.match((err as Error).message, message, name)
  }
  const ok = parseConfigText('bridges:\n  - name: up\n    url: mqtt://h:1883\n    topics:\n      - pattern: a/#\n        direction: both\n        local-prefix: l/\n', 'c.yaml')
  t.match(ok.bridges, [{ name: 'up', protocolVersion: 5, clientId: 'culex-bridge-up', queueLimit: 10000, topics: [{ pattern: 'a/#', direction: 'both', qos: 1, localPrefix: 'l/', remotePrefix: '' }] }], 'defaults; kebab-case keys')

  const dir = tempDir(t)
  writeFileSync(join(dir, 'bad.yaml'), 'bridges:\n  - name: b\n    url: mqtt://127.0.0.1:1\n    topics: [{ pattern: x, direction: sideways }]\n')
  const bad = await runCulex(['--config', join(dir, 'bad.yaml'), '--port', '0', '--store', 'memory'])
  t.equal(bad.code, 2, 'the CLI exits with 2')
  t.match(bad.stderr, /"bridges"\[0\]\.topics\[0\]\.direction: expected in, out or both/)
  writeFileSync(join(dir, 'tls.yaml'), 'bridges:\n  - name: b\n    url: mqtts://127.0.0.1:1\n    tls: { ca: missing-ca.pem }\n    topics: [x]\n')
  const tls = await runCulex(['--config', join(dir, 'tls.yaml'), '--port', '0', '--store', 'memory'], { cwd: dir })
  t.equal(tls.code, 2, 'an unreadable TLS file exits with 2')
  t.match(tls.stderr, /bridge b tls\.ca: expected a readable PEM file, got .*missing-ca\.pem \(ENOENT\)/)
})

const cases: Array<{ version: 4 | 5, scheme: 'mqtt' | 'ws', inProcess?: boolean }> = [{ version: 5, scheme: 'mqtt' }, { version: 4, scheme: 'mqtt' }, { version: 5, scheme: 'ws' }, { version: 5, scheme: 'mqtt', inProcess: true }]
for (const { version, scheme, inProcess } of cases) {
  t.test(`both directions with Mosquitto (MQTT ${version === 5 ? '5' : '3.1.1'} over ${scheme}${inProcess === true ? ', culex in process' : ''}): prefixes, no loops, $SYS state, metrics`, { skip: mosquittoMissing }, async (t) => {
    const mosq = await startMosquitto(t)
    const url = scheme === 'mqtt' ? `mqtt://127.0.0.1:${mosq.port}` : `ws://127.0.0.1:${mosq.wsPort}`
    const topics: unknown[] = [
      { pattern: 'out/#', direction: 'out', qos: 1, remotePrefix: 'site1/' },
      { pattern: 'in/#', direction: 'in', qos: 1, localPrefix: 'remote/' }
    ]
    // 3.1.1 has no No Local: a `both` mapping with the same prefixes would echo once
    // and an out mapping whose remote topics an in mapping also covers
    if (version === 5) topics.push({ pattern: 'both/#', direction: 'both', qos: 1 }, { pattern: 'ov/#', direction: 'out', qos: 1 }, { pattern: 'ov/#', direction: 'in', qos: 1 })
    const remote = await client(t, `mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5 })
    const remoteGot = collect(remote)
    await remote.subscribe(['site1/#', 'both/#', 'in/#'], { qos: 1 })

    const culex = await startBridged(t, [{ name: 'mosq', url, protocolVersion: version, topics }], inProcess)
    const local = await client(t, `mqtt://127.0.0.1:${culex.ports.mqtt}`)
    const localGot = collect(local)
    await local.subscribe(['remote/#', 'both/#', '$SYS/broker/bridges/+/state', 'out/#', 'ov/#'], { qos: 1 })
    await until(() => localGot.some(m => m.topic === '$SYS/broker/bridges/mosq/state' && m.payload.toString() === '1'), 10_000, 'the bridge state 1')
    t.pass('$SYS/broker/bridges/mosq/state is 1 once connected')

    await local.publish('out/a', 'to-remote', { qos: 1 })
    await until(() => remoteGot.some(m => m.topic === 'site1/out/a'), 5000, 'site1/out/a at the remote')
    t.equal(remoteGot.find(m => m.topic === 'site1/out/a')!.payload.toString(), 'to-remote', 'out: local out/a reaches the remote as site1/out/a')

    // the bridge subscribed remotely only after connecting: wait until its subscription is in
    for (let i = 0; !localGot.some(m => m.topic === 'remote/in/x'); i++) {
      if (i > 100) throw new Error('remote/in/x never arrived')
      await remote.publish('in/x', 'to-local', { qos: 1 })
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    t.equal(localGot.find(m => m.topic === 'remote/in/x')!.payload.toString(), 'to-local', 'in: remote in/x reaches local as remote/in/x')
    t.notOk(remoteGot.some(m => m.topic === 'site1/remote/in/x' || m.topic === 'remote/in/x'), 'in-mapped messages are not sent back out')

    if (version === 5) {
      localGot.length = 0
      remoteGot.length = 0
      await local.publish('both/l', 'from-local', { qos: 1 })
      await local.publish('ov/l', 'overlap', { qos: 1 })
      await remote.publish('both/r', 'from-remote', { qos: 1 })
      await until(() => remoteGot.some(m => m.topic === 'both/l') && localGot.some(m => m.topic === 'both/r'), 5000, 'both ways')
      await new Promise((resolve) => setTimeout(resolve, 300)) // room for an echo to show up
      t.equal(remoteGot.filter(m => m.topic === 'both/l').length, 1, 'both: local → remote once')
      t.equal(remoteGot.filter(m => m.topic === 'both/r').length, 1, 'both: the remote\'s own message is not echoed back to it')
      t.equal(localGot.filter(m => m.topic === 'both/r').length, 1, 'both: remote → local once')
      t.equal(localGot.filter(m => m.topic === 'both/l').length, 1, 'both: the local message does not come back in (No Local)')
      t.equal(localGot.filter(m => m.topic === 'ov/l').length, 1, 'out overlapped by in: the message does not come back in (No Local)')
    }

    const metrics = await request(culex.ports.http!, '/metrics', { auth: `Bearer ${TOKEN}` })
    t.equal(metrics.status, 200)
    t.match(metrics.body, /culex_bridge_connected\{bridge="mosq"\} 1/)
    t.match(metrics.body, /culex_bridge_messages_total\{bridge="mosq",direction="out"\} [1-9]/)
    t.match(metrics.body, /culex_bridge_messages_total\{bridge="mosq",direction="in"\} [1-9]/)
    t.match(metrics.body, /culex_bridge_connects_total\{bridge="mosq"\} 1/)

    localGot.length = 0
    await mosq.stop()
    await until(() => localGot.some(m => m.topic === '$SYS/broker/bridges/mosq/state' && m.payload.toString() === '0'), 10_000, 'the bridge state 0')
    t.pass('$SYS state goes to 0 when the remote is gone')
    t.match((await request(culex.ports.http!, '/metrics', { auth: `Bearer ${TOKEN}` })).body, /culex_bridge_connected\{bridge="mosq"\} 0/)
    t.ok(culex.logs.some(l => l.bridge === 'mosq' && /disconnected, reconnecting/.test(String(l.msg))), 'the disconnection is logged')
  })
}

t.test('Mosquitto stopped and restarted during QoS 1 traffic both ways: nothing acknowledged lost', { skip: mosquittoMissing }, async (t) => {
  const N = 600
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  // the remote side's subscriber and publisher keep persistent sessions too
  const remoteSub = await client(t, murl, { clientId: 'remote-sub', clean: false, properties: { sessionExpiryInterval: 3600 } })
  const remoteSeen = new Set<number>()
  remoteSub.on('message', (m) => { if (m.topic.startsWith('site/up/')) remoteSeen.add(Number(m.payload.toString())) })
  await remoteSub.subscribe('site/up/#', { qos: 1 })

  const culex = await startBridged(t, [{
    name: 'r',
    url: murl,
    protocolVersion: 5,
    // the bridge comes back later than the remote publisher: what arrives meanwhile must wait
    // in the bridge's persistent session on the remote
    reconnect: { initialDelay: 1500, maxDelay: 2000 },
    topics: [
      { pattern: 'up/#', direction: 'out', qos: 1, remotePrefix: 'site/' },
      { pattern: 'down/#', direction: 'in', qos: 1, localPrefix: 'hq/' }
    ]
  }])
  const lurl = `mqtt://127.0.0.1:${culex.ports.mqtt}`
  const localSub = await client(t, lurl)
  const localSeen = new Set<number>()
  let bridgeUp = false
  localSub.on('message', (m) => {
    if (m.topic.startsWith('hq/down/') && m.topic !== 'hq/down/probe') localSeen.add(Number(m.payload.toString()))
    if (m.topic === '$SYS/broker/bridges/r/state') bridgeUp = m.payload.toString() === '1'
  })
  await localSub.subscribe(['hq/down/#', '$SYS/broker/bridges/r/state'], { qos: 1 })
  await until(() => bridgeUp, 10_000, 'the bridge to connect')
  const remotePub = await client(t, murl, { clientId: 'remote-pub', clean: false, properties: { sessionExpiryInterval: 3600 } })
  // the bridge subscribes remotely right after CONNACK: a probe shows the subscription is in
  const probed = { seen: false }
  localSub.on('message', (m) => { if (m.topic === 'hq/down/probe') probed.seen = true })
  for (let i = 0; !probed.seen; i++) {
    if (i > 100) throw new Error('the probe never came through the bridge')
    await remotePub.publish('down/probe', 'probe', { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const localPub = await client(t, lurl)

  const ackedUp = new Set<number>()
  const ackedDown = new Set<number>()
  let restarted = false
  const send = async (i: number): Promise<void> => {
    await Promise.all([
      localPub.publish(`up/${i % 7}`, String(i), { qos: 1 }).then(() => { ackedUp.add(i) }),
      remotePub.publish(`down/${i % 5}`, String(i), { qos: 1 }).then(() => { ackedDown.add(i) })
    ])
  }
  const traffic = (async () => {
    const inflight: Array<Promise<void>> = []
    for (let i = 0; i < N; i++) {
      inflight.push(send(i))
      if (inflight.length >= 20) await inflight.shift()
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    await Promise.all(inflight)
  })()
  await until(() => ackedUp.size > N / 4 && ackedDown.size > N / 4, 20_000, 'a quarter of the traffic')
  await mosq.stop()
  t.comment(`Mosquitto stopped after ${ackedUp.size} up / ${ackedDown.size} down acknowledged`)
  await new Promise((resolve) => setTimeout(resolve, 700))
  await mosq.start()
  restarted = true
  await traffic
  t.ok(restarted)
  t.equal(ackedUp.size, N, 'every local publish was acknowledged by culex')
  t.equal(ackedDown.size, N, 'every remote publish was acknowledged by Mosquitto')
  await until(() => remoteSeen.size === N && localSeen.size === N, 30_000, `all messages (remote has ${remoteSeen.size}, local ${localSeen.size})`).catch(() => {})
  const missingUp = [...ackedUp].filter(i => !remoteSeen.has(i))
  const missingDown = [...ackedDown].filter(i => !localSeen.has(i))
  t.same(missingUp, [], `out: every message culex acknowledged reached the remote subscriber (${remoteSeen.size}/${N})`)
  t.same(missingDown, [], `in: every message Mosquitto acknowledged reached the local subscriber (${localSeen.size}/${N})`)
  t.ok(culex.logs.some(l => l.bridge === 'r' && /connected/.test(String(l.msg)) && l.sessionPresent === true), 'the bridge resumed its persistent session on the restarted remote')
})

t.test('culex killed (SIGKILL) during QoS 1 traffic coming in over a bridge: nothing Mosquitto acknowledged is lost', { skip: mosquittoMissing }, async (t) => {
  const N = 400
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  const dir = tempDir(t)
  const file = join(dir, 'culex.json')
  writeFileSync(file, JSON.stringify({ bridges: [{ name: 'r', url: murl, reconnect: { initialDelay: 50, maxDelay: 500 }, topics: [{ pattern: 'down/#', direction: 'in', qos: 1, localPrefix: 'hq/' }] }] }))
  const port = await freePort()
  const args = ['--config', file, '--port', String(port), '--store', 'level', '--data-dir', join(dir, 'data')]
  let culex = await startCulex(t, args, { cwd: dir })
  const lurl = `mqtt://127.0.0.1:${port}`
  // the local subscriber keeps a persistent session in culex's LevelDB store
  const localSub = await client(t, lurl, { clientId: 'hq-sub', clean: false, properties: { sessionExpiryInterval: 3600 } })
  const localSeen = new Set<number>()
  const probed = { seen: false }
  localSub.on('message', (m) => {
    if (m.topic === 'hq/down/probe') probed.seen = true
    else if (m.topic.startsWith('hq/down/')) localSeen.add(Number(m.payload.toString()))
  })
  await localSub.subscribe('hq/down/#', { qos: 1 })
  const remotePub = await client(t, murl, { clientId: 'remote-pub2', clean: false, properties: { sessionExpiryInterval: 3600 } })
  for (let i = 0; !probed.seen; i++) {
    if (i > 100) throw new Error('the probe never came through the bridge')
    await remotePub.publish('down/probe', 'probe', { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const acked = new Set<number>()
  const traffic = (async () => {
    const inflight: Array<Promise<void>> = []
    for (let i = 0; i < N; i++) {
      inflight.push(remotePub.publish(`down/${i % 5}`, String(i), { qos: 1 }).then(() => { acked.add(i) }))
      if (inflight.length >= 20) await inflight.shift()
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    await Promise.all(inflight)
  })()
  await until(() => localSeen.size > N / 3, 20_000, 'a third of the traffic')
  culex.proc.kill('SIGKILL')
  await culex.exited
  t.comment(`culex killed after ${localSeen.size} delivered, ${acked.size} acknowledged by Mosquitto`)
  culex = await startCulex(t, args, { cwd: dir })
  await traffic
  t.equal(acked.size, N, 'Mosquitto acknowledged every publish')
  await until(() => localSeen.size === N, 30_000, 'every message').catch(() => {})
  t.same([...acked].filter(i => !localSeen.has(i)), [], `every message Mosquitto acknowledged reached the local persistent session (${localSeen.size}/${N})`)
})

t.test('in-process: a message whose local publish fails is not acknowledged to the remote, and arrives on the resend', { skip: mosquittoMissing }, async (t) => {
  const mosq = await startMosquitto(t)
  const murl = `mqtt://127.0.0.1:${mosq.port}`
  const dir = tempDir(t)
  const file = join(dir, 'culex.yaml')
  writeFileSync(file, `bridges:\n  - name: r\n    url: ${murl}\n    reconnect: { initialDelay: 50, maxDelay: 200 }\n    topics:\n      - { pattern: 'down/#', direction: in, qos: 1, localPrefix: 'hq/' }\n      - { pattern: 'up/#', direction: out, qos: 1 }\n`)
  const { server, ports, logs } = await startInProcess(t, ['--config', file], dir)
  const store = server.broker.store
  const put = store.putRetained.bind(store)
  let failures = 0
  store.putRetained = async (m) => {
    if (m.topic === 'hq/down/r' && failures++ === 0) throw new Error('disk full (injected once)')
    await put(m)
  }
  const localSub = await client(t, `mqtt://127.0.0.1:${ports.mqtt}`)
  const localGot = collect(localSub)
  await localSub.subscribe(['hq/down/#', '$SYS/broker/bridges/r/state'], { qos: 1 })
  await until(() => localGot.some(m => m.topic === '$SYS/broker/bridges/r/state' && m.payload.toString() === '1'), 10_000, 'the bridge to connect')
  const remote = await client(t, murl)
  const remoteGot = collect(remote)
  await remote.subscribe('up/#', { qos: 1 })
  for (let i = 0; !localGot.some(m => m.topic === 'hq/down/probe'); i++) {
    if (i > 100) throw new Error('the probe never came through the bridge')
    await remote.publish('down/probe', 'probe', { qos: 1 })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await remote.publish('down/r', 'kept', { qos: 1, retain: true })
  await until(() => failures >= 2, 10_000, 'the resend after the failed local publish')
  const reader = await client(t, `mqtt://127.0.0.1:${ports.mqtt}`)
  const readerGot = collect(reader)
  await reader.subscribe('hq/down/r', { qos: 1 })
  await until(() => readerGot.length > 0, 5000, 'the retained message')
  t.equal(readerGot[0]!.payload.toString(), 'kept', 'the retained message is stored after the resend')
  t.ok(logs.some(l => l.bridge === 'r' && /connected/.test(String(l.msg)) && l.sessionPresent === true), 'the bridge dropped the connection and resumed its session')

  await localSub.publish('up/x', 'out', { qos: 1 })
  await until(() => remoteGot.some(m => m.topic === 'up/x'), 5000, 'up/x at the remote')
  t.equal(remoteGot.find(m => m.topic === 'up/x')!.payload.toString(), 'out', 'out works in process too')
  await server.close()
  t.ok(logs.some(l => l.bridge === 'r' && /cannot connect|disconnected|connected/.test(String(l.msg))), 'bridge lines are logged with the bridge name')
})
