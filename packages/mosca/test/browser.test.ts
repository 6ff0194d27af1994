/**
 * A page in headless Debian Chromium loads the bundle a Mosca `http: { bundle: true,
 * static }` listener serves, connects over WebSocket to the same port, and exchanges a
 * message with an MQTT.js client on the TCP listener.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { connect, startServer } from './helpers/index.ts'

const CHROMIUM = '/usr/bin/chromium'

const PAGE = `<!doctype html><meta charset="utf-8"><title>mosca page</title>
<script type="module">
import { connect } from '/culex-client.js'
try {
  const client = await connect('ws://' + location.host + '/', { clientId: 'mosca-page' })
  const sub = await client.subscribe('page/in', { qos: 1 })
  await client.publish('node/in', 'hello from the page', { qos: 1 })
  let got
  for await (const m of sub) {
    got = m.topic + '=' + m.payload.toString()
    break
  }
  await client.end()
  window.__result = { got }
} catch (err) {
  window.__result = { error: String(err && err.stack || err) }
}
</script>`

t.test('the served bundle exchanges a message in headless Chromium', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium)`
}, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'culex-mosca-page-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'index.html'), PAGE)
  const server = await startServer(t, { port: 0, host: '127.0.0.1', http: { port: 0, bundle: true, static: dir } })
  const { mqtt: tcp, http } = server.ports

  const node = await connect(t, `mqtt://127.0.0.1:${tcp!}`, { clientId: 'mosca-node' })
  const fromPage = new Promise<string>((resolve) => {
    node.on('message', (topic, payload) => {
      resolve(`${topic}=${payload.toString()}`)
      node.publish('page/in', 'hello from node', { qos: 1 })
    })
  })
  await node.subscribeAsync('node/in', { qos: 1 })

  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  await page.goto(`http://127.0.0.1:${http!}/`)
  await page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, undefined, { timeout: 20000 })
  const result = await page.evaluate(() => (globalThis as { __result?: unknown }).__result) as Record<string, unknown>
  t.same(errors, [], 'no page errors')
  t.equal(result.error, undefined, 'no error in the page')
  t.equal(await fromPage, 'node/in=hello from the page', 'the Node client got the page message')
  t.equal(result.got, 'page/in=hello from node', 'the page got the Node client message')
})
