/**
 * RoomWaiters: acknowledgements held for a full queue, released group by group as their
 * messages come within the bound.
 */
import t from 'tap'
import { RoomWaiters } from '../src/room.ts'

t.test('messages share a promise in groups of 16; a group goes once its last message is within the bound', async (t) => {
  const r = new RoomWaiters()
  const got: number[] = []
  // messages 11..50 queued beyond a bound of 10 (enqueue counts 11..50)
  const ps: Array<Promise<void>> = []
  for (let enq = 11; enq <= 50; enq++) ps.push(r.wait(enq))
  t.equal(ps[0], ps[15], 'the first 16 share one promise')
  t.not(ps[15], ps[16], 'the 17th starts the next group')
  t.equal(r.size, 3, 'three groups: 16 + 16 + 8')
  ps.forEach((p, i) => { p.then(() => { got.push(i + 11) }, () => {}) })
  // 50 queued, 50 enqueued so far: message 26 (last of group 1) is 36th in the queue
  r.release(50, 50, 10)
  await Promise.resolve()
  t.same(got, [], 'none within the bound yet')
  // 16 sent: 34 queued; message 26 is now 10th
  r.release(34, 50, 10)
  await new Promise((resolve) => setImmediate(resolve))
  t.same(got, Array.from({ length: 16 }, (_v, i) => i + 11), 'the first group, in order')
  t.equal(r.size, 2)
  // everything sent but the last 10: both remaining groups at once, and the list is reset
  r.release(10, 50, 10)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(got.length, 40, 'all released')
  t.equal(r.size, 0, 'nothing waits')
  const again = r.wait(51)
  t.equal(r.size, 1, 'a new group after a full release')
  r.releaseAll()
  await again
  t.equal(r.size, 0, 'releaseAll empties it')
})
