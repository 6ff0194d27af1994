import t from 'tap'
import { backoffDelay } from '../src/backoff.ts'
import { Emitter } from '../src/emitter.ts'
import { ClientError, ClientErrorCodes, isClientError, reasonLabel } from '../src/errors.ts'
import { MessageStream } from '../src/message-stream.ts'
import type { Message } from '../src/types.ts'

const msg = (topic: string): Message => ({ cmd: 'publish', topic, payload: Buffer.from(topic), qos: 0, dup: false, retain: false })

t.test('backoffDelay grows exponentially, caps and jitters', async (t) => {
  const o = { initialDelay: 100, maxDelay: 1000, factor: 2, jitter: 0.5 }
  t.equal(backoffDelay(0, o, () => 0), 100)
  t.equal(backoffDelay(3, o, () => 0), 800)
  t.equal(backoffDelay(10, o, () => 0), 1000)
  t.equal(backoffDelay(10, o, () => 1), 500, 'full jitter fraction removes half')
})

t.test('Emitter: on, once, off, listenerCount, isolation of throwing listeners', async (t) => {
  const e = new Emitter<{ x: [number] }>()
  const got: number[] = []
  const fn = (n: number): void => { got.push(n) }
  e.on('x', fn)
  e.once('x', (n) => got.push(n * 10))
  t.equal(e.listenerCount('x'), 2)
  e.emit('x', 1)
  e.emit('x', 2)
  t.same(got, [1, 10, 2])
  e.off('x', fn)
  t.equal(e.emit('x', 3), false)
  t.equal(e.listenerCount('x'), 0)
  e.off('x', fn)
  // a throwing listener does not stop the next one; the error is rethrown asynchronously
  const seen: number[] = []
  e.on('x', () => { throw new Error('boom') })
  e.on('x', (n) => seen.push(n))
  const caught = new Promise<Error>((resolve) => process.once('uncaughtException', resolve))
  e.emit('x', 4)
  t.same(seen, [4])
  t.equal((await caught).message, 'boom')
})

t.test('ClientError carries code, reasonCode and brand', async (t) => {
  const e = new ClientError('CLIENT_ERR_PUBLISH_FAILED', 'x', { reasonCode: 0x87, reasonString: 'no', cause: new Error('c') })
  t.equal(e.code, 'CLIENT_ERR_PUBLISH_FAILED')
  t.equal(e.reasonCode, 0x87)
  t.equal(e.reasonString, 'no')
  t.ok(e.cause)
  t.equal(e.name, 'ClientError')
  t.ok(isClientError(e))
  t.notOk(isClientError(new Error('x')))
  t.notOk(isClientError(null))
  t.ok(isClientError(Object.assign(new Error('x'), { code: 'CLIENT_ERR_AUTH', [Symbol.for('culex.error')]: 'ClientError' })), 'a ClientError of another copy')
  t.ok(e instanceof ClientError)
  t.equal(new ClientError('CLIENT_ERR_AUTH', 'x').reasonCode, undefined, 'no reason code by default')
  t.equal(reasonLabel(0x87), '0x87 (Not authorized)')
  t.equal(reasonLabel(0x7f), '0x7f')
  t.ok(Object.keys(ClientErrorCodes).every((c) => c.startsWith('CLIENT_ERR_')))
})

t.test('MessageStream buffers, matches, drops oldest past bufferSize, ends on close', async (t) => {
  let detached = 0
  const s = new MessageStream(['a/+', '$share/g/b/#'], () => { detached++ }, 2)
  t.same(s.filters, ['a/+', 'b/#'])
  t.notOk(s.offer(msg('c')))
  t.ok(s.offer(msg('a/1')))
  t.ok(s.offer(msg('b/x/y')))
  t.ok(s.offer(msg('a/2')))
  t.equal(s.dropped, 1)
  t.equal((await s.next()).value?.topic, 'b/x/y')
  t.equal((await s.next()).value?.topic, 'a/2')
  const pending = s.next()
  s.offer(msg('a/3'))
  t.equal((await pending).value?.topic, 'a/3')
  const waiting = s.next()
  s.close()
  s.close()
  t.ok((await waiting).done)
  t.ok(s.closed)
  t.equal(detached, 1)
  t.notOk(s.offer(msg('a/4')), 'closed streams take nothing')
  t.ok((await s.next()).done)
})

t.test('MessageStream works with for await and return()', async (t) => {
  const s = new MessageStream(['#'], () => {})
  for (let i = 0; i < 3000; i++) s.offer(msg('t/' + i))
  const seen: string[] = []
  for await (const m of s) {
    seen.push(m.topic)
    if (seen.length === 1000) break
  }
  t.same(seen, Array.from({ length: 1000 }, (_, i) => 't/' + (2000 + i)), 'the newest 1000 are kept, in order')
  t.ok(s.closed, 'break closes the stream')
  t.equal(s.dropped, 2000, 'default buffer keeps 1000')
})
