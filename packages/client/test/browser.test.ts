/**
 * The browser bundle in headless Chromium: the `culex` app serves a page and
 * `/culex-client.js` (this package's dist/browser.js); the page connects over WebSocket,
 * subscribes, publishes, and exchanges messages with a Node client of this package.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { connect } from '../src/index.ts'
import { culexMissing, startCulex } from './helpers/culex.ts'

const CHROMIUM = '/usr/bin/chromium'
const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), '../dist/browser.js')

const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not installed (Debian package chromium)`
  : !existsSync(BUNDLE) ? `${BUNDLE} not built (npm run build -w @culex/client)` : culexMissing()

const PAGE = `<!doctype html><meta charset="utf-8"><title>culex client</title>
<script type="module">
import { connect, isClientError } from '/culex-client.js'
try {
  const client = await connect('ws://' + location.host + '/mqtt', { protocolVersion: 5, clientId: 'browser-page' })
  console.log('connected')
  const sub = await client.subscribe('browser/+', { qos: 1 })
  console.log('subscribed')
  const echo = await client.publish('browser/self', 'from the page ✓', { qos: 1 })
  console.log('published 1')
  await client.publish('node/in', 'page says hi', { qos: 1 })
  console.log('published 2')
  const got = []
  for await (const m of sub) {
    got.push(m.topic + '=' + m.payload.toString())
    if (got.length === 2) break
  }
  const bad = await client.publish('a/+', 'x').catch((e) => isClientError(e) ? e.code : String(e))
  await client.end()
  window.__result = { granted: sub.granted, echo, got, bad }
} catch (err) {
  window.__result = { error: String(err && err.stack || err) }
}
</script>`

t.test('the served bundle subscribes and publishes over WebSocket in Chromium', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-page-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'index.html'), PAGE)
  const broker = await startCulex(t, ['--http-static', dir])
  const port = broker.ports.ws

  const node = await connect(`mqtt://127.0.0.1:${broker.ports.tcp}`)
  t.teardown(() => node.end({ force: true }))
  const fromPage = node.messages('node/in')
  await node.subscribe('node/in', { qos: 1 })
  node.on('message', (m) => {
    if (m.topic === 'node/in') node.publish('browser/node', 'node answers', { qos: 1 }).catch(() => {})
  })

  const bundle = await fetch(`http://127.0.0.1:${port}/culex-client.js`)
  t.equal(bundle.status, 200, '/culex-client.js is served')
  t.match(bundle.headers.get('content-type') ?? '', /javascript/)

  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('console', (m) => t.comment(`page console: ${m.text()}`))
  page.on('requestfailed', (r) => t.comment(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`))
  await page.goto(`http://127.0.0.1:${port}/index.html`)
  // the functions run in the page, where globalThis is window
  await page.waitForFunction(() => (globalThis as { __result?: unknown }).__result !== undefined, undefined, { timeout: 15000 })
  const result = await page.evaluate(() => (globalThis as { __result?: unknown }).__result) as Record<string, unknown>
  t.same(errors, [], 'no page errors')
  t.equal(result.error, undefined, 'no error in the page')
  t.same(result.granted, [{ topic: 'browser/+', qos: 1 }])
  t.same(result.echo, { reasonCode: 0 })
  t.same((result.got as string[]).sort(), ['browser/node=node answers', 'browser/self=from the page ✓'])
  t.equal(result.bad, 'CLIENT_ERR_INVALID_TOPIC', 'typed errors work in the bundle')
  const m = await fromPage.next()
  t.equal(m.value?.payload.toString(), 'page says hi', 'the Node client got the page message')
})
