/**
 * Keeps the README honest: its first example runs against a real Mosquitto, and its errors
 * table lists exactly the codes in src/errors.ts.
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { checkErrorTable } from '@culex/errors/readme-table'
import { ClientError, ClientErrorCodes, connect } from '../src/index.ts'
import { mosquittoMissing, startMosquitto } from './helpers/mosquitto.ts'

const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../README.md'), 'utf8')

t.test('the errors table lists every ClientErrorCodes entry and nothing else', async (t) => {
  checkErrorTable(t, readme, ClientError.registry)
  t.same(Object.keys(ClientError.registry), Object.keys(ClientErrorCodes), 'the registry is ClientErrorCodes')
})

t.test('the README example runs (against Mosquitto instead of localhost:1883)', { skip: mosquittoMissing() }, async (t) => {
  const m = await startMosquitto(t)
  const example = /```ts\n([\s\S]*?)```/.exec(readme)![1]!
  t.match(example, /connect\('mqtt:\/\/localhost:1883'\)/)
  const logs: string[] = []
  const body = example
    .replace("import { connect } from '@culex/client'\n", '')
    .replace('mqtt://localhost:1883', `mqtt://127.0.0.1:${m.ports.tcp}`)
    .replaceAll('console.log(', 'log(')
  // eslint-disable-next-line no-new-func -- runs the README example text as written
  const run = new Function('connect', 'log', `return (async () => {\n${body}\n})()`) as (c: typeof connect, l: (...a: unknown[]) => void) => Promise<void>
  await run(connect, (...a) => logs.push(a.join(' ')))
  t.same(logs, ['mqtt/demo hello'])
})
