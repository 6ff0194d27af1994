// The round-robin proxy against real TCP servers, and the cluster harness against real
// culex processes and a real redis-server.
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { culexMissing, freePort, isListening, redisMissing, startCulexCluster, startProxy, startRedis } from '../src/index.ts'

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

/** The PIDs of this process's living children (Linux /proc). */
const children = (): number[] => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
  try {
    // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis
    const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(ppid) === process.pid && state !== 'Z'
  } catch {
    return false
  }
}).map(Number)

/** A TCP server on 127.0.0.1:0 that answers every chunk with `<name>:<chunk>`. */
async function named (t: Test, name: string): Promise<{ port: number, server: Server, sockets: Set<Socket> }> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('data', (d) => s.write(`${name}:${d.toString()}`))
    s.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return { port: (server.address() as { port: number }).port, server, sockets }
}

/** Connect to `port`, send `msg`, resolve with the first answer. */
async function ask (port: number, msg: string): Promise<string> {
  const s = connect(port, '127.0.0.1')
  try {
    s.write(msg)
    const [d] = await once(s, 'data') as [Buffer]
    return d.toString()
  } finally {
    s.destroy()
  }
}

t.test('proxy: each new connection goes to the next backend in turn, bytes unchanged', async (t) => {
  const a = await named(t, 'a')
  const b = await named(t, 'b')
  const c = await named(t, 'c')
  const proxy = await startProxy([a.port, b.port, c.port], { teardown: t })
  t.equal(proxy.url, `mqtt://127.0.0.1:${proxy.port}`)
  t.not(proxy.port, 0, 'listens on a port the OS gave')
  const answers: string[] = []
  for (let i = 0; i < 7; i++) answers.push(await ask(proxy.port, `m${i}`))
  t.same(answers, ['a:m0', 'b:m1', 'c:m2', 'a:m3', 'b:m4', 'c:m5', 'a:m6'])
  t.same(proxy.routed, [a.port, b.port, c.port, a.port, b.port, c.port, a.port])
  t.equal(proxy.next, 1, 'the next one goes to b')
  proxy.next = 2
  t.equal(await ask(proxy.port, 'x'), 'c:x', 'next can be set')
  proxy.backends = [b.port]
  t.same(proxy.backends, [b.port])
  t.equal(await ask(proxy.port, 'y'), 'b:y', 'backends can be replaced')
  const big = 'z'.repeat(200_000)
  const s = connect(proxy.port, '127.0.0.1')
  let got = ''
  s.on('data', (d) => { got += d.toString() })
  s.write(big)
  for (const end = Date.now() + 5000; got.length < big.length + 2 && Date.now() < end;) await new Promise((resolve) => setTimeout(resolve, 10))
  s.destroy()
  t.equal(got.replaceAll('b:', ''), big, '200 kB pass through unchanged')
})

