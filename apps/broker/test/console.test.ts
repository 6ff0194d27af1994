// The web console end to end in headless Debian chromium (playwright-core): log in, see a
// client connect, publish from the form and see it arrive at a real mosquitto_sub,
// disconnect a client; a screenshot is saved to .tap/console.png.
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { startCulex, tempDir, hasBinary } from './helpers/culex.ts'
import { hashPassword } from '../src/passwd.ts'

const CHROMIUM = '/usr/bin/chromium'
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not installed (Debian package chromium)`
  : !hasBinary('mosquitto_sub') ? 'mosquitto_sub not installed (Debian mosquitto-clients)' : false
const SHOT = join(dirname(fileURLToPath(import.meta.url)), '..', '.tap', 'console.png')

t.test('console: log in, watch a client, publish to mosquitto_sub, disconnect a client', { skip }, async (t) => {
  const dir = tempDir(t)
  const passwd = join(dir, 'passwd')
  const acl = join(dir, 'acl')
  writeFileSync(passwd, `admin:${hashPassword('console-pw')}\nsensor:${hashPassword('s')}\n`)
  writeFileSync(acl, 'user admin\ntopic readwrite #\ntopic read $SYS/#\ntopic write $CULEX/admin\nuser sensor\ntopic readwrite sensors/#\n')
  const culex = await startCulex(t, ['--http-port', '0', '--password-file', passwd, '--acl-file', acl, '--sys-interval', '1'])
  const http = culex.ports.http!

  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  const external: string[] = []
  page.on('request', (r) => { if (!r.url().startsWith(`http://127.0.0.1:${http}/`)) external.push(r.url()) })

  await page.goto(`http://127.0.0.1:${http}/`)
  await page.fill('#login-user', 'admin')
  await page.fill('#login-password', 'wrong')
  await page.click('#login-submit')
  await page.waitForSelector('#login-error:has-text("Wrong credentials")', { timeout: 5000 })
  t.pass('a wrong password is refused')
  await page.fill('#login-password', 'console-pw')
  await page.click('#login-submit')
  await page.waitForSelector('#overview', { timeout: 5000 })
  t.pass('logged in')

  // a client connects: it shows up in the table
  const sensor = await mqtt.connectAsync(`mqtt://127.0.0.1:${culex.ports.mqtt}`, { clientId: 'sensor-42', username: 'sensor', password: 's', reconnectPeriod: 0, protocolVersion: 5 })
  t.teardown(() => { sensor.end(true) })
  await sensor.subscribeAsync('sensors/#', { qos: 1 })
  const row = page.locator('tr[data-client-id="sensor-42"]')
  await row.waitFor({ timeout: 5000 })
  t.match(await row.innerText(), /sensor-42\s+sensor\s+127\.0\.0\.1\s+tcp\s+5\.0\s+1/)
  await row.click()
  await page.waitForSelector('#client-detail:has-text("sensors/#")', { timeout: 5000 })
  t.pass('the client detail shows its subscription')

  // publish from the form: a real mosquitto_sub receives it
  const sub = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(culex.ports.mqtt), '-u', 'admin', '-P', 'console-pw', '-t', 'console/out', '-q', '1', '-C', '1', '-W', '10', '-i', 'mosq-sub', '-v'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (sub.exitCode === null) sub.kill() })
  let out = ''
  sub.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => sub.on('exit', (code) => resolve(code)))
  await page.locator('tr[data-client-id="mosq-sub"]').waitFor({ timeout: 5000 }) // subscribed by now
  await new Promise((resolve) => setTimeout(resolve, 200))
  await page.fill('#publish-topic', 'console/out')
  await page.fill('#publish-payload', 'hello from the console')
  await page.selectOption('#publish-qos', '1')
  await page.click('#publish-submit')
  await page.waitForSelector('#publish-status:has-text("published to console/out")', { timeout: 5000 })
  t.equal(await exited, 0, 'mosquitto_sub got its message and exited')
  t.equal(out.trim(), 'console/out hello from the console')

  // the charts and $SYS fill in
  await page.waitForSelector('#sys td:has-text("$SYS/broker/uptime")', { timeout: 5000 })
  t.ok(await page.locator('#overview canvas').count() >= 2, 'two uPlot charts')

  // the screenshot shows the connected client, its detail and the charts
  mkdirSync(dirname(SHOT), { recursive: true })
  await page.screenshot({ path: SHOT, fullPage: true })
  t.ok(statSync(SHOT).size > 10_000, `screenshot saved to ${SHOT}`)

  // disconnect a client from the table
  const closed = new Promise<number | undefined>((resolve) => sensor.once('disconnect', (p) => resolve(p.reasonCode)))
  await row.locator('button.disconnect').click()
  t.equal(await closed, 0x98, 'the client got DISCONNECT 0x98')
  await page.waitForSelector('tr[data-client-id="sensor-42"]', { state: 'detached', timeout: 5000 })
  t.pass('and left the table (a clean session ends)')

  t.same(errors, [], 'no page errors')
  t.same(external, [], 'nothing fetched from anywhere else (no CDN)')
})
