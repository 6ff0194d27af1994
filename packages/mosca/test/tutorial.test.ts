/**
 * The settings object of a typical Mosca tutorial — MongoDB persistence with `ttl`, an
 * `http` listener with `bundle` and `static`, `stats` on — run with the stores that exist
 * here: MongoDB when MONGO_URL is set (otherwise a visible skip), LevelUp (a real LevelDB) and
 * Redis (a real redis-server, with the Redis backend too). Ports are free ones instead of
 * the tutorial's 1883 / 8080.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import mosca, { type MoscaSettings, type PersistenceSettings } from '../src/index.ts'
import { closeServer, connect, nextMessage, startRedis, startServer } from './helpers/index.ts'

const staticDir = await mkdtemp(join(tmpdir(), 'culex-mosca-static-'))
t.teardown(() => rm(staticDir, { recursive: true, force: true }))
await writeFile(join(staticDir, 'index.html'), '<!doctype html><title>mosca tutorial</title>')

function tutorialSettings (persistence: PersistenceSettings, extra: Partial<MoscaSettings> = {}): MoscaSettings {
  return {
    port: 0,
    host: '127.0.0.1',
    persistence: {
      ...persistence,
      ttl: {
        subscriptions: 60 * 60 * 1000,
        packets: 60 * 60 * 1000
      }
    },
    http: {
      port: 0,
      bundle: true,
      static: staticDir
    },
    stats: true,
    ...extra
  }
}

async function runTutorial (t: Test, settings: MoscaSettings, opts: { checkStats: boolean }): Promise<void> {
  const events: string[] = []
  const server = await startServer(t, settings)
  server.on('clientConnected', (c) => { events.push(`clientConnected:${c.id}`) })
  server.on('clientDisconnecting', (c) => { events.push(`clientDisconnecting:${c.id}`) })
  server.on('clientDisconnected', (c) => { events.push(`clientDisconnected:${c.id}`) })
  server.on('subscribed', (topic, c) => { events.push(`subscribed:${topic}:${c.id}`) })
  server.on('unsubscribed', (topic, c) => { events.push(`unsubscribed:${topic}:${c.id}`) })
  server.on('published', (p, c) => { if (!p.topic.startsWith('$SYS')) events.push(`published:${p.topic}:${c?.id ?? 'server'}`) })
  const ports = server.ports
  t.ok(ports.mqtt !== undefined && ports.http !== undefined, 'an MQTT and an HTTP listener')

  // http: static files, the bundle, and nothing outside the static directory
  const base = `http://127.0.0.1:${ports.http!}`
  const index = await fetch(`${base}/`)
  t.equal(index.status, 200)
  t.match(await index.text(), /mosca tutorial/, 'static: index.html')
  const bundle = await fetch(`${base}/culex-client.js`)
  t.equal(bundle.status, 200, 'bundle: the browser client')
  t.match(bundle.headers.get('content-type'), /javascript/)
  t.match(await bundle.text(), /export\s*\{/, 'an ES module')
  t.equal((await fetch(`${base}/%2e%2e/%2e%2e/etc/passwd`)).status, 404, 'no path outside the static directory')

  // MQTT over WebSocket on the http port, MQTT over TCP on the mqtt port
  const sub = await connect(t, `ws://127.0.0.1:${ports.http!}`, { clientId: 'tut-sub', clean: false })
  await sub.subscribeAsync('tut/#', { qos: 1 })
  const pub = await connect(t, `mqtt://127.0.0.1:${ports.mqtt!}`, { clientId: 'tut-pub' })
  const live = nextMessage(sub)
  await pub.publishAsync('tut/live', 'hello', { qos: 1 })
  t.equal((await live).payload.toString(), 'hello', 'TCP publisher → WebSocket subscriber')
  await sub.unsubscribeAsync('tut/none')
  await new Promise<void>((resolve) => { sub.end(false, {}, () => resolve()) })
  await pub.publishAsync('tut/offline', 'kept', { qos: 1 })
  const published = new Promise<void>((resolve) => {
    server.publish({ topic: 'tut/server', payload: 'from server', qos: 1 }, () => resolve())
  })
  await published

  if (opts.checkStats) {
    const stats = await connect(t, `mqtt://127.0.0.1:${ports.mqtt!}`, { clientId: 'tut-stats' })
    const sys = nextMessage(stats, (topic) => topic.startsWith('$SYS/'))
    await stats.subscribeAsync('$SYS/#')
    const m = await sys
    t.match(m.topic, /^\$SYS\/broker\//, 'stats: $SYS is published')
  }

  t.same(events.filter((e) => !e.includes('tut-stats')), [
    'clientConnected:tut-sub',
    'subscribed:tut/#:tut-sub',
    'clientConnected:tut-pub',
    'published:tut/live:tut-pub',
    'unsubscribed:tut/none:tut-sub',
    'clientDisconnecting:tut-sub',
    'clientDisconnected:tut-sub',
    'published:tut/offline:tut-pub',
    'published:tut/server:server'
  ], 'Mosca events in order')

  // restart with the same settings: the persistent session and its queue survive
  await closeServer(server)
  const again = await startServer(t, settings)
  const back = await import('mqtt').then(({ default: mqtt }) => mqtt.connect(`mqtt://127.0.0.1:${again.ports.mqtt!}`, { clientId: 'tut-sub', clean: false, reconnectPeriod: 0 }))
  t.teardown(() => { back.end(true) })
  const got: string[] = []
  const two = new Promise<void>((resolve) => {
    back.on('message', (topic, payload) => {
      got.push(`${topic}=${payload.toString()}`)
      if (got.length === 2) resolve()
    })
  })
  const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => back.once('connect', resolve))
  t.equal(connack.sessionPresent, true, 'the session survived the restart')
  await two
  t.same(got, ['tut/offline=kept', 'tut/server=from server'], 'the queued messages survived the restart')
}

t.test('the tutorial settings with persistence.Mongo', {
  skip: process.env.MONGO_URL === undefined ? 'no MongoDB server can run here: set MONGO_URL to run the tutorial with mongo persistence' : false
}, async (t) => {
  await runTutorial(t, tutorialSettings({ factory: mosca.persistence.Mongo, url: process.env.MONGO_URL! }), { checkStats: false })
})

t.test('the tutorial settings with persistence.LevelUp', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'culex-mosca-level-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await runTutorial(t, tutorialSettings({ factory: mosca.persistence.LevelUp, path: join(dir, 'db') }), { checkStats: true })
})

t.test('the tutorial settings with persistence.Redis and the Redis backend', async (t) => {
  const redis = await startRedis(t)
  await runTutorial(t, tutorialSettings(
    { factory: mosca.persistence.Redis, host: '127.0.0.1', port: redis.port },
    { id: 'mosca-test', backend: { type: 'redis', host: '127.0.0.1', port: redis.port } }
  ), { checkStats: false })
})

t.test('a Mongo backend (Ascoltatori) is refused with a clear error', async (t) => {
  t.throws(() => new mosca.Server({ port: 0, backend: { type: 'mongo', url: 'mongodb://localhost:27017/mqtt' } }), {
    code: 'MOSCA_ERR_SETTINGS',
    message: /backend\.type: "mongo" is not supported.*supported: 'redis'/
  })
  const err = await new Promise<Error | null>((resolve) => {
    const s = new mosca.Server({ port: 0, backend: { type: 'amqp' } }, (e) => resolve(e))
    t.equal(s.engine, undefined, 'nothing was started')
  })
  t.match(err, { code: 'MOSCA_ERR_SETTINGS' }, 'with a callback, the error goes to it')
})
