// Fifo: the per-connection queue. A model test against a plain array, with enough pushes to
// cross the compaction threshold, and the prepend used when a session resumes.
import t from 'tap'
import fc from 'fast-check'
import { Fifo } from '../src/fifo.ts'

t.test('behaves as an array used as a queue, across compactions', async t => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), n: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ kind: fc.constant('shift' as const), n: fc.integer({ min: 1, max: 3000 }) }),
    fc.record({ kind: fc.constant('prepend' as const), n: fc.integer({ min: 0, max: 50 }) })
  )
  let next = 0
  fc.assert(fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
    const q = new Fifo<number>()
    const model: number[] = []
    for (const o of ops) {
      if (o.kind === 'push') {
        for (let i = 0; i < o.n; i++) { q.push(next); model.push(next++) }
      } else if (o.kind === 'shift') {
        for (let i = 0; i < o.n; i++) if (q.shift() !== model.shift()) return false
      } else {
        const items = Array.from({ length: o.n }, () => next++)
        q.prepend(items)
        model.unshift(...items)
      }
      if (q.length !== model.length) return false
    }
    return JSON.stringify([...q]) === JSON.stringify(model)
  }), { numRuns: 200 })
  t.pass('200 random push/shift/prepend sequences matched the array model')
})

t.test('an empty queue shifts undefined; constructor items come first', async t => {
  const q = new Fifo<string>(['a', 'b'])
  q.push('c')
  t.same([...q], ['a', 'b', 'c'])
  t.equal(q.shift(), 'a')
  t.equal(q.shift(), 'b')
  t.equal(q.shift(), 'c')
  t.equal(q.shift(), undefined)
  t.equal(q.length, 0)
})

t.test('draining a long queue is linear, not quadratic', async t => {
  // 200,000 entries: with Array#shift this takes seconds; with Fifo, milliseconds
  const q = new Fifo<number>()
  for (let i = 0; i < 200_000; i++) q.push(i)
  const t0 = performance.now()
  let sum = 0
  for (let v = q.shift(); v !== undefined; v = q.shift()) sum += v
  const ms = performance.now() - t0
  t.equal(sum, (200_000 * 199_999) / 2, 'every entry came out once, in order of the sum')
  t.ok(ms < 1000, `drained 200,000 entries in ${ms.toFixed(1)} ms`)
})