t.test('proxy: dropAll cuts every connection on both sides and keeps listening; close stops it', async (t) => {
  const a = await named(t, 'a')
  const proxy = await startProxy([a.port], { teardown: t })
  const clients = await Promise.all([0, 1, 2].map(async () => {
    const s = connect(proxy.port, '127.0.0.1')
    s.on('error', () => {})
    await once(s, 'connect')
    s.write('hi')
    await once(s, 'data')
    return s
  }))
  t.equal(proxy.open, 3)
  t.equal(a.sockets.size, 3, 'three upstream connections')
  const closed = clients.map(async (s) => { await once(s, 'close') })
  t.equal(proxy.dropAll(), 3, 'three cut')
  await Promise.all(closed)
  for (let i = 0; i < 100 && a.sockets.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(a.sockets.size, 0, 'the backend side is closed too')
  t.equal(proxy.open, 0)
  t.equal(await ask(proxy.port, 'again'), 'a:again', 'still listening')
  const held = connect(proxy.port, '127.0.0.1')
  held.on('error', () => {})
  await once(held, 'connect')
  for (let i = 0; i < 100 && proxy.open === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  const heldClosed = once(held, 'close')
  await Promise.all([proxy.close(), proxy.close()])
  await heldClosed
  t.equal(await isListening(proxy.port), false, 'no longer listening after close')
})

t.test('proxy: a backend that refuses closes the client connection; the next one is tried on the next connection', async (t) => {
  const dead = await freePort()
  const b = await named(t, 'b')
  const proxy = await startProxy([dead, b.port], { teardown: t })
  const s = connect(proxy.port, '127.0.0.1')
  s.on('error', () => {})
  await once(s, 'close')
  t.equal(proxy.open, 0, 'the pair is gone')
  t.equal(await ask(proxy.port, 'q'), 'b:q')
  await t.rejects(startProxy([]), { message: 'startProxy needs at least one backend port' })
})

t.test('a test process ended by a signal (tap\'s timeout: SIGALRM; SIGTERM, SIGINT) takes the processes it started with it', async (t) => {
  const kit = fileURLToPath(new URL('../dist/index.js', import.meta.url))
  for (const signal of ['SIGALRM', 'SIGTERM', 'SIGINT'] as const) {
    const script = `const { startProcess } = await import(${JSON.stringify(kit)})
const p = await startProcess({ name: 'orphan', command: process.execPath, args: ['-e', "console.log('up'); setInterval(() => {}, 1000)"], readyLine: (l) => l === 'up' })
console.log(p.pid)
setInterval(() => {}, 1000)
process.kill(process.pid, '${signal}')`
    const { pid, exitSignal } = await new Promise<{ pid: number, exitSignal: string | null }>((resolve) => {
      const c = execFile(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 }, (_err, stdout) => {
        resolve({ pid: Number(stdout.trim()), exitSignal: c.signalCode })
      })
    })
    t.ok(Number.isInteger(pid) && pid > 0, `${signal}: the child started ${pid}`)
    t.equal(exitSignal, signal, `${signal}: the test process was ended by it, as without the kit`)
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    t.equal(alive(pid), false, `${signal}: the child did not outlive it`)
  }
})

// an MQTT 3.1.1 CONNECT (clean session, keepalive 60, client id "h<i>") and its CONNACK
const connectPacket = (id: string): Buffer => Buffer.concat([Buffer.from([0x10, 12 + id.length, 0, 4]), Buffer.from('MQTT'), Buffer.from([4, 2, 0, 60, 0, id.length]), Buffer.from(id)])
async function connack (port: number, id: string): Promise<Buffer> {
  const s = connect(port, '127.0.0.1')
  try {
    s.write(connectPacket(id))
    const [d] = await once(s, 'data') as [Buffer]
    return d
  } finally {
    s.destroy()
  }
}

t.test('cluster: three culex --cluster nodes on one redis-server behind the proxy, all stopped by PID', { skip: culexMissing() || redisMissing(), timeout: 60_000 }, async (t) => {
  const pids: number[] = []
  await t.test('started', async (t) => {
    const cl = await startCulexCluster(t)
    t.equal(cl.nodes.length, 3)
    t.same(cl.ids, ['node-1', 'node-2', 'node-3'])
    t.equal(cl.store, cl.redis!.url)
    t.same(cl.proxy.backends, cl.nodes.map((n) => n.port), 'the proxy fronts every node, in order')
    for (let i = 0; i < 3; i++) {
      t.equal(cl.url(i), `mqtt://127.0.0.1:${cl.nodes[i]!.port}`)
      t.match(cl.nodes[i]!.log(), new RegExp(`node-${i + 1}`), `node ${i + 1} runs with its id`)
    }
    for (let i = 0; i < 3; i++) t.same([...await connack(cl.proxy.port, `h${i}`)], [0x20, 2, 0, 0], `connection ${i} through the proxy accepted`)
    t.same(cl.proxy.routed, cl.nodes.map((n) => n.port), 'one connection to each node')
    pids.push(...cl.nodes.map((n) => n.pid), cl.redis!.pid)
    t.equal(pids.every(alive), true, 'all running')
  })
  t.equal(pids.length, 4)
  t.same(pids.filter(alive), [], 'no process left after teardown')

  const before = children()
  await t.test('a node that cannot start: the start rejects', async (t) => {
    await t.rejects(startCulexCluster(t, { nodeArgs: (i) => i === 1 ? ['--no-such-option'] : [] }), { message: /exited \(2\) before it was ready/ })
    t.ok(children().length > before.length, 'redis-server and node 1 still run until the teardown')
  })
  t.same(children(), before, 'after its teardown: the redis-server and the node started before the failure are gone')

  await t.test('stop() ends everything now, twice is fine; a shared store is not stopped', async (t) => {
    const redis = await startRedis([], { teardown: t })
    const cl = await startCulexCluster(t, { nodes: 1, store: redis.url, args: ['--sys-interval', '0'], nodeArgs: (i) => ['--max-connections', String(10 + i)] })
    t.equal(cl.redis, undefined)
    t.equal(cl.store, redis.url)
    const pid = cl.nodes[0]!.pid
    await Promise.all([cl.stop(), cl.stop()])
    t.equal(alive(pid), false, 'the node is gone')
    t.equal(alive(redis.pid), true, 'the given redis-server is still running')
    await t.rejects(startCulexCluster(t, { nodes: 0 }), { message: /nodes must be a positive integer, got 0/ })
  })
})
