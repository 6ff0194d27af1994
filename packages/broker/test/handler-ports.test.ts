/**
 * Handlers depend on the ports (src/handlers/ports.ts), not on the engine's classes: what a
 * handler can reach of its connection and of the engine is declared in one place. And none
 * of it reaches the published declarations.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'

const handlers = new URL('../src/handlers/', import.meta.url)
const files = readdirSync(handlers).filter((f) => f.endsWith('.ts') && f !== 'ports.ts').sort()

// the engine's classes a handler must not be typed against (only ports.ts names what it needs)
const INTERNALS = ['engine.ts', 'router.ts', 'session-manager.ts', 'delivery-log.ts', 'wills.ts', 'local-subscribers.ts']

t.test('handlers import no engine module and name no Connection class', async (t) => {
  t.ok(files.length >= 11, `every handler module is checked (${files.join(', ')})`)
  for (const f of files) {
    const src = readFileSync(new URL(f, handlers), 'utf8')
    const imports = [...src.matchAll(/^import\s[^\n]*from\s+'([^']+)'/gm)].map((m) => m[1]!)
    const bad = imports.filter((i) => INTERNALS.some((x) => i === `../${x}`))
    t.same(bad, [], `${f} imports no engine module`)
    // connection.ts gives handlers its State constants only, never the class
    t.notMatch(src, /\btype Connection\b|\bConnection\s*[,)]/, `${f} is typed against ConnectionPort, not Connection`)
  }
})

const dts = new URL('../dist/index.d.ts', import.meta.url)
t.test('the published declarations carry no engine internals', { skip: existsSync(dts) ? false : 'not built (run the build first)' }, async (t) => {
  const text = readFileSync(dts, 'utf8')
  for (const name of ['Connection', 'Engine', 'Router', 'SessionManager', 'DeliveryLog', 'Wills', 'ConnectionPort', 'EnginePort', 'SessionsPort', 'SubscriptionsPort', 'RoomPort', 'BrokerPort']) {
    t.notMatch(text, new RegExp(`(class|interface|type) ${name}\\b`), `${name} is not declared`)
  }
})
